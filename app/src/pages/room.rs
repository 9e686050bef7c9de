use domain::accounts::Member;
use domain::snapshot::RoomSnapshot;
use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use uuid::Uuid;

use crate::accounts::refusal::Refusal;
use crate::caller::viewer;
use crate::error::AppError;
use crate::forms::{Notice, PageNotice};
use crate::rooms::agents_panel::AgentsPanel;
use crate::rooms::api::{load_room, plain, room_members};
use crate::rooms::composer::Composer;
use crate::rooms::labels::mode_choice;
use crate::rooms::live::follow_room;
use crate::rooms::members::MembersPanel;
use crate::rooms::run_controls::RunControls;
use crate::rooms::settings::RoomSettings;
use crate::rooms::state::RoomState;
use crate::rooms::take_away::TakeAway;
use crate::rooms::timeline::Timeline;

/// One room: its timeline, the composer and the agent panel, kept live; below them its members
/// and, for owners, its settings.
#[component]
pub fn RoomPage() -> impl IntoView {
    let params = use_params_map();
    let room_id = move || params.read().get("id").and_then(|id| Uuid::parse_str(&id).ok());
    let page = Resource::new(room_id, |id| async move {
        let id = id.ok_or_else(|| AppError::not_found("room"))?;
        let snapshot = load_room(id).await?;
        // Asked only of those who may see it: a refusal would set the page's status.
        let members = if snapshot.access.list_members { room_members(id).await? } else { Vec::new() };
        Ok::<_, AppError>((snapshot, members))
    });
    let me = viewer().map(|me| me.id);
    // What a plain post of one of the live room's forms was refused, if that is how we got here.
    let notice = use_context::<PageNotice>().and_then(|PageNotice(notice)| notice);

    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading the room…"</p> }>
            {move || {
                let notice = notice.clone();
                Suspend::new(async move {
                match page.await {
                    Ok((snapshot, members)) => Either::Left(view! {
                        <Title text=snapshot.room.name.clone() />
                        <RoomView snapshot=snapshot.clone() notice />
                        <TakeAway room_id=snapshot.room.id agents=snapshot.agents.clone() manage=snapshot.access.manage />
                        <RoomPeople snapshot members me />
                    }),
                    Err(error) => Either::Right(view! { <RoomUnavailable error /> }),
                }
                })
            }}
        </Suspense>
    }
}

/// The live room: everything on it is interactive, so it is one island, started from the
/// snapshot the server rendered. Its forms are plain forms until it hydrates; `notice` is what
/// the last one posted that way was refused.
#[island]
fn RoomView(snapshot: RoomSnapshot, notice: Option<Notice>) -> impl IntoView {
    let state = RoomState::from_snapshot(snapshot);
    let refusal = |form: &str| notice.as_ref().filter(|n| n.form == form).and_then(|n| n.error.clone());
    let (composer_refusal, run_refusal) = (refusal(plain::form::COMPOSER), refusal(plain::form::RUN));
    follow_room(state);
    let name = move || state.room.with(|r| r.name.clone());
    let visibility = move || state.room.with(|r| r.visibility.as_str());
    let mode = move || state.room.with(|r| r.mode);
    let role = move || state.access.with(|a| a.role.map(|role| format!("you: {role}")));
    let connection = move || state.connection.get();

    view! {
        <div class="room">
            <header class="room-header">
                <div>
                    <p class="breadcrumb"><a href="/rooms">"Rooms"</a> " / "</p>
                    <h1>{name}</h1>
                    <p class="room-facts">
                        <span class=move || format!("badge visibility visibility--{}", visibility())>{visibility}</span>
                        " "
                        <span
                            class=move || format!("badge mode mode--{}", mode().as_str())
                            title=move || mode_choice(mode())
                            aria-label=move || format!("Mode: {}", mode_choice(mode()))
                        >
                            {move || mode().as_str()}
                        </span>
                        {move || role().map(|role| view! { " " <span class="badge">{role}</span> })}
                    </p>
                </div>
                <span
                    class=move || format!("connection connection--{}", connection().css())
                    role="status"
                    aria-label="Connection"
                >
                    {move || connection().label()}
                </span>
            </header>
            <RunControls state refusal=run_refusal />
            <div class="room-body">
                <section class="conversation" aria-label="Conversation">
                    <Timeline state notice=notice.clone() />
                    <Composer state refusal=composer_refusal />
                </section>
                <AgentsPanel state notice />
            </div>
        </div>
    }
}

/// Who is in the room and, for its owners, its settings: server-rendered plain forms, since
/// changing them is rare and the page may simply come back.
#[component]
fn RoomPeople(snapshot: RoomSnapshot, members: Vec<Member>, me: Option<Uuid>) -> impl IntoView {
    let access = snapshot.access;
    let room_id = snapshot.room.id;
    view! {
        <div class="room-people">
            {access.list_members.then(|| view! { <MembersPanel room_id members manage=access.manage me /> })}
            {access.manage.then(|| view! { <RoomSettings room=snapshot.room /> })}
        </div>
    }
}

#[component]
fn RoomUnavailable(error: AppError) -> impl IntoView {
    if error.code != domain::ErrorCode::NotFound {
        return view! { <Refusal error /> }.into_any();
    }
    view! {
        <Title text="Room not found" />
        <section class="not-found">
            <h1>"Room not found"</h1>
            <p>{error.message}</p>
            <p><A href="/rooms">"Back to the rooms"</A></p>
        </section>
    }
    .into_any()
}
