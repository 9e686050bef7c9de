//! The control API driven over real HTTP, as a browser test drives it, while a real teloxide
//! `Bot` plays the bot.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use fake_telegram::{serve_control, FakeTelegram};
use serde_json::{json, Value};
use teloxide::payloads::{AnswerCallbackQuerySetters, GetUpdatesSetters, SendMessageSetters};
use teloxide::requests::Requester;
use teloxide::types::{
    ChatId, InlineKeyboardButton, InlineKeyboardMarkup, MessageId, ReplyParameters, Update, UpdateKind,
};
use teloxide::Bot;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const TOKEN: &str = "123456789:AAF-fake-token";
const CHAT: i64 = 5_123_456_789;

/// The fake, its control API's URL and the bot; the control server stops when this is dropped.
struct Setup {
    fake: Arc<FakeTelegram>,
    control: String,
    bot: Bot,
    server: JoinHandle<()>,
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn setup() -> Setup {
    let fake = Arc::new(FakeTelegram::start(TOKEN).await);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let control = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(serve_control(fake.clone(), listener));
    let bot = Bot::new(TOKEN).set_api_url(fake.api_url().parse().unwrap());
    Setup { fake, control, bot, server }
}

/// Sends a request with `body` as raw JSON text; answers the status and the JSON answer.
async fn request(method: &str, url: &str, body: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method.parse().unwrap(), url);
    if let Some(body) = body {
        request = request.header("content-type", "application/json").body(body.to_owned());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert_eq!(content_type, "application/json", "{method} {url}");
    (status, response.json().await.unwrap())
}

async fn post(url: &str, body: Value) -> (u16, Value) {
    request("POST", url, Some(&body.to_string())).await
}

async fn get(url: &str) -> (u16, Value) {
    request("GET", url, None).await
}

async fn updates(bot: &Bot, offset: &mut i32) -> Vec<Update> {
    let updates = bot.get_updates().offset(*offset).timeout(5).await.expect("getUpdates");
    if let Some(last) = updates.last() {
        *offset = last.id.0 as i32 + 1;
    }
    updates
}

#[tokio::test]
async fn user_messages_posted_over_http_reach_get_updates() {
    let Setup { control, bot, .. } = &setup().await;
    let chat = format!("{control}/chats/{CHAT}");
    assert_eq!(post(&format!("{chat}/messages"), json!({"text": "/start now"})).await, (201, json!({"message_id": 1})));
    assert_eq!(post(&format!("{chat}/stickers"), json!(null)).await, (201, json!({"message_id": 2})));
    assert_eq!(request("POST", &format!("{chat}/photos"), None).await, (201, json!({"message_id": 3})));
    let reply = post(&format!("{chat}/messages"), json!({"text": "about that", "reply_to": 1})).await;
    assert_eq!(reply, (201, json!({"message_id": 4})));

    let got = updates(bot, &mut 0).await;
    let messages: Vec<_> = got
        .iter()
        .map(|update| match &update.kind {
            UpdateKind::Message(message) => message,
            other => panic!("expected a message, got {other:?}"),
        })
        .collect();
    assert_eq!(messages.len(), 4);
    assert!(messages.iter().all(|m| m.chat.id == ChatId(CHAT)));
    assert_eq!(messages[0].text(), Some("/start now"));
    assert!(messages[1].sticker().is_some());
    assert!(messages[2].photo().is_some());
    assert_eq!(messages[3].text(), Some("about that"));
    assert_eq!(messages[3].reply_to_message().map(|m| m.id), Some(MessageId(1)));
}

#[tokio::test]
async fn the_bots_keyboard_shows_and_a_press_arrives_as_a_callback_query() {
    let Setup { fake, control, bot, .. } = &setup().await;
    let chat = format!("{control}/chats/{CHAT}");
    assert_eq!(get(&format!("{chat}/bot-messages")).await, (200, json!([])));
    let (_, sent) = post(&format!("{chat}/messages"), json!({"text": "Shall we?"})).await;
    let question = sent["message_id"].as_i64().unwrap() as i32;
    let mut offset = 0;
    assert_eq!(updates(bot, &mut offset).await.len(), 1);

    let keyboard = InlineKeyboardMarkup::new([[
        InlineKeyboardButton::callback("Yes", "answer:yes"),
        InlineKeyboardButton::callback("No", "answer:no"),
    ]]);
    let pick = bot
        .send_message(ChatId(CHAT), "Pick one")
        .reply_markup(keyboard)
        .reply_parameters(ReplyParameters::new(MessageId(question)))
        .await
        .unwrap();
    assert_eq!(
        get(&format!("{chat}/bot-messages")).await,
        (
            200,
            json!([{
                "message_id": pick.id.0,
                "text": "Pick one",
                "buttons": [{"text": "Yes", "data": "answer:yes"}, {"text": "No", "data": "answer:no"}],
                "edits": 0,
                "reply_to": question,
            }])
        )
    );

    let (status, pressed) =
        post(&format!("{chat}/presses"), json!({"message_id": pick.id.0, "data": "answer:no"})).await;
    assert_eq!(status, 201);
    let query_id = pressed["callback_query_id"].as_str().unwrap().to_owned();
    let got = updates(bot, &mut offset).await;
    let [Update { kind: UpdateKind::CallbackQuery(query), .. }] = got.as_slice() else {
        panic!("one callback query: {got:?}")
    };
    assert_eq!(query.id.0, query_id);
    assert_eq!(query.data.as_deref(), Some("answer:no"));
    assert_eq!(query.regular_message().map(|m| m.id), Some(pick.id));

    assert_eq!(get(&format!("{control}/callback-answers")).await, (200, json!([])));
    bot.answer_callback_query(query.id.clone()).text("Maybe later").await.unwrap();
    assert_eq!(
        get(&format!("{control}/callback-answers")).await,
        (200, json!([{"callback_query_id": query_id, "text": "Maybe later", "show_alert": false}]))
    );

    bot.edit_message_text(ChatId(CHAT), pick.id, "Later, then").await.unwrap();
    let (_, now) = get(&format!("{chat}/bot-messages")).await;
    assert_eq!((&now[0]["text"], &now[0]["edits"], &now[0]["buttons"]), (&json!("Later, then"), &json!(1), &json!([])));
    assert_eq!(fake.bot_messages(CHAT).len(), 1);
}

#[tokio::test]
async fn bad_input_is_refused_and_the_server_keeps_serving() {
    let Setup { fake, control, bot, .. } = &setup().await;
    let chat = format!("{control}/chats/{CHAT}");
    post(&format!("{chat}/messages"), json!({"text": "hi"})).await;
    let mut offset = 0;
    updates(bot, &mut offset).await;
    let buttons = InlineKeyboardMarkup::new([[InlineKeyboardButton::callback("Go", "go")]]);
    let pick = bot.send_message(ChatId(CHAT), "Go?").reply_markup(buttons).await.unwrap().id.0;

    let big = format!(r#"{{"text": "{}"}}"#, "x".repeat(64 * 1024));
    let cases: Vec<(&str, String, Option<String>, u16, &str)> = vec![
        ("POST", format!("{chat}/messages"), Some("{not json".into()), 400, "malformed JSON"),
        ("POST", format!("{chat}/messages"), Some("[1]".into()), 400, "must be a JSON object"),
        ("POST", format!("{chat}/messages"), None, 400, "malformed JSON"),
        ("POST", format!("{chat}/messages"), Some("{}".into()), 400, "text is missing"),
        ("POST", format!("{chat}/messages"), Some(r#"{"text": 5}"#.into()), 400, "text must be a string"),
        ("POST", format!("{chat}/messages"), Some(r#"{"text": "  "}"#.into()), 400, "text is empty"),
        ("POST", format!("{chat}/messages"), Some(r#"{"text": "x", "reply_to": 99}"#.into()), 400, "no message 99"),
        ("POST", format!("{chat}/messages"), Some(r#"{"text": "x", "reply_to": "1"}"#.into()), 400, "reply_to must"),
        ("POST", format!("{chat}/messages"), Some(big), 413, "larger than"),
        ("POST", format!("{control}/chats/abc/messages"), Some(r#"{"text": "x"}"#.into()), 400, "not an integer"),
        (
            "POST",
            format!("{control}/chats/5/presses"),
            Some(r#"{"message_id": 1, "data": "go"}"#.into()),
            400,
            "no chat 5",
        ),
        ("POST", format!("{chat}/presses"), Some(r#"{"message_id": 77, "data": "go"}"#.into()), 400, "no message 77"),
        ("POST", format!("{chat}/presses"), Some(r#"{"message_id": 1, "data": "go"}"#.into()), 400, "the user's"),
        (
            "POST",
            format!("{chat}/presses"),
            Some(format!(r#"{{"message_id": {pick}, "data": "stop"}}"#)),
            400,
            "no button",
        ),
        ("POST", format!("{chat}/presses"), Some(r#"{"data": "go"}"#.into()), 400, "message_id is missing"),
        ("POST", format!("{chat}/presses"), Some(format!(r#"{{"message_id": {pick}}}"#)), 400, "data is missing"),
        ("GET", format!("{control}/nowhere"), None, 404, "not found"),
        ("POST", format!("{chat}/videos"), None, 404, "not found"),
        ("GET", format!("{chat}/messages"), None, 405, "use POST"),
        ("POST", format!("{control}/healthz"), None, 405, "use GET"),
        ("DELETE", format!("{chat}/bot-messages"), None, 405, "use GET"),
    ];
    for (method, url, body, status, error) in cases {
        let (got_status, got) = request(method, &url, body.as_deref()).await;
        let message = got["error"].as_str().unwrap_or_default();
        assert!(got_status == status && message.contains(error), "{method} {url}: {got_status} {got}");
    }

    assert_eq!(get(&format!("{control}/healthz")).await, (200, json!({"ok": true})));
    let pressed = post(&format!("{chat}/presses"), json!({"message_id": pick, "data": "go"})).await;
    assert_eq!(pressed.0, 201);
    let got = updates(bot, &mut offset).await;
    assert!(matches!(got.as_slice(), [Update { kind: UpdateKind::CallbackQuery(_), .. }]), "only the press: {got:?}");
    let transcript = fake.transcript(CHAT);
    assert_eq!(transcript.lines().count(), 2, "nothing refused was stored:\n{transcript}");
}

/// Kills the binary when the test ends, passed or not.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_binary_serves_both_ports() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fake-telegram"))
        .args(["--listen", "127.0.0.1:0", "--control", "127.0.0.1:0", "--token", TOKEN])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _running = Running(child);
    let (api, control) = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
        let mut url = |prefix: &str| {
            let line = lines.next().expect("a line on stdout");
            let rest = line.strip_prefix(prefix).unwrap_or_else(|| panic!("{line:?} starts with {prefix:?}"));
            rest.split_whitespace().next().unwrap().to_owned()
        };
        (url("fake-telegram: API URL "), url("fake-telegram: control API "))
    })
    .await
    .unwrap();

    assert_eq!(get(&format!("{control}/healthz")).await, (200, json!({"ok": true})));
    assert_eq!(post(&format!("{control}/chats/7/messages"), json!({"text": "hello"})).await.0, 201);
    let bot = Bot::new(TOKEN).set_api_url(api.parse().unwrap());
    let got = updates(&bot, &mut 0).await;
    let [Update { kind: UpdateKind::Message(message), .. }] = got.as_slice() else { panic!("one message: {got:?}") };
    assert_eq!((message.chat.id, message.text()), (ChatId(7), Some("hello")));
}
