//! The HTTP side: the accept loop, the request's path and parameters, and the Bot API methods.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::formatting;
use crate::webhook::Webhook;
use crate::{unix_now, CallbackAnswer, Content, Shared, State, MAX_CALLBACK_DATA_BYTES, MAX_TEXT_CHARS};

/// Request bodies larger than this are refused with 413, as Telegram's front end refuses them.
const BODY_LIMIT: usize = 1024 * 1024;

/// The methods this fake knows, in lower case (Telegram matches method names in any case).
const METHODS: &[&str] = &[
    "getme",
    "getupdates",
    "sendmessage",
    "editmessagetext",
    "editmessagereplymarkup",
    "deletemessage",
    "answercallbackquery",
    "sendchataction",
    "setwebhook",
    "deletewebhook",
    "getwebhookinfo",
    "setmycommands",
    "getmycommands",
    "deletemycommands",
];

const CHAT_ACTIONS: &[&str] = &[
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "upload_voice",
    "upload_document",
    "choose_sticker",
    "find_location",
    "record_video_note",
    "upload_video_note",
];

/// What the proxy in front of Telegram answers when Telegram is unreachable.
const BAD_GATEWAY_PAGE: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n";

/// The Bot API's accept loop; while the fake is unreachable, connections are closed at once.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let refusing = shared.clone();
    accept_loop(listener, move || refusing.state().unreachable, move |request| answer(shared.clone(), request)).await
}

/// Accepts connections until the task is dropped or aborted, serving each with `handle`; a
/// connection `refuse` turns down is closed at once. Connections live in a set owned by this
/// task, so aborting it closes them too — long polls included.
pub(crate) async fn accept_loop<H, F>(listener: TcpListener, refuse: impl Fn() -> bool, handle: H)
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + 'static,
    F: std::future::Future<Output = Result<Response<Full<Bytes>>, std::io::Error>> + Send + 'static,
{
    let mut connections = JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Usually out of file descriptors; give connections time to close.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        if refuse() {
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let handle = handle.clone();
        connections.spawn(async move {
            // Without half-close support (the default), a client closing its end drops the
            // pending answer, so an abandoned long poll ends here too.
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service_fn(handle)).await;
        });
        while connections.try_join_next().is_some() {}
    }
}

/// A refusal: an HTTP status with the Bot API's error body.
#[derive(Debug)]
pub(crate) struct Failure {
    status: u16,
    description: String,
    retry_after: Option<u32>,
}

impl Failure {
    fn new(status: u16, description: impl Into<String>) -> Failure {
        Failure { status, description: description.into(), retry_after: None }
    }

    fn bad(description: impl Into<String>) -> Failure {
        Failure::new(400, description)
    }

    fn response(&self) -> Response<Full<Bytes>> {
        let mut body = json!({"ok": false, "error_code": self.status, "description": self.description});
        if let Some(seconds) = self.retry_after {
            body["parameters"] = json!({"retry_after": seconds});
        }
        json_response(self.status, &body)
    }
}

fn json_response(status: u16, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

async fn answer(shared: Arc<Shared>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let received_at = Instant::now();
    if shared.state().unreachable {
        // An error closes the connection without an answer.
        return Err(std::io::Error::other("unreachable"));
    }
    let (parts, body) = request.into_parts();
    let Some((token, method)) = token_and_method(parts.uri.path()) else {
        return Ok(Failure::new(404, "Not Found").response());
    };
    let method = method.to_ascii_lowercase();
    let refusal = {
        let mut state = shared.state();
        state.calls.entry(method.clone()).or_default().push(received_at);
        if state.outage {
            let mut response = Response::new(Full::new(Bytes::from_static(BAD_GATEWAY_PAGE.as_bytes())));
            *response.status_mut() = StatusCode::BAD_GATEWAY;
            response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
            return Ok(response);
        }
        if token != state.token {
            Some(Failure::new(401, "Unauthorized"))
        } else if !METHODS.contains(&method.as_str()) {
            Some(Failure::new(404, "Not Found"))
        } else {
            state.rate_limits.get_mut(&method).and_then(VecDeque::pop_front).map(|seconds| Failure {
                status: 429,
                description: format!("Too Many Requests: retry after {seconds}"),
                retry_after: Some(seconds),
            })
        }
    };
    if let Some(refusal) = refusal {
        return Ok(refusal.response());
    }

    let too_large = Failure::new(413, "Request Entity Too Large");
    let declared = parts.headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|length| length > BODY_LIMIT) {
        return Ok(too_large.response());
    }
    let body = match Limited::new(body, BODY_LIMIT).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Ok(too_large.response()),
    };
    let content_type = parts.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let result = match Params::parse(parts.uri.query(), content_type, &body) {
        Ok(params) => call(&shared, &method, &params).await,
        Err(failure) => Err(failure),
    };
    Ok(match result {
        Ok(value) => json_response(200, &json!({"ok": true, "result": value})),
        Err(failure) => failure.response(),
    })
}

