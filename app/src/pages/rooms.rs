use domain::rooms::{limits, RoomSummary, RoomVisibility};
use domain::ErrorCode;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;

use crate::accounts::next::sign_in_url;
use crate::accounts::refusal::Refusal;
use crate::caller::viewer;
use crate::error::AppError;
use crate::forms::error_for;
use crate::rooms::api::{form, list_rooms, CreateRoom};
use crate::rooms::labels::visibility_choice;

/// The rooms one may see, newest first, and the form that creates one. A guest who may see
/// none is sent to sign in.
#[component]
pub fn RoomsPage() -> impl IntoView {
    let signed_in = viewer().is_some();
    let rooms = Resource::new(|| (), |_| list_rooms());

    view! {
        <Title text="Rooms" />
        <Suspense fallback=|| view! { <p class="loading">"Loading rooms…"</p> }>
            {move || Suspend::new(async move {
                match rooms.await {
                    Ok(list) if signed_in => view! {
                        <RoomsHead />
                        <CreateRoomForm error=error_for(form::CREATE_ROOM) />
                        <RoomList list />
                    }
                    .into_any(),
                    // Without an account there is nothing here to see or do.
                    Ok(list) if list.is_empty() => {
                        view! { <Refusal error=AppError::new(ErrorCode::Unauthenticated, "Sign in first.") /> }.into_any()
                    }
                    Ok(list) => view! {
                        <RoomsHead />
                        <p class="hint">
                            "These rooms are open to guests. " <a href=sign_in_url("/rooms")>"Sign in"</a>
                            " to create rooms of your own."
                        </p>
                        <RoomList list />
                    }
                    .into_any(),
                    Err(error) => view! { <Refusal error /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn RoomsHead() -> impl IntoView {
    view! {
        <div class="page-head">
            <h1>"Rooms"</h1>
            <p class="lede">"Each room holds its own agents and conversation. Everything is kept."</p>
        </div>
    }
}

#[component]
fn RoomList(list: Vec<RoomSummary>) -> impl IntoView {
    if list.is_empty() {
        return view! { <p class="empty">"No rooms yet. Create the first one above."</p> }.into_any();
    }
    view! {
        <ul class="room-list">
            {list
                .into_iter()
                .map(|room| {
                    let visibility = room.visibility.as_str();
                    view! {
                        <li data-visibility=visibility>
                            <a href=format!("/rooms/{}", room.id)>{room.name}</a>
                            <span class=format!("badge visibility visibility--{visibility}") title=visibility_choice(room.visibility)>
                                {visibility}
                            </span>
                            <span class="badge">{room.mode.as_str()}</span>
                            <time datetime=room.created_at.to_rfc3339()>{crate::time::date_time(&room.created_at)}</time>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
    .into_any()
}

/// Creates a room, private unless chosen otherwise: a plain form, so it needs no script. The
/// server sends the browser into the new room, or back here with the refusal shown below.
#[component]
fn CreateRoomForm(error: Option<String>) -> impl IntoView {
    view! {
        <form method="post" action=CreateRoom::url() class="create-room">
            <div class="field">
                <label for="room-name">"Room name"</label>
                <input id="room-name" name="name" required maxlength=limits::NAME_MAX_CHARS placeholder="e.g. Product strategy" />
            </div>
            <div class="field">
                <label for="room-visibility">"Visibility"</label>
                <select id="room-visibility" name="visibility">
                    {RoomVisibility::ALL
                        .iter()
                        .map(|v| view! { <option value=v.as_str() selected=*v == RoomVisibility::Private>{visibility_choice(*v)}</option> })
                        .collect_view()}
                </select>
            </div>
            <button type="submit" class="primary">
                "Create room"
            </button>
        </form>
        {error.map(|e| view! { <p class="error-banner" role="alert">{e}</p> })}
    }
}
