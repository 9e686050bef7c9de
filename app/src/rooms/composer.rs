//! Writing to the room: Enter sends, Shift+Enter starts a new line.

use domain::events::RoomEvent;
use domain::rooms::limits;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::api::send_message;
use super::state::RoomState;

#[component]
pub fn Composer(state: RoomState) -> impl IntoView {
    let text = RwSignal::new(String::new());
    let sending = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);

    let send = move || {
        let content = text.get_untracked();
        if content.trim().is_empty() || sending.get_untracked() {
            return;
        }
        sending.set(true);
        spawn_local(async move {
            match send_message(state.room_id, content).await {
                Ok(message) => {
                    state.apply(RoomEvent::MessageNew(message));
                    text.set(String::new());
                    error.set(None);
                }
                Err(e) => error.set(Some(e.message)),
            }
            sending.set(false);
        });
    };

    view! {
        <form
            class="composer"
            on:submit=move |ev| {
                ev.prevent_default();
                send();
            }
        >
            <label for="composer-input" class="visually-hidden">"Message"</label>
            <textarea
                id="composer-input"
                name="content"
                rows="3"
                maxlength=limits::CONTENT_MAX_CHARS
                placeholder="Write a message. Enter sends, Shift+Enter adds a line; @Name picks who answers."
                prop:value=move || text.get()
                on:input:target=move |ev| text.set(ev.target().value())
                on:keydown=move |ev| {
                    if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
                        ev.prevent_default();
                        send();
                    }
                }
            ></textarea>
            <button type="submit" class="primary" disabled=move || sending.get() || text.with(|t| t.trim().is_empty())>
                "Send"
            </button>
            {move || error.get().map(|e| view! { <p class="error-banner" role="alert">{e}</p> })}
        </form>
    }
}