/// `/bot{TOKEN}/{method}`, read from the last two segments so that a prefix in the API URL
/// (or a doubled `/`) does no harm.
fn token_and_method(path: &str) -> Option<(String, String)> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let [.., bot, method] = segments.as_slice() else { return None };
    let token = percent_decode(bot, false).strip_prefix("bot")?.to_owned();
    Some((token, percent_decode(method, false)))
}

fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' if plus_is_space => out.push(b' '),
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A method's parameters from the query string and the body (JSON, form-encoded or multipart), as
/// Telegram takes them from any. Form values are strings; the accessors read numbers,
/// booleans and JSON from strings as Telegram does.
pub(crate) struct Params(Map<String, Value>);

impl Params {
    fn parse(query: Option<&str>, content_type: &str, body: &[u8]) -> Result<Params, Failure> {
        let mut params = Map::new();
        let mut add_form = |form: &str| {
            for pair in form.split('&').filter(|p| !p.is_empty()) {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                params.insert(percent_decode(key, true), Value::String(percent_decode(value, true)));
            }
        };
        if let Some(query) = query {
            add_form(query);
        }
        let lower = content_type.to_ascii_lowercase();
        let body_text = String::from_utf8_lossy(body);
        if lower.starts_with("multipart/form-data") {
            let fields = multipart_fields(content_type, &body_text)
                .ok_or_else(|| Failure::bad("Bad Request: can't parse multipart/form-data body"))?;
            params.extend(fields.into_iter().map(|(name, value)| (name, Value::String(value))));
        } else if lower.starts_with("application/x-www-form-urlencoded") {
            add_form(&body_text);
        } else if !body_text.trim().is_empty() {
            match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(object)) => params.extend(object),
                _ => return Err(Failure::bad("Bad Request: can't parse JSON object")),
            }
        }
        params.retain(|_, v| !v.is_null());
        Ok(Params(params))
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    fn int(&self, key: &str) -> Result<Option<i64>, Failure> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => {
                value_int(value).map(Some).ok_or_else(|| Failure::bad(format!("Bad Request: invalid {key}")))
            }
        }
    }

    fn required_int(&self, key: &str) -> Result<i64, Failure> {
        self.int(key)?.ok_or_else(|| Failure::bad(format!("Bad Request: {key} is empty")))
    }

    /// A chat's id; `@channel` names name no chat here.
    fn chat_id(&self) -> Result<i64, Failure> {
        match self.get("chat_id") {
            None => Err(Failure::bad("Bad Request: chat_id is empty")),
            Some(value) => value_int(value).ok_or_else(|| Failure::bad("Bad Request: chat not found")),
        }
    }

    fn string(&self, key: &str) -> Option<String> {
        match self.get(key)? {
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }

    fn bool(&self, key: &str) -> bool {
        self.get(key).is_some_and(value_bool)
    }

    /// A JSON-valued parameter: JSON in a JSON body, or JSON text in a form or query.
    fn json(&self, key: &str) -> Result<Option<Value>, Failure> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(text)) => serde_json::from_str(text)
                .map(Some)
                .map_err(|_| Failure::bad(format!("Bad Request: can't parse {key} JSON object"))),
            Some(value) => Ok(Some(value.clone())),
        }
    }
}

/// The fields of a `multipart/form-data` body as (name, value); a file's content is read as text.
fn multipart_fields(content_type: &str, body: &str) -> Option<Vec<(String, String)>> {
    let boundary = content_type.split(';').find_map(|p| p.trim().strip_prefix("boundary="))?.trim_matches('"');
    let mut fields = Vec::new();
    for part in body.split(&format!("--{boundary}")).skip(1) {
        if part.starts_with("--") {
            return Some(fields);
        }
        let (headers, value) = part.strip_prefix("\r\n")?.split_once("\r\n\r\n")?;
        let disposition = headers.lines().find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))?;
        let name = disposition.split(';').find_map(|p| p.trim().strip_prefix("name="))?.trim_matches('"');
        fields.push((name.to_owned(), value.strip_suffix("\r\n").unwrap_or(value).to_owned()));
    }
    None
}

