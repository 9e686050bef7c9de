use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::Title;

use crate::rooms::api::{list_rooms, CreateRoom};

/// The list of rooms, newest first, and the form that creates one.
#[component]
pub fn RoomsPage() -> impl IntoView {
    let rooms = Resource::new(|| (), |_| list_rooms());

    view! {
        <Title text="Rooms" />
        <div class="page-head">
            <h1>"Rooms"</h1>
            <p class="lede">"Each room holds its own agents and conversation. Everything is kept."</p>
        </div>
        <CreateRoomForm />
            <div class="field">
                <label for="room-name">"Room name"</label>
                <input id="room-name" name="name" required maxlength="100" placeholder="e.g. Product strategy" />
            </div>
        <Suspense fallback=|| view! { <p class="loading">"Loading rooms…"</p> }>
            {move || Suspend::new(async move {
                match rooms.await {
                    Ok(list) if list.is_empty() => Either::Left(Either::Left(view! {
                        <p class="empty">"No rooms yet. Create the first one above."</p>
                    })),
                    Ok(list) => Either::Left(Either::Right(view! {
                        <ul class="room-list">
                            {list
                                .into_iter()
                                .map(|room| {
                                    view! {
                                        <li>
                                            <a href=format!("/rooms/{}", room.id)>{room.name}</a>
                                            <span class="badge">{room.mode.as_str()}</span>
                                            <time datetime=room.created_at.to_rfc3339()>
                                                {crate::time::date_time(&room.created_at)}
                                            </time>
                                        </li>
                                    }
                                })
                                .collect_view()}
                        </ul>
                    })),
                    Err(error) => Either::Right(view! { <p class="error-banner" role="alert">{error.message}</p> }),
                }
            })}
        </Suspense>
    }
}

/// Creates a room. Without JavaScript the form posts and the page comes back with the new room
/// listed; with it, the browser goes straight into the new room.
#[island]
fn CreateRoomForm() -> impl IntoView {
    let create = ServerAction::<CreateRoom>::new();
    Effect::new(move |_| {
        if let Some(Ok(room)) = create.value().get() {
            let _ = window().location().set_href(&format!("/rooms/{}", room.id));
        }
    });
    let create_error = move || create.value().get().and_then(Result::err).map(|e| e.message);

    view! {
        <ActionForm action=create attr:class="create-room">
            <div class="field">
                <label for="room-name">"Room name"</label>
                <input id="room-name" name="name" required maxlength="100" placeholder="e.g. Product strategy" />
            </div>
            <button type="submit" class="primary" disabled=move || create.pending().get()>
                "Create room"
            </button>
        </ActionForm>
        {move || create_error().map(|e| view! { <p class="error-banner" role="alert">{e}</p> })}
    }
}
