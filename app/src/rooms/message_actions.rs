//! What can be done to a message in the timeline: copy it; for an agent's reply, regenerate or
//! retry it and flip between its versions ("2/3"); for one's own message, edit it; remove it.
//! Each action goes through the same service rule as the REST API, and every open tab hears of
//! the change as `message.updated`.
//!
//! The buttons are plain markup with a `data-action`, and the timeline listens once for all of
//! them: a component per message with its own handlers would cost the browser bundle several
//! times as much.

use domain::rooms::{limits, Message, MessageStatus, SenderType};
use uuid::Uuid;

use super::state::RoomState;

/// The action buttons under `message`, for a reader who is `me` and may post or manage.
pub fn actions_html(message: &Message, me: Option<Uuid>, may_post: bool, may_manage: bool) -> String {
    let mut out = String::new();
    let button = |out: &mut String, action: &str, label: &str, aria: &str, disabled: bool| {
        out.push_str(&format!(
            "<button type=\"button\" data-action=\"{action}\" aria-label=\"{aria}\"{}>{label}</button>",
            if disabled { " disabled" } else { "" }
        ));
    };
    let is_agent = message.sender_type == SenderType::Agent;
    if message.status == MessageStatus::Streaming {
        // A reply being written outside a run can be stopped where it is; a run's Stop ends its turns.
        if is_agent && message.run_id.is_none() && may_post {
            button(&mut out, "stop", "Stop", "Stop this reply", false);
        }
        return out;
    }
    if message.deleted_at.is_some() {
        return out;
    }
    if is_agent && message.alternatives > 1 {
        let (index, count) = (message.alternative_index, message.alternatives);
        out.push_str("<span class=\"versions\">");
        button(&mut out, "previous", "‹", "Previous version", !may_post || index == 0);
        out.push_str(&format!(
            "<span class=\"version-count\" title=\"Which version of this reply is shown\">{}/{count}</span>",
            index + 1
        ));
        button(&mut out, "next", "›", "Next version", !may_post || index + 1 >= count);
        out.push_str("</span>");
    }
    if is_agent && may_post {
        if message.status == MessageStatus::Complete {
            button(&mut out, "regenerate", "Regenerate", "Regenerate: write a new version, keeping this one", false);
        } else {
            button(&mut out, "retry", "Retry", "Retry: write this reply again", false);
        }
    }
    button(&mut out, "copy", "Copy", "Copy", false);
    let mine = me.is_some() && message.sender_type == SenderType::Human && message.sender_id == me;
    if mine && may_post {
        button(&mut out, "edit", "Edit", "Edit", false);
    }
    if (mine && may_post) || may_manage {
        button(&mut out, "delete", "Delete", "Delete", false);
    }
    out
}

/// The edit box for one's own message: Enter saves, Shift+Enter adds a line, Escape cancels.
pub fn editor_html(message: &Message) -> String {
    format!(
        "<label class=\"visually-hidden\" for=\"edit-{id}\">Edit your message</label>\
         <textarea id=\"edit-{id}\" class=\"edit-box\" rows=\"3\" maxlength=\"{max}\">{text}</textarea>\
         <div class=\"editor-buttons\"><button type=\"button\" class=\"primary\" data-action=\"save\">Save</button>\
         <button type=\"button\" data-action=\"cancel\">Cancel</button></div>",
        id = message.id,
        max = limits::CONTENT_MAX_CHARS,
        text = escape(&message.content),
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// What a click on one of the buttons above asks for.
#[cfg(feature = "hydrate")]
pub fn on_click(state: RoomState, ev: &leptos::ev::MouseEvent) {
    use leptos::prelude::*;
    use wasm_bindgen::JsCast;

    use super::api::MessageAction;

    let Some(button) = ev.target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()) else { return };
    let Some(action) = button.get_attribute("data-action") else { return };
    let Some(id) = message_of(&button) else { return };
    let Some(message) = state.messages.with_untracked(|list| list.iter().find(|e| e.id == id).map(|e| e.message))
    else {
        return;
    };
    let index = message.with_untracked(|m| m.alternative_index);
    let change = match action.as_str() {
        "previous" => MessageAction::Select { index: index - 1 },
        "next" => MessageAction::Select { index: index + 1 },
        "stop" => {
            button.set_attribute("disabled", "").ok();
            leptos::task::spawn_local(async move {
                // The reply's final status arrives on the live stream.
                let _ = super::api::stop_replies(state.room_id).await;
            });
            return;
        }
        "regenerate" => MessageAction::Regenerate,
        "retry" => MessageAction::Retry,
        "edit" => return start_editing(state, id),
        "cancel" => return state.editing.set(None),
        "save" => match edited_text(&button) {
            Some(content) if !content.trim().is_empty() => MessageAction::Edit { content },
            _ => return,
        },
        "copy" => {
            let written = message.with_untracked(|m| window().navigator().clipboard().write_text(&m.content));
            leptos::task::spawn_local(async move {
                if wasm_bindgen_futures::JsFuture::from(written).await.is_ok() {
                    button.set_text_content(Some("Copied"));
                }
            });
            return;
        }
        "delete" => {
            let sure = window()
                .confirm_with_message("Remove this message? Its text is gone for everyone in the room.")
                .unwrap_or(false);
            if !sure {
                return;
            }
            MessageAction::Delete
        }
        _ => return,
    };
    send(state, id, change);
}

/// Opens the edit box of one's own message and puts the cursor in it.
pub fn start_editing(state: RoomState, id: Uuid) {
    use leptos::prelude::*;
    state.editing.set(Some(id));
    #[cfg(feature = "hydrate")]
    request_animation_frame(move || {
        use wasm_bindgen::JsCast;
        let found = document().get_element_by_id(&format!("edit-{id}"));
        if let Some(area) = found.and_then(|e| e.dyn_into::<web_sys::HtmlTextAreaElement>().ok()) {
            let _ = area.focus();
            let end = area.value().len() as u32;
            let _ = area.set_selection_range(end, end);
        }
    });
}

/// Enter saves an edit, Escape cancels it.
#[cfg(feature = "hydrate")]
pub fn on_keydown(state: RoomState, ev: &leptos::ev::KeyboardEvent) {
    use leptos::prelude::*;
    use wasm_bindgen::JsCast;

    let Some(target) = ev.target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()) else { return };
    if !target.class_name().split_whitespace().any(|class| class == "edit-box") || ev.is_composing() {
        return;
    }
    match ev.key().as_str() {
        "Escape" => {
            ev.prevent_default();
            state.editing.set(None);
        }
        "Enter" if !ev.shift_key() => {
            ev.prevent_default();
            let (Some(id), Some(content)) = (message_of(&target), edited_text(&target)) else { return };
            if !content.trim().is_empty() {
                send(state, id, super::api::MessageAction::Edit { content });
            }
        }
        _ => {}
    }
}