fn value_int(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn value_bool(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::String(s) => matches!(s.to_ascii_lowercase().as_str(), "true" | "1"),
        Value::Number(n) => n.as_i64().is_some_and(|n| n != 0),
        _ => false,
    }
}

async fn call(shared: &Shared, method: &str, params: &Params) -> Result<Value, Failure> {
    if method == "getupdates" {
        return get_updates(shared, params).await;
    }
    let result = {
        let mut state = shared.state();
        match method {
            "getme" => Ok(get_me(&state)),
            "sendmessage" => send_message(&mut state, params),
            "editmessagetext" => edit_message_text(&mut state, params),
            "editmessagereplymarkup" => edit_message_reply_markup(&mut state, params),
            "deletemessage" => delete_message(&mut state, params),
            "answercallbackquery" => answer_callback_query(&mut state, params),
            "sendchataction" => send_chat_action(&state, params),
            "setwebhook" => set_webhook(&mut state, params),
            "deletewebhook" => {
                if params.bool("drop_pending_updates") {
                    state.updates.clear();
                }
                state.webhook = None;
                Ok(json!(true))
            }
            "getwebhookinfo" => Ok(webhook_info(&state)),
            "setmycommands" => set_my_commands(&mut state, params),
            "getmycommands" => Ok(state
                .commands
                .iter()
                .map(|(command, description)| json!({"command": command, "description": description}))
                .collect()),
            "deletemycommands" => {
                state.commands.clear();
                Ok(json!(true))
            }
            _ => Err(Failure::new(404, "Not Found")),
        }
    };
    shared.changed();
    result
}

fn get_me(state: &State) -> Value {
    let mut me = state.bot_json();
    me["can_join_groups"] = json!(true);
    me["can_read_all_group_messages"] = json!(false);
    me["supports_inline_queries"] = json!(false);
    me["can_connect_to_business"] = json!(false);
    me["has_main_web_app"] = json!(false);
    me
}

/// `getUpdates`: confirms the updates below `offset` for good (a negative offset keeps only the
/// last `-offset`), then answers with up to `limit` pending updates — at once if there are any,
/// otherwise as soon as one arrives or after `timeout` seconds. A newer `getUpdates` ends a
/// waiting one with 409 Conflict, as Telegram ends it when two bot instances poll.
async fn get_updates(shared: &Shared, params: &Params) -> Result<Value, Failure> {
    let offset = params.int("offset")?.unwrap_or(0);
    let limit = params.int("limit")?.unwrap_or(100).clamp(1, 100) as usize;
    let timeout = params.int("timeout")?.unwrap_or(0).max(0) as u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    let mut changed = shared.subscribe();
    let generation = {
        let mut state = shared.state();
        if state.webhook.is_some() {
            return Err(Failure::new(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
            ));
        }
        if offset > 0 {
            while state.updates.front().is_some_and(|(id, _)| *id < offset) {
                state.updates.pop_front();
            }
        } else if offset < 0 {
            let keep = offset.unsigned_abs() as usize;
            while state.updates.len() > keep {
                state.updates.pop_front();
            }
        }
        state.poll_generation += 1;
        state.poll_generation
    };
    shared.changed();
    loop {
        changed.borrow_and_update();
        {
            let state = shared.state();
            if state.poll_generation != generation {
                return Err(Failure::new(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                ));
            }
            if state.webhook.is_some() {
                return Err(Failure::new(409, "Conflict: terminated by setWebhook request"));
            }
            if !state.updates.is_empty() || timeout == 0 {
                return Ok(state.updates.iter().take(limit).map(|(_, update)| update.clone()).collect());
            }
        }
        if tokio::time::timeout_at(deadline, changed.changed()).await.is_err() {
            return Ok(json!([]));
        }
    }
}

