use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use uuid::Uuid;

use crate::accounts::refusal::Refusal;
use crate::error::AppError;
use crate::runs::{load_run, RunReport};

/// One auto run of a room: its meters against its limits and the timeline of its turns, kept
/// current while it goes on.
#[component]
pub fn RunPage() -> impl IntoView {
    let params = use_params_map();
    let ids = move || {
        params.with(|p| {
            let id = |key: &str| p.get(key).and_then(|id| Uuid::parse_str(&id).ok());
            id("id").zip(id("run_id"))
        })
    };
    let page = Resource::new(ids, |ids| async move {
        let (room_id, run_id) = ids.ok_or_else(|| AppError::not_found("run"))?;
        Ok::<_, AppError>((room_id, run_id, load_run(room_id, run_id).await?))
    });
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading the run…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok((room_id, run_id, view)) => Either::Left(view! {
                        <Title text=format!("Run · {}", view.room_name) />
                        <div class="page-head">
                            <p class="breadcrumb">
                                <a href=format!("/rooms/{room_id}")>{format!("← {}", view.room_name)}</a>
                            </p>
                            <h1>"Auto run"</h1>
                            <p class="lede">
                                "Who spoke when, how long each turn waited for its first token and took in all, "
                                "and the run's meters against its limits."
                            </p>
                        </div>
                        <RunReport room_id run_id running=view.running html=view.html />
                    }),
                    Err(error) => Either::Right(view! { <Refusal error /> }),
                }
            })}
        </Suspense>
    }
}