/// The message an element of the timeline belongs to.
#[cfg(feature = "hydrate")]
fn message_of(element: &web_sys::Element) -> Option<Uuid> {
    let item = element.closest("[data-message-id]").ok()??;
    item.get_attribute("data-message-id")?.parse().ok()
}

/// The text in the edit box of the message `element` belongs to.
#[cfg(feature = "hydrate")]
fn edited_text(element: &web_sys::Element) -> Option<String> {
    use wasm_bindgen::JsCast;
    let item = element.closest("[data-message-id]").ok()??;
    let box_ = item.query_selector(".edit-box").ok()??;
    Some(box_.dyn_into::<web_sys::HtmlTextAreaElement>().ok()?.value())
}

/// Sends one change and shows the message as the server answers it, or why it refused.
#[cfg(feature = "hydrate")]
fn send(state: RoomState, id: Uuid, change: super::api::MessageAction) {
    use domain::events::RoomEvent;
    use leptos::prelude::*;

    leptos::task::spawn_local(async move {
        match super::api::change_message(state.room_id, id, change).await {
            Ok(updated) => {
                state.action_error.set(None);
                if state.editing.get_untracked() == Some(id) {
                    state.editing.set(None);
                }
                state.apply(RoomEvent::MessageUpdated(updated));
            }
            Err(refusal) => state.action_error.set(Some((id, refusal.message))),
        }
    });
}

#[cfg(not(feature = "hydrate"))]
pub fn on_click(_state: RoomState, _ev: &leptos::ev::MouseEvent) {}

#[cfg(not(feature = "hydrate"))]
pub fn on_keydown(_state: RoomState, _ev: &leptos::ev::KeyboardEvent) {}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn message(sender_type: SenderType, sender_id: Option<Uuid>) -> Message {
        Message {
            id: Uuid::nil(),
            room_id: Uuid::nil(),
            sender_type,
            sender_id,
            sender_name: "x".into(),
            content: "a <b> & \"c\"".into(),
            content_html: None,
            status: MessageStatus::Complete,
            tokens_in: None,
            tokens_out: None,
            usage_estimated: false,
            latency_ms: None,
            first_token_ms: None,
            model: None,
            error: None,
            selection_reason: None,
            run_id: None,
            created_at: Utc::now(),
            alternatives: 1,
            alternative_index: 0,
            edited_at: None,
            deleted_at: None,
        }
    }

    #[test]
    fn each_reader_gets_the_buttons_the_rules_allow() {
        let me = Uuid::from_u128(7);
        let mut reply = message(SenderType::Agent, Some(Uuid::from_u128(1)));
        let actions = |m: &Message, post, manage| -> Vec<String> {
            actions_html(m, Some(me), post, manage)
                .split("data-action=\"")
                .skip(1)
                .map(|rest| rest.split('"').next().unwrap().to_owned())
                .collect()
        };
        assert_eq!(actions(&reply, true, false), ["regenerate", "copy"]);
        assert_eq!(actions(&reply, false, false), ["copy"], "viewers only copy");
        assert_eq!(actions(&reply, true, true), ["regenerate", "copy", "delete"]);
        (reply.alternatives, reply.alternative_index, reply.status) = (3, 0, MessageStatus::Failed);
        assert_eq!(actions(&reply, true, false), ["previous", "next", "retry", "copy"]);
        assert!(actions_html(&reply, Some(me), true, false).contains("1/3"));
        assert!(actions_html(&reply, Some(me), true, false)
            .contains("data-action=\"previous\" aria-label=\"Previous version\" disabled"));
        let mine = message(SenderType::Human, Some(me));
        assert_eq!(actions(&mine, true, false), ["copy", "edit", "delete"]);
        let theirs = message(SenderType::Human, Some(Uuid::from_u128(8)));
        assert_eq!(actions(&theirs, true, false), ["copy"]);
        reply.status = MessageStatus::Streaming;
        assert_eq!(
            actions_html(&reply, Some(me), true, true),
            "<button type=\"button\" data-action=\"stop\" aria-label=\"Stop this reply\">Stop</button>",
            "only Stop while it is written"
        );
        assert!(actions_html(&reply, Some(me), false, false).is_empty(), "readers cannot stop it");
        reply.run_id = Some(Uuid::from_u128(7));
        assert!(actions_html(&reply, Some(me), true, true).is_empty(), "a run's turns stop with the run");
    }

    #[test]
    fn the_edit_box_holds_the_text_escaped() {
        let html = editor_html(&message(SenderType::Human, None));
        assert!(html.contains(">a &lt;b&gt; &amp; &quot;c&quot;</textarea>"), "{html}");
    }
}