/// `setWebhook`: an empty `url` removes the webhook. Only `http://` URLs are taken, as the fake
/// delivers without TLS. `allowed_updates` is kept (and reported) but filters nothing.
fn set_webhook(state: &mut State, params: &Params) -> Result<Value, Failure> {
    let url = params.string("url").unwrap_or_default();
    let secret = params.string("secret_token");
    if secret.as_ref().is_some_and(|secret| {
        !(1..=256).contains(&secret.len())
            || !secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    }) {
        return Err(Failure::bad("Bad Request: secret token contains unallowed characters"));
    }
    let allowed_updates = match params.json("allowed_updates")? {
        Some(Value::Array(kinds)) => Some(kinds.iter().filter_map(|k| k.as_str().map(str::to_owned)).collect()),
        Some(_) => return Err(Failure::bad("Bad Request: can't parse allowed updates")),
        None => None,
    };
    let max_connections = params.int("max_connections")?.unwrap_or(40).clamp(1, 100) as u32;
    let uri = if url.is_empty() {
        None
    } else {
        let uri = url.parse::<Uri>().ok().filter(|uri| uri.host().is_some_and(|h| !h.is_empty()));
        let Some(uri) = uri else { return Err(Failure::bad("Bad Request: invalid webhook URL specified")) };
        if uri.scheme_str() != Some("http") {
            return Err(Failure::bad("Bad Request: bad webhook: this fake delivers to http:// URLs only"));
        }
        Some(uri)
    };
    if params.bool("drop_pending_updates") {
        state.updates.clear();
    }
    let previous = state.webhook.take();
    state.webhook = uri.map(|uri| Webhook {
        url,
        uri,
        secret,
        allowed_updates: allowed_updates
            .or_else(|| previous.as_ref().map(|hook| hook.allowed_updates.clone()))
            .unwrap_or_default(),
        max_connections,
        last_error: previous.and_then(|hook| hook.last_error),
    });
    Ok(json!(true))
}

fn webhook_info(state: &State) -> Value {
    let mut info = json!({"url": "", "has_custom_certificate": false, "pending_update_count": state.updates.len()});
    if let Some(hook) = &state.webhook {
        info["url"] = json!(hook.url);
        info["max_connections"] = json!(hook.max_connections);
        if !hook.allowed_updates.is_empty() {
            info["allowed_updates"] = json!(hook.allowed_updates);
        }
        if let Some((date, message)) = &hook.last_error {
            info["last_error_date"] = json!(date);
            info["last_error_message"] = json!(message);
        }
    }
    info
}

/// The bot's text after `parse_mode` (or with the `entities` it gave), checked as Telegram
/// checks it. `too_long` is the error Telegram gives for the method.
fn bot_text(params: &Params, too_long: &str) -> Result<(Content, (String, Option<String>)), Failure> {
    let text = params.string("text").unwrap_or_default();
    let parse_mode = params.string("parse_mode").filter(|mode| !mode.is_empty());
    if text.trim().is_empty() {
        return Err(Failure::bad("Bad Request: message text is empty"));
    }
    let mut formatted = formatting::format(&text, parse_mode.as_deref()).map_err(Failure::bad)?;
    if parse_mode.is_none() {
        if let Some(Value::Array(entities)) = params.json("entities")? {
            formatted.entities = entities;
        }
    }
    if formatted.text.is_empty() {
        return Err(Failure::bad("Bad Request: message text is empty"));
    }
    if formatted.text.chars().count() > MAX_TEXT_CHARS {
        return Err(Failure::bad(too_long));
    }
    Ok((Content::Text { text: formatted.text, entities: formatted.entities }, (text, parse_mode)))
}

/// The inline keyboard from `reply_markup`, checked as Telegram checks it. Other keyboards
/// (reply keyboards, `force_reply`, …) are accepted but are not part of the message; an empty
/// inline keyboard is no keyboard.
fn inline_markup(params: &Params) -> Result<Option<Value>, Failure> {
    let Some(markup) = params.json("reply_markup")? else { return Ok(None) };
    let Some(rows) = markup.get("inline_keyboard") else { return Ok(None) };
    let Some(rows) = rows.as_array() else {
        return Err(Failure::bad(
            "Bad Request: field \"inline_keyboard\" of the InlineKeyboardMarkup must be an Array",
        ));
    };
    const KINDS: &[&str] = &[
        "url",
        "login_url",
        "web_app",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "copy_text",
        "callback_game",
        "pay",
    ];
    let mut any = false;
    for row in rows {
        let Some(row) = row.as_array() else {
            return Err(Failure::bad(
                "Bad Request: can't parse inline keyboard button: InlineKeyboardButton must be an Object",
            ));
        };
        for button in row {
            if !button["text"].is_string() {
                return Err(Failure::bad(
                    "Bad Request: can't parse inline keyboard button: Field \"text\" must be of type String",
                ));
            }
            match button.get("callback_data") {
                Some(data) => {
                    let length = data.as_str().map_or(0, str::len);
                    if length == 0 || length > MAX_CALLBACK_DATA_BYTES {
                        return Err(Failure::bad("Bad Request: BUTTON_DATA_INVALID"));
                    }
                }
                None if KINDS.iter().any(|kind| button.get(*kind).is_some()) => {}
                None => {
                    return Err(Failure::bad(
                        "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard",
                    ))
                }
            }
            any = true;
        }
    }
    Ok(any.then(|| json!({"inline_keyboard": rows})))
}

