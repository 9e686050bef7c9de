use domain::rooms::{limits, RoomVisibility};
use domain::ErrorCode;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::accounts::next::sign_in_url;
use crate::accounts::refusal::Refusal;
use crate::caller::viewer;
use crate::error::AppError;
use crate::forms::error_for;
use crate::rooms::api::{form, list_rooms, CreateRoom, RoomList as RoomListPage};
use crate::rooms::labels::visibility_choice;

/// The rooms one may see, newest first, and the form that creates one. A guest who may see
/// none is sent to sign in.
#[component]
pub fn RoomsPage() -> impl IntoView {
    let signed_in = viewer().is_some();
    let address = use_query_map().with_untracked(|query| {
        (query.get("q").filter(|q| !q.trim().is_empty()), query.get("page").and_then(|p| p.parse::<i64>().ok()))
    });
    let rooms = Resource::new(move || address.clone(), |(q, page)| list_rooms(q, page));

    view! {
        <Title text="Rooms" />
        <Suspense fallback=|| view! { <p class="loading">"Loading rooms…"</p> }>
            {move || Suspend::new(async move {
                match rooms.await {
                    Ok(list) if signed_in => view! {
                        <RoomsHead />
                        <CreateRoomForm error=error_for(form::CREATE_ROOM) />
                        <RoomSearchForm query=list_query() />
                        <RoomList list />
                    }
                    .into_any(),
                    // Without an account there is nothing here to see or do.
                    Ok(list) if list.total == 0 && list_query().is_none() => {
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
fn RoomList(list: RoomListPage) -> impl IntoView {
    if list.rooms.is_empty() {
        let empty = if list_query().is_some() {
            "No room's name matches that."
        } else {
            "No rooms yet. Create the first one above."
        };
        return view! { <p class="empty">{empty}</p> }.into_any();
    }
    let pages = list.total.div_ceil(list.per_page.max(1) as usize).max(1) as i64;
    let link = move |page: i64| match list_query() {
        Some(q) => format!("/rooms?q={}&page={page}", percent_encode(&q)),
        None => format!("/rooms?page={page}"),
    };
    let (page, total) = (list.page, list.total);
    view! {
        <ul class="room-list">
            {list
                .rooms
                .into_iter()
                .map(|room| {
                    let visibility = room.visibility.as_str();
                    let last = room.last_activity_at.unwrap_or(room.created_at);
                    view! {
                        <li data-visibility=visibility>
                            <a href=format!("/rooms/{}", room.id)>{room.name}</a>
                            <span class=format!("badge visibility visibility--{visibility}") title=visibility_choice(room.visibility)>
                                {visibility}
                            </span>
                            <span class="badge">{room.mode.as_str()}</span>
                            <span class="message-count">
                                {match room.message_count.unwrap_or(0) {
                                    1 => "1 message".to_owned(),
                                    n => format!("{n} messages"),
                                }}
                            </span>
                            <time datetime=last.to_rfc3339() title="Last activity">{crate::time::date_time(&last)}</time>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
        <nav class="pager" aria-label="Pages of rooms">
            <span>{format!("Page {page} of {pages} · {total} rooms")}</span>
            {(page > 1).then(|| view! { <a href=link(page - 1) rel="prev">"Newer"</a> })}
            {(page < pages).then(|| view! { <a href=link(page + 1) rel="next">"Older"</a> })}
        </nav>
    }
    .into_any()
}

/// The search asked for in the address, if any.
fn list_query() -> Option<String> {
    use_query_map().with_untracked(|query| query.get("q")).filter(|q| !q.trim().is_empty())
}

fn percent_encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Finds rooms by a part of their name: a plain form, as the address carries the search.
#[component]
fn RoomSearchForm(query: Option<String>) -> impl IntoView {
    view! {
        <form class="room-search" method="get" action="/rooms" role="search">
            <label for="room-search">"Find a room"</label>
            <input id="room-search" type="search" name="q" value=query maxlength=limits::NAME_MAX_CHARS placeholder="Part of its name" />
            <button type="submit">"Search"</button>
        </form>
    }
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
