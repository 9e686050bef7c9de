//! What can be done to a message in the timeline: copy it; for an agent's reply, regenerate or
//! retry it and flip between its versions ("2/3"); for one's own message, edit it; remove it.
//! Each action goes through the same service rule as the REST API; every open tab hears of the
//! change as `message.updated`. The actions need the page's script, so they appear once it runs.

use domain::events::RoomEvent;
use domain::rooms::{limits, MessageStatus, SenderType};
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::api::{change_message, MessageAction};
use super::state::{MessageEntry, RoomState};

/// Sends one change and shows the message as the server answers it, or why it refused.
fn send(
    state: RoomState,
    entry: MessageEntry,
    busy: RwSignal<bool>,
    error: RwSignal<Option<String>>,
    action: MessageAction,
) {
    if busy.get_untracked() {
        return;
    }
    busy.set(true);
    spawn_local(async move {
        match change_message(state.room_id, entry.id, action).await {
            Ok(updated) => {
                error.set(None);
                state.apply(RoomEvent::MessageUpdated(updated));
            }
            Err(refusal) => error.set(Some(refusal.message)),
        }
        busy.set(false);
    });
}

#[component]
pub fn MessageActions(state: RoomState, entry: MessageEntry) -> impl IntoView {
    let message = entry.message;
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let copied = RwSignal::new(false);
    let ready = crate::forms::hydrated();
    let act = move |action: MessageAction| send(state, entry, busy, error, action);

    let is_agent = move || message.with(|m| m.sender_type == SenderType::Agent);
    let is_mine = move || {
        let me = state.access.with(|access| access.user_id);
        me.is_some() && message.with(|m| m.sender_type == SenderType::Human && m.sender_id == me)
    };
    let settled = move || message.with(|m| m.status != MessageStatus::Streaming && m.deleted_at.is_none());
    let may_post = move || state.access.with(|access| access.post);
    let may_remove = move || (is_mine() && may_post()) || state.access.with(|access| access.manage);
    let to_retry = move || message.with(|m| m.status != MessageStatus::Complete);
    let versions = move || message.with(|m| (m.alternative_index, m.alternatives));
    let has_versions = move || is_agent() && versions().1 > 1;
    let at_first = move || versions().0 == 0;
    let at_last = move || versions().0 + 1 >= versions().1;
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let written = message.with_untracked(|m| window().navigator().clipboard().write_text(&m.content));
            spawn_local(async move {
                if wasm_bindgen_futures::JsFuture::from(written).await.is_ok() {
                    copied.set(true);
                }
            });
        }
    };
    let remove = move |_| {
        let sure = window()
            .confirm_with_message("Remove this message? Its text is gone for everyone in the room.")
            .unwrap_or(false);
        if sure {
            act(MessageAction::Delete);
        }
    };

    view! {
        <Show when=move || ready.get() && settled()>
            <div class="message-actions" role="group" aria-label="Message actions">
                <Show when=has_versions>
                    <span class="versions">
                        <button
                            type="button"
                            aria-label="Previous version"
                            disabled=move || busy.get() || !may_post() || at_first()
                            on:click=move |_| act(MessageAction::Select { index: versions().0 - 1 })
                        >
                            "‹"
                        </button>
                        <span class="version-count" title="Which version of this reply is shown">
                            {move || format!("{}/{}", versions().0 + 1, versions().1)}
                        </span>
                        <button
                            type="button"
                            aria-label="Next version"
                            disabled=move || busy.get() || !may_post() || at_last()
                            on:click=move |_| act(MessageAction::Select { index: versions().0 + 1 })
                        >
                            "›"
                        </button>
                    </span>
                </Show>
                <Show when=move || is_agent() && may_post()>
                    <button
                        type="button"
                        disabled=move || busy.get()
                        on:click=move |_| act(if to_retry() { MessageAction::Retry } else { MessageAction::Regenerate })
                        title=move || if to_retry() { "Write this reply again" } else { "Write a new version; this one is kept" }
                    >
                        {move || if to_retry() { "Retry" } else { "Regenerate" }}
                    </button>
                </Show>
                <button type="button" on:click=copy>{move || if copied.get() { "Copied" } else { "Copy" }}</button>
                <Show when=move || is_mine() && may_post()>
                    <button type="button" disabled=move || busy.get() on:click=move |_| state.editing.set(Some(entry.id))>
                        "Edit"
                    </button>
                </Show>
                <Show when=may_remove>
                    <button type="button" class="danger" disabled=move || busy.get() on:click=remove>
                        "Delete"
                    </button>
                </Show>
                {move || error.get().map(|e| view! { <p class="error-banner" role="alert">{e}</p> })}
            </div>
        </Show>
    }
}

/// One's own message as a text box: Enter saves, Shift+Enter adds a line, Escape cancels.
#[component]
pub fn MessageEditor(state: RoomState, entry: MessageEntry) -> impl IntoView {
    let text = RwSignal::new(entry.message.with_untracked(|m| m.content.clone()));
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let input = NodeRef::<leptos::html::Textarea>::new();
    let save = move || {
        let content = text.get_untracked();
        if content.trim().is_empty() || busy.get_untracked() {
            return;
        }
        busy.set(true);
        spawn_local(async move {
            match change_message(state.room_id, entry.id, MessageAction::Edit { content }).await {
                Ok(updated) => {
                    state.apply(RoomEvent::MessageUpdated(updated));
                    state.editing.set(None);
                }
                Err(refusal) => error.set(Some(refusal.message)),
            }
            busy.set(false);
        });
    };
    let cancel = move || state.editing.set(None);
    Effect::new(move |_| {
        if let Some(input) = input.get() {
            let _ = input.focus();
        }
    });
    let label = format!("edit-{}", entry.id);

    view! {
        <div class="message-editor">
            <label for=label.clone() class="visually-hidden">"Edit your message"</label>
            <textarea
                id=label
                node_ref=input
                rows="3"
                maxlength=limits::CONTENT_MAX_CHARS
                prop:value=move || text.get()
                on:input:target=move |ev| text.set(ev.target().value())
                on:keydown=move |ev| {
                    if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
                        ev.prevent_default();
                        save();
                    } else if ev.key() == "Escape" {
                        ev.prevent_default();
                        cancel();
                    }
                }
            ></textarea>
            <div class="editor-buttons">
                <button
                    type="button"
                    class="primary"
                    disabled=move || busy.get() || text.with(|t| t.trim().is_empty())
                    on:click=move |_| save()
                >
                    "Save"
                </button>
                <button type="button" on:click=move |_| cancel()>"Cancel"</button>
            </div>
            {move || error.get().map(|e| view! { <p class="error-banner" role="alert">{e}</p> })}
        </div>
    }
}