fn send_message(state: &mut State, params: &Params) -> Result<Value, Failure> {
    let chat_id = params.chat_id()?;
    let Some(chat) = state.chats.get(&chat_id) else {
        return Err(Failure::new(403, "Forbidden: bot can't initiate conversation with a user"));
    };
    if chat.blocked {
        return Err(Failure::new(403, "Forbidden: bot was blocked by the user"));
    }
    let (content, sent) = bot_text(params, "Bad Request: message is too long")?;
    let markup = inline_markup(params)?;
    let (reply_to, allow_without) = match params.json("reply_parameters")? {
        Some(reply) => (
            reply.get("message_id").and_then(value_int),
            reply.get("allow_sending_without_reply").is_some_and(value_bool),
        ),
        None => (params.int("reply_to_message_id")?, params.bool("allow_sending_without_reply")),
    };
    let reply_to = match reply_to.map(|id| id as i32) {
        Some(id) if state.message(chat_id, id).is_none() => {
            if !allow_without {
                return Err(Failure::bad("Bad Request: message to be replied not found"));
            }
            None
        }
        other => other,
    };
    let message = state.add_message(chat_id, true, content, reply_to, markup, Some(sent));
    Ok(state.message_json(chat_id, &message, true))
}

/// The bot's own message to edit, as Telegram looks it up.
fn message_to_edit(state: &State, params: &Params) -> Result<(i64, i32), Failure> {
    if params.get("chat_id").is_none() && params.get("inline_message_id").is_some() {
        return Err(Failure::bad("Bad Request: MESSAGE_ID_INVALID"));
    }
    let chat_id = params.chat_id()?;
    let message_id = params.required_int("message_id")? as i32;
    let Some(message) = state.message(chat_id, message_id) else {
        return Err(Failure::bad("Bad Request: message to edit not found"));
    };
    if !message.from_bot {
        return Err(Failure::bad("Bad Request: message can't be edited"));
    }
    Ok((chat_id, message_id))
}

const NOT_MODIFIED: &str = "Bad Request: message is not modified: specified new message content and reply markup are \
exactly the same as a current content and reply markup of the message";

/// `editMessageText`. Like Telegram, leaving out `reply_markup` removes the keyboard.
fn edit_message_text(state: &mut State, params: &Params) -> Result<Value, Failure> {
    let (chat_id, message_id) = message_to_edit(state, params)?;
    let (content, sent) = bot_text(params, "Bad Request: MESSAGE_TOO_LONG")?;
    let markup = inline_markup(params)?;
    let message = state.message_mut(chat_id, message_id).expect("checked above");
    if !matches!(message.content, Content::Text { .. }) {
        return Err(Failure::bad("Bad Request: there is no text in the message to edit"));
    }
    if message.content == content && message.markup == markup {
        return Err(Failure::bad(NOT_MODIFIED));
    }
    message.content = content;
    message.markup = markup;
    message.sent = Some(sent);
    message.edit_date = Some(unix_now());
    message.edits += 1;
    let message = message.clone();
    Ok(state.message_json(chat_id, &message, true))
}

/// `editMessageReplyMarkup`; leaving out `reply_markup` removes the keyboard.
fn edit_message_reply_markup(state: &mut State, params: &Params) -> Result<Value, Failure> {
    let (chat_id, message_id) = message_to_edit(state, params)?;
    let markup = inline_markup(params)?;
    let message = state.message_mut(chat_id, message_id).expect("checked above");
    if message.markup == markup {
        return Err(Failure::bad(NOT_MODIFIED));
    }
    message.markup = markup;
    message.edit_date = Some(unix_now());
    message.edits += 1;
    let message = message.clone();
    Ok(state.message_json(chat_id, &message, true))
}

