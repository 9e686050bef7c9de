//! Writing to the room: Enter sends, Shift+Enter starts a new line. Those who may only read
//! see it disabled, with the reason. Before the island hydrates it is a plain form that posts
//! and comes back to the room; once hydrated it sends in place, starting from what was typed.

use domain::events::RoomEvent;
use domain::rooms::limits;
use leptos::prelude::*;
use leptos::task::spawn_local;

use leptos::server_fn::ServerFn;

use super::api::plain::PostMessageForm;
use super::api::send_message;
use super::state::RoomState;
use crate::accounts::next::sign_in_url;
use crate::forms::{hydrated, typed_value};

/// The reader's newest message that is still theirs to edit.
fn last_own_message(state: RoomState) -> Option<uuid::Uuid> {
    let me = state.access.with_untracked(|access| access.user_id)?;
    state.messages.with_untracked(|list| {
        list.iter().rev().map(|entry| entry.message).find_map(|message| {
            message.with_untracked(|m| {
                (m.sender_type == domain::rooms::SenderType::Human && m.sender_id == Some(me) && m.deleted_at.is_none())
                    .then_some(m.id)
            })
        })
    })
}

/// Escape stops the room's run, when one is going and the reader may stop it, or else the reply
/// an agent is writing.
fn stop_agents(state: RoomState) {
    let running =
        state.run.with_untracked(|run| run.as_ref().is_some_and(|run| run.status == domain::runs::RunStatus::Running));
    let (may_run, may_post) = state.access.with_untracked(|access| (access.run, access.post));
    // Final statuses arrive on the live stream, as for the Stop buttons.
    if running && may_run {
        spawn_local(async move {
            let _ = super::api::stop_auto(state.room_id).await;
        });
    } else if !running && may_post && is_writing(state) {
        spawn_local(async move {
            let _ = super::api::stop_replies(state.room_id).await;
        });
    }
}

/// Whether an agent is writing a reply in the room.
fn is_writing(state: RoomState) -> bool {
    state.messages.with_untracked(|list| {
        list.iter().rev().take(10).any(|entry| {
            entry.message.with_untracked(|m| {
                m.sender_type == domain::rooms::SenderType::Agent && m.status == domain::rooms::MessageStatus::Streaming
            })
        })
    })
}

/// `refusal` is what a plain post of this form was answered, shown until the next send.
#[component]
pub fn Composer(state: RoomState, refusal: Option<String>) -> impl IntoView {
    let text = RwSignal::new(typed_value("composer-input").unwrap_or_default());
    let sending = RwSignal::new(false);
    let error = RwSignal::new(refusal);
    let hydrated = hydrated();

    let may_post = move || state.access.with(|access| access.post);
    let signed_in = move || state.access.with(|access| access.signed_in);
    let send = move || {
        let content = text.get_untracked();
        if content.trim().is_empty() || sending.get_untracked() || !may_post() {
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
            method="post"
            action=PostMessageForm::url()
            on:submit=move |ev| {
                ev.prevent_default();
                send();
            }
        >
            <input type="hidden" name="room_id" value=state.room_id.to_string() />
            <label for="composer-input" class="visually-hidden">"Message"</label>
            <textarea
                id="composer-input"
                name="content"
                rows="3"
                required
                disabled=move || !may_post()
                aria-describedby=move || (!may_post()).then_some("composer-reason")
                maxlength=limits::CONTENT_MAX_CHARS
                placeholder="Write a message. Enter sends, Shift+Enter adds a line, ↑ edits your last one, Escape stops a reply or a run; @Name picks who answers."
                prop:value=move || text.get()
                on:input:target=move |ev| text.set(ev.target().value())
                on:keydown=move |ev| {
                    if ev.is_composing() {
                        return;
                    }
                    match ev.key().as_str() {
                        "Enter" if !ev.shift_key() => {
                            ev.prevent_default();
                            send();
                        }
                        // In an empty box, ↑ edits one's last message, as in other chat tools.
                        "ArrowUp" if text.with_untracked(String::is_empty) => {
                            if let Some(id) = last_own_message(state) {
                                ev.prevent_default();
                                super::message_actions::start_editing(state, id);
                            }
                        }
                        "Escape" => stop_agents(state),
                        _ => {}
                    }
                }
            ></textarea>
            // Before hydration only the browser's own check of `required` applies.
            <button
                type="submit"
                class="primary"
                disabled=move || !may_post() || (hydrated.get() && (sending.get() || text.with(|t| t.trim().is_empty())))
            >
                "Send"
            </button>
            <Show when=move || !may_post()>
                <p class="composer-reason" id="composer-reason">
                    <Show
                        when=signed_in
                        fallback=move || view! {
                            <a href=sign_in_url(&format!("/rooms/{}", state.room_id))>"Sign in"</a>
                            " to write in this room."
                        }
                    >
                        "You can read this room; only members can write."
                    </Show>
                </p>
            </Show>
            {move || error.get().map(|e| view! { <p class="error-banner" role="alert">{e}</p> })}
        </form>
    }
}
