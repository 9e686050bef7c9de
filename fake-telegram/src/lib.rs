//! A stand-in for Telegram's Bot API, for tests. It listens on a loopback port and speaks the Bot
//! API over real HTTP — `POST /bot{TOKEN}/{method}` with JSON (or form) parameters, answers
//! `{"ok":true,"result":…}` or `{"ok":false,"error_code":…,"description":…}` — so a bot built on
//! any Bot API client talks to it exactly as to `api.telegram.org`.
//!
//! Scripted users write text, stickers and photos, reply to messages and press inline buttons;
//! each of these queues an update the bot receives through `getUpdates` (long polling included)
//! or, once it set a webhook, as a POST to the webhook's URL.
//! What the bot did — messages sent and edited, callback queries answered, every call's arrival —
//! is recorded for the test to check. Faults a bot meets in production can be switched on: an
//! outage behind Telegram's proxy (502 with an HTML body), a refused connection, a `429` with
//! `retry_after`, a user who blocked the bot.
//!
//! Message text is checked the way Telegram checks it: `parse_mode` markup is parsed into
//! entities (malformed markup is refused with Telegram's `can't parse entities` error), surrounding
//! whitespace is trimmed, an empty or over-long text is refused. A bot that passes here sends what
//! Telegram accepts.

mod control;
mod formatting;
mod server;
mod webhook;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use control::serve_control;

/// Telegram's limit on a message's text, in characters after markup is parsed.
pub const MAX_TEXT_CHARS: usize = 4096;

/// Telegram's limit on a button's `callback_data`, in bytes.
pub const MAX_CALLBACK_DATA_BYTES: usize = 64;

/// A message the bot sent, as it stands now (after any edits).
#[derive(Debug, Clone, PartialEq)]
pub struct BotMessage {
    pub message_id: i32,
    pub chat_id: i64,
    /// The text as the user sees it: `parse_mode` markup parsed away, surrounding whitespace
    /// trimmed.
    pub text: String,
    /// The text exactly as the bot last sent it.
    pub raw_text: String,
    pub parse_mode: Option<String>,
    /// The formatting entities of `text`, in the Bot API's JSON shape.
    pub entities: Vec<Value>,
    /// The inline keyboard's callback buttons as (text, callback_data), row by row. Buttons of
    /// other kinds (URL, …) are not listed.
    pub buttons: Vec<(String, String)>,
    /// How many times the message was edited (text or keyboard).
    pub edits: usize,
    /// The message it replies to.
    pub reply_to: Option<i32>,
    pub sent_at: Instant,
}

/// An answer the bot gave to a pressed button (`answerCallbackQuery`).
#[derive(Debug, Clone, PartialEq)]
pub struct CallbackAnswer {
    pub callback_query_id: String,
    pub text: Option<String>,
    pub show_alert: bool,
    pub answered_at: Instant,
}

/// The webhook the bot set (`setWebhook`).
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookInfo {
    pub url: String,
    /// The `secret_token`, sent with every delivery as `X-Telegram-Bot-Api-Secret-Token`.
    pub secret: Option<String>,
    /// As the bot set them; updates are delivered whatever their kind.
    pub allowed_updates: Vec<String>,
    pub max_connections: u32,
    /// Updates not yet confirmed by the webhook.
    pub pending_update_count: usize,
    /// Why the last delivery failed, in Telegram's words (`getWebhookInfo`'s `last_error_message`).
    pub last_error_message: Option<String>,
}

/// One attempt to deliver an update to the webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookDelivery {
    pub update_id: i64,
    /// The answer's status; `None` when there was none (connection error, no answer in 10 s).
    pub status: Option<u16>,
    /// When the attempt started.
    pub at: Instant,
}

/// The running fake Bot API. Dropping it stops the server and webhook deliveries and closes its
/// connections, so a long poll in progress ends at once with a connection error instead of hanging.
pub struct FakeTelegram {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _server: Server,
    _deliveries: Server,
}