fn delete_message(state: &mut State, params: &Params) -> Result<Value, Failure> {
    let chat_id = params.chat_id()?;
    let message_id = params.required_int("message_id")? as i32;
    let chat = state.chats.get_mut(&chat_id);
    let Some(index) = chat.as_ref().and_then(|chat| chat.messages.iter().position(|m| m.id == message_id)) else {
        return Err(Failure::bad("Bad Request: message to delete not found"));
    };
    chat.expect("found above").messages.remove(index);
    Ok(json!(true))
}

/// `answerCallbackQuery`: each query can be answered once.
fn answer_callback_query(state: &mut State, params: &Params) -> Result<Value, Failure> {
    let id = params.string("callback_query_id").unwrap_or_default();
    match state.callback_queries.get_mut(&id) {
        Some(answered) if !*answered => {
            *answered = true;
            state.callback_answers.push(CallbackAnswer {
                callback_query_id: id,
                text: params.string("text"),
                show_alert: params.bool("show_alert"),
                answered_at: Instant::now(),
            });
            Ok(json!(true))
        }
        _ => Err(Failure::bad("Bad Request: query is too old and response timeout expired or query id is invalid")),
    }
}

fn send_chat_action(state: &State, params: &Params) -> Result<Value, Failure> {
    let chat_id = params.chat_id()?;
    let Some(chat) = state.chats.get(&chat_id) else {
        return Err(Failure::bad("Bad Request: chat not found"));
    };
    if chat.blocked {
        return Err(Failure::new(403, "Forbidden: bot was blocked by the user"));
    }
    let action = params.string("action").unwrap_or_default();
    if !CHAT_ACTIONS.contains(&action.as_str()) {
        return Err(Failure::bad("Bad Request: wrong parameter action in request"));
    }
    Ok(json!(true))
}

/// `setMyCommands`; scopes and languages are not told apart.
fn set_my_commands(state: &mut State, params: &Params) -> Result<Value, Failure> {
    let Some(Value::Array(commands)) = params.json("commands")? else {
        return Err(Failure::bad("Bad Request: commands must be an Array"));
    };
    let mut parsed = Vec::new();
    for command in &commands {
        let name = command["command"].as_str().unwrap_or_default();
        let description = command["description"].as_str().unwrap_or_default();
        let valid_name = (1..=32).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid_name {
            return Err(Failure::bad("Bad Request: BOT_COMMAND_INVALID"));
        }
        if description.trim().is_empty() || description.chars().count() > 256 {
            return Err(Failure::bad("Bad Request: BOT_COMMAND_DESCRIPTION_INVALID"));
        }
        parsed.push((name.to_owned(), description.to_owned()));
    }
    state.commands = parsed;
    Ok(json!(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_the_token_and_method() {
        assert_eq!(token_and_method("/bot123:ABC/getMe"), Some(("123:ABC".to_owned(), "getMe".to_owned())));
        assert_eq!(
            token_and_method("/prefix//bot1%3Ax/sendMessage"),
            Some(("1:x".to_owned(), "sendMessage".to_owned()))
        );
        assert_eq!(token_and_method("/getMe"), None);
        assert_eq!(token_and_method("/x/getMe"), None);
    }

    #[test]
    fn form_and_query_parameters_are_read_like_json_ones() {
        let params = Params::parse(
            Some("chat_id=42"),
            "application/x-www-form-urlencoded",
            b"text=hello+there%21&reply_markup=%7B%22inline_keyboard%22%3A%5B%5D%7D&show_alert=true",
        )
        .unwrap();
        assert_eq!(params.chat_id().unwrap(), 42);
        assert_eq!(params.string("text").unwrap(), "hello there!");
        assert_eq!(params.json("reply_markup").unwrap().unwrap(), json!({"inline_keyboard": []}));
        assert!(params.bool("show_alert"));
    }

    #[test]
    fn multipart_fields_are_read_like_form_ones() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"url\"\r\n\r\nhttp://127.0.0.1:9/hook\r\n\
--XyZ\r\ncontent-disposition: form-data; name=\"allowed_updates\"\r\n\r\n[\"message\"]\r\n--XyZ--\r\n";
        let params = Params::parse(None, "multipart/form-data; boundary=XyZ", body.as_bytes()).unwrap();
        assert_eq!(params.string("url").unwrap(), "http://127.0.0.1:9/hook");
        assert_eq!(params.json("allowed_updates").unwrap().unwrap(), json!(["message"]));
        assert!(Params::parse(None, "multipart/form-data; boundary=XyZ", b"--XyZ\r\nbroken").is_err());
    }
}
