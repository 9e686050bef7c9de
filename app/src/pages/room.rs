use domain::snapshot::RoomSnapshot;
use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use uuid::Uuid;

use crate::error::AppError;
use crate::rooms::agents_panel::AgentsPanel;
use crate::rooms::api::load_room;
use crate::rooms::composer::Composer;
use crate::rooms::live::follow_room;
use crate::rooms::run_controls::RunControls;
use crate::rooms::state::RoomState;
use crate::rooms::timeline::Timeline;

/// One room: its timeline, the composer and the agent panel, kept live.
#[component]
pub fn RoomPage() -> impl IntoView {
    let params = use_params_map();
    let room_id = move || params.read().get("id").and_then(|id| Uuid::parse_str(&id).ok());
    let snapshot = Resource::new(room_id, |id| async move {
        match id {
            Some(id) => load_room(id).await,
            None => Err(AppError::not_found("room")),
        }
    });

    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading the room…"</p> }>
            {move || Suspend::new(async move {
                match snapshot.await {
                    Ok(snapshot) => Either::Left(view! {
                        <Title text=snapshot.room.name.clone() />
                        <RoomView snapshot />
                    }),
                    Err(error) => Either::Right(view! { <RoomUnavailable error /> }),
                }
            })}
        </Suspense>
    }
}

/// The live room: everything on it is interactive, so it is one island, started from the
/// snapshot the server rendered.
#[island]
fn RoomView(snapshot: RoomSnapshot) -> impl IntoView {
    let state = RoomState::from_snapshot(snapshot);
    follow_room(state);
    let name = move || state.room.with(|r| r.name.clone());
    let connection = move || state.connection.get();

    view! {
        <div class="room">
            <header class="room-header">
                <div>
                    <p class="breadcrumb"><a href="/rooms">"Rooms"</a> " / "</p>
                    <h1>{name}</h1>
                </div>
                <span
                    class=move || format!("connection connection--{}", connection().css())
                    role="status"
                    aria-label="Connection"
                >
                    {move || connection().label()}
                </span>
            </header>
            <RunControls state />
            <div class="room-body">
                <section class="conversation" aria-label="Conversation">
                    <Timeline state />
                    <Composer state />
                </section>
                <AgentsPanel state />
            </div>
        </div>
    }
}

#[component]
fn RoomUnavailable(error: AppError) -> impl IntoView {
    let missing = error.code == domain::ErrorCode::NotFound;
    view! {
        <Title text=if missing { "Room not found" } else { "Room unavailable" } />
        <section class="not-found">
            <h1>{if missing { "Room not found" } else { "This room cannot be shown right now" }}</h1>
            <p>{error.message}</p>
            <p><A href="/rooms">"Back to the rooms"</A></p>
        </section>
    }
}
