//! The room's timeline: messages with their sender, time, Markdown body and usage footer, and
//! under an agent's message the tasks it proposed.

use domain::rooms::{MessageStatus, SenderType};
use leptos::prelude::*;
use leptos::task::spawn_local;
use uuid::Uuid;

use super::api::older_messages;
use super::api::plain::form;
use super::message_actions::{actions_html, editor_html};
use super::proposal_card::ProposalCard;
use super::state::{MessageEntry, RoomState};
use crate::forms::Notice;
use crate::time::clock;

/// `notice` is what a plain post of a proposal's Confirm or Reject was refused, if one was.
#[component]
pub fn Timeline(state: RoomState, notice: Option<Notice>) -> impl IntoView {
    let notice = StoredValue::new(notice.filter(|n| n.form.starts_with("proposal-")));
    let hydrated = crate::forms::hydrated();
    let loading_older = RwSignal::new(false);
    let older_error = RwSignal::new(None::<String>);
    let list_ref = NodeRef::<leptos::html::Div>::new();

    let load_older = move |_| {
        let Some(cursor) = state.older_cursor.get_untracked() else { return };
        loading_older.set(true);
        spawn_local(async move {
            match older_messages(state.room_id, cursor).await {
                Ok(page) => {
                    older_error.set(None);
                    state.prepend_older(page);
                }
                Err(error) => older_error.set(Some(error.message)),
            }
            loading_older.set(false);
        });
    };

    // Follow the conversation: when the newest message changes or grows, or a proposal's card
    // appears or changes, and the reader was near the bottom before it did, keep the bottom in
    // view. Whether they were is noted as they scroll: a card is taller than what "near" allows.
    let near_bottom = StoredValue::new(true);
    let note_position = move |_| {
        if let Some(list) = list_ref.get_untracked() {
            near_bottom.set_value(list.scroll_height() - list.scroll_top() - list.client_height() < 160);
        }
    };
    let newest = move || state.messages.with(|list| list.last().map(|e| (e.id, e.message.with(|m| m.content.len()))));
    Effect::new(move |_| {
        newest();
        state.proposals.track();
        if let Some(list) = list_ref.get() {
            if near_bottom.get_value() {
                list.set_scroll_top(list.scroll_height());
            }
        }
    });
    // Start at the newest message.
    Effect::new(move |_| {
        if let Some(list) = list_ref.get() {
            list.set_scroll_top(list.scroll_height());
        }
    });

    // Code blocks come rendered from the server with a Copy button; one listener serves them all.
    let copy_code = move |ev: leptos::ev::MouseEvent| {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let Some(button) = ev.target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()) else { return };
            if !button.class_name().split_whitespace().any(|class| class == "copy-code") {
                return;
            }
            let code = button
                .closest(".code-block")
                .ok()
                .flatten()
                .and_then(|block| block.query_selector("code").ok().flatten());
            let Some(text) = code.and_then(|code| code.text_content()) else { return };
            let written = window().navigator().clipboard().write_text(&text);
            spawn_local(async move {
                if wasm_bindgen_futures::JsFuture::from(written).await.is_ok() {
                    button.set_text_content(Some("Copied"));
                }
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };

    view! {
        <div
            class="timeline"
            node_ref=list_ref
            on:scroll=note_position
            on:click=move |ev| {
                super::message_actions::on_click(state, &ev);
                copy_code(ev);
            }
            on:keydown=move |ev| super::message_actions::on_keydown(state, &ev)
        >
            <Show when=move || state.older_cursor.with(Option::is_some)>
                <div class="load-older">
                    // Needs the island: until it has hydrated the button says so instead of
                    // swallowing the click.
                    <button
                        type="button"
                        on:click=load_older
                        disabled=move || !hydrated.get() || loading_older.get()
                        class:waiting-for-script=move || !hydrated.get()
                        aria-busy=move || (!hydrated.get()).to_string()
                        title=move || (!hydrated.get()).then_some("Available once the page has finished loading")
                    >
                        {move || if loading_older.get() { "Loading…" } else { "Load older messages" }}
                    </button>
                </div>
            </Show>
            {move || older_error.get().map(|e| view! { <p class="error-banner" role="alert">{e}</p> })}
            <Show when=move || state.messages.with(Vec::is_empty)>
                <p class="empty-timeline">
                    "No messages yet. Add an agent, then say something — mention one with @Name to pick who answers."
                </p>
            </Show>
            // Read out politely: a reply that ended, another person's message.
            <p class="visually-hidden announcer" role="status" aria-live="polite" aria-atomic="true">
                {move || state.announcement.get()}
            </p>
            <ol class="messages" aria-label="Conversation history">
                <For each=move || state.messages.get() key=|entry| entry.id let:entry>
                    <MessageItem state entry hydrated />
                    <MessageProposal state message_id=entry.id notice />
                </For>
            </ol>
        </div>
    }
}

#[component]
fn MessageItem(state: RoomState, entry: MessageEntry, hydrated: ReadSignal<bool>) -> impl IntoView {
    let message = entry.message;
    let kind = move || message.with(|m| m.sender_type);
    let status = move || message.with(|m| m.status);
    let class = move || format!("message message--{} status--{}", kind().as_str(), status().as_str());
    let time = move || message.with(|m| clock(&m.created_at));
    let datetime = move || message.with(|m| m.created_at.to_rfc3339());
    // The server renders Markdown once a message is final; while it streams, its text is shown as
    // it arrives (as text, never as HTML).
    let rendered = move || message.with(|m| m.content_html.clone());
    let plain = move || message.with(|m| m.content.clone());
    let status_badge = move || match status() {
        MessageStatus::Complete => None,
        MessageStatus::Streaming => Some(("writing…", "badge badge--live")),
        MessageStatus::Failed => Some(("failed", "badge badge--danger")),
        MessageStatus::Stopped => Some(("stopped", "badge badge--warning")),
        MessageStatus::Interrupted => Some(("interrupted", "badge badge--warning")),
    };

    view! {
        <li class=class data-status=move || status().as_str() data-message-id=entry.id.to_string()>
            <header class="message-header">
                <span class="sender">{move || message.with(|m| m.sender_name.clone())}</span>
                <span class="badge kind">{move || kind().as_str()}</span>
                <time datetime=datetime title=datetime>{time}</time>
                {move || status_badge().map(|(label, class)| view! { <span class=class>{label}</span> })}
                <Show when=move || message.with(|m| m.edited_at.is_some() && m.deleted_at.is_none())>
                    <span class="badge" title="Its author changed it after sending it">"edited"</span>
                </Show>
            </header>
            {move || {
                if message.with(|m| m.deleted_at.is_some()) {
                    view! { <p class="message-body message-body--removed">"This message was removed."</p> }.into_any()
                } else if state.editing.get() == Some(entry.id) {
                    let editor = message.with_untracked(editor_html);
                    view! { <div class="message-editor" inner_html=editor></div> }.into_any()
                } else {
                    match rendered() {
                        Some(html) => view! { <div class="message-body" inner_html=html></div> }.into_any(),
                        None => view! { <div class="message-body message-body--plain">{plain}</div> }.into_any(),
                    }
                }
            }}
            {move || {
                message
                    .with(|m| m.error.clone())
                    .map(|error| view! { <p class="message-error" role="status">{error}</p> })
            }}
            <Show when=move || kind() == SenderType::Agent>
                <MessageFooter entry />
            </Show>
            <div
                class="message-actions"
                role="group"
                aria-label="Actions"
                inner_html=move || {
                    if !hydrated.get() {
                        return String::new();
                    }
                    let (me, post, manage) = state.access.with(|a| (a.user_id, a.post, a.manage));
                    message.with(|m| actions_html(m, me, post, manage))
                }
            ></div>
            {move || {
                state
                    .action_error
                    .get()
                    .filter(|(id, _)| *id == entry.id)
                    .map(|(_, error)| view! { <p class="error-banner" role="alert">{error}</p> })
            }}
        </li>
    }
}

/// The proposal that came with one message, a timeline item of its own right under it. An
/// agent's turn makes at most one (`services::proposals::MAX_PER_TURN`).
#[component]
fn MessageProposal(state: RoomState, message_id: Uuid, notice: StoredValue<Option<Notice>>) -> impl IntoView {
    let id = Memo::new(move |_| {
        state.proposals.with(|list| list.iter().find(|p| p.message_id == Some(message_id)).map(|p| p.id))
    });
    move || {
        id.get().map(|id| {
            let form = form::proposal(id);
            let refusal = notice.with_value(|n| n.as_ref().filter(|n| n.form == form).and_then(|n| n.error.clone()));
            view! {
                <li class="timeline-proposal">
                    <ProposalCard state id refusal />
                </li>
            }
        })
    }
}

/// Model, tokens, latency and why this agent spoke.
#[component]
fn MessageFooter(entry: MessageEntry) -> impl IntoView {
    let message = entry.message;
    let model = move || message.with(|m| m.model.clone().unwrap_or_default());
    let is_demo = move || model() == "demo";
    let tokens = move || {
        message.with(|m| match (m.tokens_in, m.tokens_out) {
            (Some(input), Some(output)) => {
                let estimated = if m.usage_estimated { " (est.)" } else { "" };
                Some(format!("{input} → {output} tokens{estimated}"))
            }
            _ => None,
        })
    };
    let latency = move || {
        message.with(|m| {
            m.latency_ms.map(|total| match m.first_token_ms {
                Some(first) => format!("first token {first} ms · {total} ms"),
                None => format!("{total} ms"),
            })
        })
    };
    let reason = move || message.with(|m| m.selection_reason.clone());

    view! {
        <footer class="message-meta">
            <span class="model">
                <Show when=move || !is_demo()>{model}</Show>
                <Show when=is_demo>
                    <span class="badge badge--demo" title="No provider is configured; the offline demo model answered.">
                        "demo"
                    </span>
                </Show>
            </span>
            {move || tokens().map(|t| view! { <span class="tokens">{t}</span> })}
            {move || latency().map(|l| view! { <span class="latency">{l}</span> })}
            {move || {
                reason()
                    .map(|reason| {
                        view! {
                            <details class="why">
                                <summary>"Why this speaker?"</summary>
                                <span>{reason}</span>
                            </details>
                        }
                    })
            }}
        </footer>
    }
}
