use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::accounts::refusal::Refusal;
use crate::control_plane::api::panel_access;
use crate::control_plane::panel::ControlPanel;
use crate::forms::PageNotice;

/// The control plane, for operators and admins: what the panel does, then the panel. The address
/// may name the panel's session and a preview of it (where a plain form post sends the browser).
#[component]
pub fn ControlPlanePage() -> impl IntoView {
    let address = use_query_map().with_untracked(|query| (query.get("session_id"), query.get("preview_id")));
    let access = Resource::new(move || address.clone(), |(session, preview)| panel_access(session, preview));
    let notice = use_context::<PageNotice>().and_then(|PageNotice(notice)| notice);

    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || {
                let notice = notice.clone();
                Suspend::new(async move {
                    match access.await {
                        Ok(start) => view! {
                            <Title text="Control plane" />
                            <div class="page-head">
                                <h1>"Control plane"</h1>
                                <p class="lede">
                                    "Type a command in plain language. You see the structured task, its risk and its lane first; "
                                    "nothing is written until you confirm. The gateway never executes anything, and every step is logged."
                                </p>
                                <p class="hint">"Prefer a phone? " <a href="/control-plane/telegram">"Link a Telegram chat"</a> " and confirm there."</p>
                            </div>
                            <ControlPanel start notice />
                        }
                        .into_any(),
                        Err(error) => view! { <Refusal error /> }.into_any(),
                    }
                })
            }}
        </Suspense>
    }
}