impl FakeTelegram {
    /// Starts on a free loopback port, accepting `token` only.
    pub async fn start(token: &str) -> FakeTelegram {
        FakeTelegram::bind(SocketAddr::from(([127, 0, 0, 1], 0)), token).await.expect("bind a loopback port")
    }

    /// Starts on `addr`, accepting `token` only.
    pub async fn bind(addr: SocketAddr, token: &str) -> std::io::Result<FakeTelegram> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared { state: Mutex::new(State::new(token)), changed: watch::Sender::new(0) });
        let server = Server(tokio::spawn(server::serve(listener, shared.clone())));
        let deliveries = Server(tokio::spawn(webhook::deliver(shared.clone())));
        Ok(FakeTelegram { addr, shared, _server: server, _deliveries: deliveries })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API URL to give the bot in place of `https://api.telegram.org`, e.g.
    /// `http://127.0.0.1:PORT` — scheme, host and port with no path. Clients append
    /// `/bot{TOKEN}/{method}` themselves (teloxide: `Bot::new(token).set_api_url(url.parse()?)`,
    /// or the `TELOXIDE_API_URL` variable). A trailing `/` is harmless too; a path prefix is
    /// tolerated, as only the last two path segments are read.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn token(&self) -> String {
        self.state().token.clone()
    }

    /// The bot's user id: the number before the `:` in the token, as on Telegram.
    pub fn bot_user_id(&self) -> i64 {
        self.state().bot_id
    }

    pub fn bot_username(&self) -> String {
        BOT_USERNAME.to_owned()
    }

    /// Sets who the user of a private chat is (the chat's id is the user's id). Without this a
    /// user is "Test User", `@user{chat_id}`, language `en`.
    pub fn set_user(&self, chat_id: i64, first_name: &str, username: Option<&str>, language_code: Option<&str>) {
        let profile = UserProfile {
            first_name: first_name.to_owned(),
            username: username.map(str::to_owned),
            language_code: language_code.map(str::to_owned),
        };
        self.state().users.insert(chat_id, profile);
    }

    // ---- Scripted users ------------------------------------------------------------------

    /// The user of private chat `chat_id` writes `text`; returns the new message's id. A text
    /// starting with `/` carries a `bot_command` entity for its first word, as Telegram adds.
    pub fn send_text(&self, chat_id: i64, text: &str) -> i32 {
        self.user_message(chat_id, Content::text(text))
    }

    /// The user writes `text` as a reply to message `reply_to_message_id` of the same chat (the
    /// bot's or their own). Panics if there is no such message.
    pub fn send_reply(&self, chat_id: i64, text: &str, reply_to_message_id: i32) -> i32 {
        self.try_send_reply(chat_id, text, reply_to_message_id)
            .unwrap_or_else(|error| panic!("{error}:\n{}", self.transcript(chat_id)))
    }

    /// [`FakeTelegram::send_reply`], refusing a missing message with an error instead of a panic.
    pub fn try_send_reply(&self, chat_id: i64, text: &str, reply_to_message_id: i32) -> Result<i32, String> {
        self.user_reply(chat_id, Content::text(text), Some(reply_to_message_id))
    }

    /// The user sends a (static, regular) sticker.
    pub fn send_sticker(&self, chat_id: i64) -> i32 {
        self.user_message(chat_id, Content::Sticker)
    }

    /// The user sends a photo without a caption.
    pub fn send_photo(&self, chat_id: i64) -> i32 {
        self.user_message(chat_id, Content::Photo { caption: None })
    }

    /// The user sends a photo with a caption.
    pub fn send_photo_with_caption(&self, chat_id: i64, caption: &str) -> i32 {
        self.user_message(chat_id, Content::Photo { caption: Some(caption.to_owned()) })
    }

    /// The user presses the inline button with `data` as its callback data on the bot's message
    /// `message_id`; returns the callback query's id. The update carries the message as it is now.
    /// Panics if that bot message has no such button.
    pub fn press_button(&self, chat_id: i64, message_id: i32, data: &str) -> String {
        self.try_press_button(chat_id, message_id, data)
            .unwrap_or_else(|error| panic!("{error}:\n{}", self.transcript(chat_id)))
    }

    /// [`FakeTelegram::press_button`], refusing a missing chat, message or button with an error
    /// instead of a panic.
    pub fn try_press_button(&self, chat_id: i64, message_id: i32, data: &str) -> Result<String, String> {
        let id = {
            let mut state = self.state();
            if !state.chats.contains_key(&chat_id) {
                return Err(format!("there is no chat {chat_id}"));
            }
            let Some(message) = state.message(chat_id, message_id).cloned() else {
                return Err(format!("chat {chat_id} has no message {message_id}"));
            };
            if !message.from_bot {
                return Err(format!("message {message_id} in chat {chat_id} is the user's, not the bot's"));
            }
            let buttons = callback_buttons(message.markup.as_ref());
            if !buttons.iter().any(|(_, callback_data)| callback_data == data) {
                return Err(format!(
                    "the bot's message {message_id} in chat {chat_id} has no button with callback data {data:?}; its buttons: {buttons:?}"
                ));
            }
            state.callback_queries_made += 1;
            let id = (CALLBACK_QUERY_ID_BASE + state.callback_queries_made).to_string();
            let query = json!({
                "id": id,
                "from": state.user_json(chat_id),
                "message": state.message_json(chat_id, &message, true),
                "chat_instance": (CHAT_INSTANCE_BASE + chat_id).to_string(),
                "data": data,
            });
            state.callback_queries.insert(id.clone(), false);
            state.queue_update("callback_query", query);
            id
        };
        self.shared.changed();
        Ok(id)
    }

    fn user_message(&self, chat_id: i64, content: Content) -> i32 {
        self.user_reply(chat_id, content, None).expect("a message replying to nothing is always accepted")
    }

    fn user_reply(&self, chat_id: i64, content: Content, reply_to: Option<i32>) -> Result<i32, String> {
        let id = {
            let mut state = self.state();
            if let Some(reply_to) = reply_to {
                if state.message(chat_id, reply_to).is_none() {
                    return Err(format!("chat {chat_id} has no message {reply_to} to reply to"));
                }
            }
            let message = state.add_message(chat_id, false, content, reply_to, None, None);
            let json = state.message_json(chat_id, &message, true);
            state.queue_update("message", json);
            message.id
        };
        self.shared.changed();
        Ok(id)
    }

    // ---- What the bot did -----------------------------------------------------------------

    /// The bot's messages in `chat_id`, in the order sent, each as it stands after edits.
    /// Deleted messages are gone.
    pub fn bot_messages(&self, chat_id: i64) -> Vec<BotMessage> {
        let state = self.state();
        let Some(chat) = state.chats.get(&chat_id) else { return Vec::new() };
        chat.messages.iter().filter(|m| m.from_bot).map(|m| m.bot_message(chat_id)).collect()
    }

    /// Waits for the first bot message in `chat_id` (in the order sent, as it stands now) that
    /// `matches`; an edit counts, so this also waits for a message to change. Panics on timeout
    /// with everything the chat holds.
    pub async fn wait_for_message(
        &self,
        chat_id: i64,
        timeout: Duration,
        matches: impl Fn(&BotMessage) -> bool,
    ) -> BotMessage {
        let mut changed = self.shared.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            changed.borrow_and_update();
            if let Some(found) = self.bot_messages(chat_id).into_iter().find(|m| matches(m)) {
                return found;
            }
            if tokio::time::timeout_at(deadline, changed.changed()).await.is_err() {
                panic!(
                    "no matching bot message in chat {chat_id} within {timeout:?}; the chat holds:\n{}",
                    self.transcript(chat_id)
                );
            }
        }
    }

    /// The bot's answers to pressed buttons, in order.
    pub fn callback_answers(&self) -> Vec<CallbackAnswer> {
        self.state().callback_answers.clone()
    }

    /// Waits until the bot answers callback query `callback_query_id`. Panics on timeout with
    /// the answers given so far.
    pub async fn wait_for_callback_answer(&self, callback_query_id: &str, timeout: Duration) -> CallbackAnswer {
        let mut changed = self.shared.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            changed.borrow_and_update();
            let answers = self.callback_answers();
            if let Some(found) = answers.iter().find(|a| a.callback_query_id == callback_query_id) {
                return found.clone();
            }
            if tokio::time::timeout_at(deadline, changed.changed()).await.is_err() {
                panic!("callback query {callback_query_id} was not answered within {timeout:?}; answers: {answers:#?}");
            }
        }
    }

    /// When each call of `method` (any case) arrived, whatever its outcome — refused, rate
    /// limited or during an outage included.
    pub fn calls(&self, method: &str) -> Vec<Instant> {
        self.state().calls.get(&method.to_ascii_lowercase()).cloned().unwrap_or_default()
    }

    /// Updates not yet confirmed by the bot (a `getUpdates` with a higher `offset`, or a 2xx
    /// answer from its webhook).
    pub fn pending_updates(&self) -> usize {
        self.state().updates.len()
    }

    /// The webhook, while one is set.
    pub fn webhook(&self) -> Option<WebhookInfo> {
        let state = self.state();
        let hook = state.webhook.as_ref()?;
        Some(WebhookInfo {
            url: hook.url.clone(),
            secret: hook.secret.clone(),
            allowed_updates: hook.allowed_updates.clone(),
            max_connections: hook.max_connections,
            pending_update_count: state.updates.len(),
            last_error_message: hook.last_error.as_ref().map(|(_, message)| message.clone()),
        })
    }

    /// Every attempt to deliver an update to a webhook, in order; a failed one is retried after
    /// [`FakeTelegram::set_webhook_retry_delay`].
    pub fn webhook_deliveries(&self) -> Vec<WebhookDelivery> {
        self.state().webhook_deliveries.clone()
    }

    /// The pause after a failed delivery before the update is sent again (default 1 s).
    pub fn set_webhook_retry_delay(&self, delay: Duration) {
        self.state().webhook_retry_delay = delay;
    }

    /// The commands the bot registered with `setMyCommands`, as (command, description).
    pub fn commands(&self) -> Vec<(String, String)> {
        self.state().commands.clone()
    }

    /// Everything in the chat, one message a line, for failure messages.
    pub fn transcript(&self, chat_id: i64) -> String {
        self.state().transcript(chat_id)
    }

    // ---- Faults ---------------------------------------------------------------------------

    /// While down, every call answers 502 Bad Gateway with an HTML body, as the proxy in front of
    /// Telegram does when Telegram is unreachable. (teloxide waits 10 s before reading the body
    /// of any 5xx answer, then reports `RequestError::InvalidJson`.)
    pub fn set_outage(&self, down: bool) {
        self.state().outage = down;
    }

    /// While set, new connections are closed as soon as they are accepted and requests on open
    /// connections get no answer (the connection is closed): clients see a network error at once.
    pub fn set_unreachable(&self, unreachable: bool) {
        self.state().unreachable = unreachable;
    }

    /// The next call of `method` (any case) answers 429 `Too Many Requests: retry after N` with
    /// `parameters.retry_after`. Calls queue up: calling this twice limits the next two calls. The
    /// fake does not hold the bot to the wait; check it with [`FakeTelegram::calls`].
    pub fn rate_limit_next(&self, method: &str, retry_after_seconds: u32) {
        self.state().rate_limits.entry(method.to_ascii_lowercase()).or_default().push_back(retry_after_seconds);
    }

    /// While blocked, sending to the chat (`sendMessage`, `sendChatAction`) answers 403
    /// `Forbidden: bot was blocked by the user`.
    pub fn set_blocked(&self, chat_id: i64, blocked: bool) {
        self.state().chat(chat_id).blocked = blocked;
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.state()
    }
}

