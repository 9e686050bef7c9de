//! The control API: scripted users over HTTP, for tests that cannot call the library (browser
//! tests, other languages). JSON in, JSON out, on a port of its own:
//!
//! - `POST /chats/{chat_id}/messages` `{"text": "…", "reply_to": 12}` (`reply_to` optional) →
//!   201 `{"message_id": N}`
//! - `POST /chats/{chat_id}/stickers`, `POST /chats/{chat_id}/photos` → 201 `{"message_id": N}`
//! - `POST /chats/{chat_id}/presses` `{"message_id": N, "data": "…"}` → 201
//!   `{"callback_query_id": "…"}`
//! - `GET /chats/{chat_id}/bot-messages` → 200 `[{"message_id", "text", "buttons": [{"text",
//!   "data"}], "edits", "reply_to"}]`, the bot's messages as they stand now (`[]` for a chat
//!   nobody wrote in yet)
//! - `GET /callback-answers` → 200 `[{"callback_query_id", "text", "show_alert"}]`
//! - `GET /healthz` → 200 `{"ok": true}`
//!
//! Bad input answers 400 `{"error": "…"}`; an unknown path 404, a wrong method 405, a body over
//! 64 KiB 413, all with an `error`.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;

use crate::{FakeTelegram, MAX_TEXT_CHARS};

const BODY_LIMIT: usize = 64 * 1024;

type Answer = Response<Full<Bytes>>;
type Refusal = (StatusCode, String);

/// Serves the control API on `listener` until the task is dropped or aborted; its connections
/// go with it.
pub async fn serve_control(fake: Arc<FakeTelegram>, listener: TcpListener) {
    let handle = move |request| {
        let fake = fake.clone();
        async move { Ok::<_, std::io::Error>(answer(&fake, request).await) }
    };
    crate::server::accept_loop(listener, || false, handle).await
}

#[derive(Clone, Copy)]
enum Route {
    Health,
    CallbackAnswers,
    BotMessages,
    Text,
    Sticker,
    Photo,
    Press,
}

async fn answer(fake: &FakeTelegram, request: Request<Incoming>) -> Answer {
    let (parts, body) = request.into_parts();
    let path: Vec<&str> = parts.uri.path().split('/').filter(|s| !s.is_empty()).collect();
    let (allowed, chat, route) = match path.as_slice() {
        ["healthz"] => ("GET", None, Route::Health),
        ["callback-answers"] => ("GET", None, Route::CallbackAnswers),
        ["chats", chat, "bot-messages"] => ("GET", Some(*chat), Route::BotMessages),
        ["chats", chat, "messages"] => ("POST", Some(*chat), Route::Text),
        ["chats", chat, "stickers"] => ("POST", Some(*chat), Route::Sticker),
        ["chats", chat, "photos"] => ("POST", Some(*chat), Route::Photo),
        ["chats", chat, "presses"] => ("POST", Some(*chat), Route::Press),
        _ => return error(StatusCode::NOT_FOUND, "not found"),
    };
    if parts.method.as_str() != allowed {
        let mut response = error(StatusCode::METHOD_NOT_ALLOWED, &format!("use {allowed}"));
        response.headers_mut().insert(ALLOW, HeaderValue::from_static(allowed));
        return response;
    }
    let declared = parts.headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    let result = match declared {
        Some(length) if length > BODY_LIMIT => Err(too_large()),
        _ => match Limited::new(body, BODY_LIMIT).collect().await {
            Ok(body) => handle(fake, route, chat, &body.to_bytes()),
            Err(_) => Err(too_large()),
        },
    };
    match result {
        Ok((status, body)) => json_response(status, &body),
        Err((status, message)) => error(status, &message),
    }
}

fn handle(fake: &FakeTelegram, route: Route, chat: Option<&str>, body: &[u8]) -> Result<(StatusCode, Value), Refusal> {
    let chat_id = match chat {
        Some(chat) => chat.parse::<i64>().map_err(|_| bad(format!("chat id {chat:?} is not an integer")))?,
        None => 0,
    };
    let created = |value: Value| Ok((StatusCode::CREATED, value));
    match route {
        Route::Health => Ok((StatusCode::OK, json!({"ok": true}))),
        Route::CallbackAnswers => {
            let answers = fake
                .callback_answers()
                .into_iter()
                .map(|a| json!({"callback_query_id": a.callback_query_id, "text": a.text, "show_alert": a.show_alert}));
            Ok((StatusCode::OK, answers.collect()))
        }
        Route::BotMessages => {
            let messages = fake.bot_messages(chat_id).into_iter().map(|m| {
                let buttons: Vec<Value> =
                    m.buttons.iter().map(|(text, data)| json!({"text": text, "data": data})).collect();
                json!({
                    "message_id": m.message_id,
                    "text": m.text,
                    "buttons": buttons,
                    "edits": m.edits,
                    "reply_to": m.reply_to,
                })
            });
            Ok((StatusCode::OK, messages.collect()))
        }
        Route::Sticker => created(json!({"message_id": fake.send_sticker(chat_id)})),
        Route::Photo => created(json!({"message_id": fake.send_photo(chat_id)})),
        Route::Text => {
            let body = object(body)?;
            let text = string(&body, "text")?;
            if text.trim().is_empty() {
                return Err(bad("text is empty".to_owned()));
            }
            if text.chars().count() > MAX_TEXT_CHARS {
                return Err(bad(format!("text is longer than {MAX_TEXT_CHARS} characters")));
            }
            let message_id = match message_id(&body, "reply_to", false)? {
                Some(reply_to) => fake.try_send_reply(chat_id, &text, reply_to).map_err(bad)?,
                None => fake.send_text(chat_id, &text),
            };
            created(json!({"message_id": message_id}))
        }
        Route::Press => {
            let body = object(body)?;
            let message_id = message_id(&body, "message_id", true)?.unwrap_or_default();
            let data = string(&body, "data")?;
            let id = fake.try_press_button(chat_id, message_id, &data).map_err(bad)?;
            created(json!({"callback_query_id": id}))
        }
    }
}

fn object(body: &[u8]) -> Result<Map<String, Value>, Refusal> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(bad("the body must be a JSON object".to_owned())),
        Err(error) => Err(bad(format!("malformed JSON: {error}"))),
    }
}

fn string(body: &Map<String, Value>, key: &str) -> Result<String, Refusal> {
    match body.get(key) {
        None | Some(Value::Null) => Err(bad(format!("{key} is missing"))),
        Some(Value::String(text)) => Ok(text.clone()),
        Some(_) => Err(bad(format!("{key} must be a string"))),
    }
}

fn message_id(body: &Map<String, Value>, key: &str, required: bool) -> Result<Option<i32>, Refusal> {
    match body.get(key) {
        None | Some(Value::Null) if required => Err(bad(format!("{key} is missing"))),
        None | Some(Value::Null) => Ok(None),
        Some(value) => match value.as_i64().and_then(|n| i32::try_from(n).ok()) {
            Some(id) => Ok(Some(id)),
            None => Err(bad(format!("{key} must be a message id (an integer)"))),
        },
    }
}

fn bad(message: String) -> Refusal {
    (StatusCode::BAD_REQUEST, message)
}

fn too_large() -> Refusal {
    (StatusCode::PAYLOAD_TOO_LARGE, format!("the body is larger than {BODY_LIMIT} bytes"))
}

fn error(status: StatusCode, message: &str) -> Answer {
    json_response(status, &json!({"error": message}))
}

fn json_response(status: StatusCode, body: &Value) -> Answer {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