/// The bot's username, as `getMe` reports it.
const BOT_USERNAME: &str = "fake_test_bot";
/// Callback query ids are long numbers, as Telegram's are.
const CALLBACK_QUERY_ID_BASE: u64 = 4_378_221_000_000_000_000;
const CHAT_INSTANCE_BASE: i64 = -3_105_000_000_000_000_000;
/// Update ids start high, as Telegram's do, so nothing may assume they start at 0 or 1.
const FIRST_UPDATE_ID: i64 = 700_000_001;

pub(crate) struct Shared {
    state: Mutex<State>,
    /// Bumped after every change that someone may be waiting for: new updates, bot messages,
    /// answers, a newer `getUpdates`.
    changed: watch::Sender<u64>,
}

impl Shared {
    /// A panic in a test while the lock is held must not hide the state from the rest of it.
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn changed(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

/// Aborts a task (the server, webhook deliveries) when the `FakeTelegram` is dropped; the
/// server's connections go with it.
struct Server(JoinHandle<()>);

impl Drop for Server {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[derive(Debug, Clone)]
pub(crate) struct UserProfile {
    first_name: String,
    username: Option<String>,
    language_code: Option<String>,
}

pub(crate) struct State {
    pub token: String,
    pub bot_id: i64,
    pub users: HashMap<i64, UserProfile>,
    pub chats: BTreeMap<i64, Chat>,
    pub next_update_id: i64,
    /// Updates not yet confirmed, oldest first.
    pub updates: VecDeque<(i64, Value)>,
    /// Counts `getUpdates` calls; a waiting call that sees a newer one ends with 409 Conflict.
    pub poll_generation: u64,
    /// Callback query id → answered.
    pub callback_queries: HashMap<String, bool>,
    pub callback_queries_made: u64,
    pub callback_answers: Vec<CallbackAnswer>,
    /// Lower-case method name → arrivals.
    pub calls: HashMap<String, Vec<Instant>>,
    pub rate_limits: HashMap<String, VecDeque<u32>>,
    pub outage: bool,
    pub unreachable: bool,
    pub commands: Vec<(String, String)>,
    pub webhook: Option<webhook::Webhook>,
    pub webhook_deliveries: Vec<WebhookDelivery>,
    pub webhook_retry_delay: Duration,
}

pub(crate) struct Chat {
    next_message_id: i32,
    pub messages: Vec<Stored>,
    pub blocked: bool,
}

/// A message in a chat, the user's or the bot's.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub id: i32,
    pub from_bot: bool,
    pub date: i64,
    pub content: Content,
    pub reply_to: Option<i32>,
    /// The inline keyboard, as `{"inline_keyboard": [[button, …], …]}`.
    pub markup: Option<Value>,
    pub edit_date: Option<i64>,
    pub edits: usize,
    pub sent_at: Instant,
    /// For the bot's messages: the text and parse mode as last sent.
    pub sent: Option<(String, Option<String>)>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Content {
    Text { text: String, entities: Vec<Value> },
    Sticker,
    Photo { caption: Option<String> },
}

impl Content {
    /// A user's text, with the `bot_command` entity Telegram adds to a leading command.
    fn text(text: &str) -> Content {
        let mut entities = Vec::new();
        if text.starts_with('/') {
            let command = text.split(char::is_whitespace).next().unwrap_or_default();
            if command.len() > 1 {
                entities.push(json!({"type": "bot_command", "offset": 0, "length": formatting::utf16_len(command)}));
            }
        }
        Content::Text { text: text.to_owned(), entities }
    }
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default()
}

/// The callback buttons of an inline keyboard as (text, callback_data), row by row.
fn callback_buttons(markup: Option<&Value>) -> Vec<(String, String)> {
    let rows = markup.and_then(|m| m["inline_keyboard"].as_array()).cloned().unwrap_or_default();
    rows.iter()
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|button| Some((button["text"].as_str()?.to_owned(), button["callback_data"].as_str()?.to_owned())))
        .collect()
}

impl Stored {
    fn bot_message(&self, chat_id: i64) -> BotMessage {
        let (text, entities) = match &self.content {
            Content::Text { text, entities } => (text.clone(), entities.clone()),
            _ => (String::new(), Vec::new()),
        };
        let (raw_text, parse_mode) = self.sent.clone().unwrap_or_else(|| (text.clone(), None));
        BotMessage {
            message_id: self.id,
            chat_id,
            text,
            raw_text,
            parse_mode,
            entities,
            buttons: callback_buttons(self.markup.as_ref()),
            edits: self.edits,
            reply_to: self.reply_to,
            sent_at: self.sent_at,
        }
    }

    fn describe(&self) -> String {
        let who = if self.from_bot { "bot" } else { "user" };
        let mut line = format!("#{} {who}", self.id);
        if let Some(reply_to) = self.reply_to {
            let _ = write!(line, " (reply to #{reply_to})");
        }
        match &self.content {
            Content::Text { text, .. } => {
                let _ = write!(line, ": {text:?}");
            }
            Content::Sticker => line.push_str(": [sticker]"),
            Content::Photo { caption } => {
                let _ = write!(line, ": [photo] {}", caption.as_deref().unwrap_or_default());
            }
        }
        let buttons = callback_buttons(self.markup.as_ref());
        if !buttons.is_empty() {
            let _ = write!(line, " buttons {buttons:?}");
        }
        if self.edits > 0 {
            let _ = write!(line, " (edited {}×)", self.edits);
        }
        line
    }
}

impl State {
    fn new(token: &str) -> State {
        let bot_id = token.split(':').next().and_then(|id| id.parse().ok()).unwrap_or(1);
        State {
            token: token.to_owned(),
            bot_id,
            users: HashMap::new(),
            chats: BTreeMap::new(),
            next_update_id: FIRST_UPDATE_ID,
            updates: VecDeque::new(),
            poll_generation: 0,
            callback_queries: HashMap::new(),
            callback_queries_made: 0,
            callback_answers: Vec::new(),
            calls: HashMap::new(),
            rate_limits: HashMap::new(),
            outage: false,
            unreachable: false,
            commands: Vec::new(),
            webhook: None,
            webhook_deliveries: Vec::new(),
            webhook_retry_delay: Duration::from_secs(1),
        }
    }

    pub fn chat(&mut self, chat_id: i64) -> &mut Chat {
        self.chats.entry(chat_id).or_insert_with(|| Chat { next_message_id: 1, messages: Vec::new(), blocked: false })
    }

    pub fn message(&self, chat_id: i64, message_id: i32) -> Option<&Stored> {
        self.chats.get(&chat_id)?.messages.iter().find(|m| m.id == message_id)
    }

    pub fn message_mut(&mut self, chat_id: i64, message_id: i32) -> Option<&mut Stored> {
        self.chats.get_mut(&chat_id)?.messages.iter_mut().find(|m| m.id == message_id)
    }

    /// Stores a new message under the chat's next id (shared by the user's and the bot's).
    pub fn add_message(
        &mut self,
        chat_id: i64,
        from_bot: bool,
        content: Content,
        reply_to: Option<i32>,
        markup: Option<Value>,
        sent: Option<(String, Option<String>)>,
    ) -> Stored {
        let chat = self.chat(chat_id);
        let id = chat.next_message_id;
        chat.next_message_id += 1;
        let message = Stored {
            id,
            from_bot,
            date: unix_now(),
            content,
            reply_to,
            markup,
            edit_date: None,
            edits: 0,
            sent_at: Instant::now(),
            sent,
        };
        chat.messages.push(message.clone());
        message
    }

    pub fn queue_update(&mut self, kind: &str, payload: Value) {
        let id = self.next_update_id;
        self.next_update_id += 1;
        self.updates.push_back((id, json!({"update_id": id, kind: payload})));
    }

    fn profile(&self, chat_id: i64) -> UserProfile {
        self.users.get(&chat_id).cloned().unwrap_or_else(|| UserProfile {
            first_name: "Test User".to_owned(),
            username: Some(format!("user{}", chat_id.unsigned_abs())),
            language_code: Some("en".to_owned()),
        })
    }

    pub fn user_json(&self, chat_id: i64) -> Value {
        let profile = self.profile(chat_id);
        let mut user = json!({"id": chat_id, "is_bot": false, "first_name": profile.first_name});
        if let Some(username) = profile.username {
            user["username"] = json!(username);
        }
        if let Some(language_code) = profile.language_code {
            user["language_code"] = json!(language_code);
        }
        user
    }

    pub fn bot_json(&self) -> Value {
        json!({"id": self.bot_id, "is_bot": true, "first_name": "Test Bot", "username": BOT_USERNAME})
    }

    fn chat_json(&self, chat_id: i64) -> Value {
        let profile = self.profile(chat_id);
        let mut chat = json!({"id": chat_id, "type": "private", "first_name": profile.first_name});
        if let Some(username) = profile.username {
            chat["username"] = json!(username);
        }
        chat
    }

    /// A message in the Bot API's shape. Like Telegram, a replied-to message is included in full
    /// but without its own `reply_to_message`.
    pub fn message_json(&self, chat_id: i64, message: &Stored, with_reply: bool) -> Value {
        let from = if message.from_bot { self.bot_json() } else { self.user_json(chat_id) };
        let mut json = json!({
            "message_id": message.id,
            "from": from,
            "chat": self.chat_json(chat_id),
            "date": message.date,
        });
        if let Some(edit_date) = message.edit_date {
            json["edit_date"] = json!(edit_date);
        }
        if with_reply {
            if let Some(replied) = message.reply_to.and_then(|id| self.message(chat_id, id)) {
                json["reply_to_message"] = self.message_json(chat_id, replied, false);
            }
        }
        // File ids are unique per message, as Telegram's are per file.
        let file_id = |kind: &str, n: usize| format!("{kind}-{chat_id}-{}-{n}", message.id);
        match &message.content {
            Content::Text { text, entities } => {
                json["text"] = json!(text);
                if !entities.is_empty() {
                    json["entities"] = json!(entities);
                }
            }
            Content::Sticker => {
                json["sticker"] = json!({
                    "file_id": file_id("CAACAgIAAxkBAAIS", 0),
                    "file_unique_id": file_id("AgADsticker", 0),
                    "type": "regular",
                    "width": 512,
                    "height": 512,
                    "is_animated": false,
                    "is_video": false,
                    "emoji": "👍",
                    "set_name": "FakeStickers",
                    "file_size": 23_456,
                    "thumbnail": {
                        "file_id": file_id("AAMCAgADGQEAAIS", 0),
                        "file_unique_id": file_id("AQADthumb", 0),
                        "width": 128,
                        "height": 128,
                        "file_size": 4_321,
                    },
                });
            }
            Content::Photo { caption } => {
                let sizes = [(90, 68, 1_372), (320, 240, 17_085), (800, 600, 63_930), (1280, 960, 123_456)];
                let photo: Vec<Value> = sizes
                    .iter()
                    .enumerate()
                    .map(|(n, &(width, height, size))| {
                        json!({
                            "file_id": file_id("AgACAgIAAxkBAAIS", n),
                            "file_unique_id": file_id("AQADphoto", n),
                            "width": width,
                            "height": height,
                            "file_size": size,
                        })
                    })
                    .collect();
                json["photo"] = json!(photo);
                if let Some(caption) = caption {
                    json["caption"] = json!(caption);
                }
            }
        }
        if let Some(markup) = &message.markup {
            json["reply_markup"] = markup.clone();
        }
        json
    }

    pub fn transcript(&self, chat_id: i64) -> String {
        let Some(chat) = self.chats.get(&chat_id) else { return format!("(chat {chat_id} has no messages)") };
        let lines: Vec<String> = chat.messages.iter().map(Stored::describe).collect();
        if lines.is_empty() {
            format!("(chat {chat_id} has no messages)")
        } else {
            lines.join("\n")
        }
    }
}
