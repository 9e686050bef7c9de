//! Webhook mode: a real teloxide `Bot` sets the webhook, and a small HTTP server on loopback plays
//! the bot's endpoint that the fake delivers updates to.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use fake_telegram::{FakeTelegram, WebhookDelivery};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{HeaderMap, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use teloxide::payloads::{DeleteWebhookSetters, GetUpdatesSetters, SendMessageSetters, SetWebhookSetters};
use teloxide::requests::Requester;
use teloxide::types::{ChatId, InlineKeyboardButton, InlineKeyboardMarkup, Update, UpdateKind};
use teloxide::{ApiError, Bot, RequestError};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const TOKEN: &str = "123456789:AAF-fake-token";
const CHAT: i64 = 4242;
const SECRET: &str = "s3cret_-Token";
const WEBHOOK_ACTIVE: &str =
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first";

async fn fake_and_bot() -> (FakeTelegram, Bot) {
    let fake = FakeTelegram::start(TOKEN).await;
    let bot = Bot::new(TOKEN).set_api_url(fake.api_url().parse().unwrap());
    (fake, bot)
}

/// A request the receiver got.
struct Post {
    method: String,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Post {
    /// teloxide reads an update from bytes only: from a `serde_json::Value` its message is lost.
    fn update(&self) -> Update {
        serde_json::from_slice(&self.body).expect("a teloxide Update")
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// The bot's endpoint: answers each POST with the next of `statuses`, then with `then`.
struct Receiver {
    url: String,
    posts: mpsc::UnboundedReceiver<Post>,
    task: JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receiver(statuses: &[u16], then: u16) -> Receiver {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/telegram/hook?bot=1", listener.local_addr().unwrap());
    let (sender, posts) = mpsc::unbounded_channel();
    let statuses = Arc::new(Mutex::new(statuses.iter().copied().collect::<VecDeque<u16>>()));
    let task = tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (sender, statuses) = (sender.clone(), statuses.clone());
            let service = service_fn(move |request: Request<Incoming>| {
                let (sender, statuses) = (sender.clone(), statuses.clone());
                async move {
                    let (parts, body) = request.into_parts();
                    let body = body.collect().await?.to_bytes();
                    let _ = sender.send(Post {
                        method: parts.method.to_string(),
                        path: parts.uri.to_string(),
                        headers: parts.headers,
                        body,
                    });
                    let status = statuses.lock().unwrap().pop_front().unwrap_or(then);
                    let mut response = Response::new(Full::new(Bytes::new()));
                    *response.status_mut() = StatusCode::from_u16(status).unwrap();
                    Ok::<_, hyper::Error>(response)
                }
            });
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    Receiver { url, posts, task }
}

impl Receiver {
    async fn next(&mut self) -> Post {
        tokio::time::timeout(Duration::from_secs(5), self.posts.recv()).await.expect("a POST within 5 s").unwrap()
    }
}

/// Waits until `done` holds of the fake's delivery attempts.
async fn deliveries(fake: &FakeTelegram, done: impl Fn(&[WebhookDelivery]) -> bool) -> Vec<WebhookDelivery> {
    for _ in 0..500 {
        let deliveries = fake.webhook_deliveries();
        if done(&deliveries) {
            return deliveries;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("deliveries so far: {:#?}", fake.webhook_deliveries());
}

fn text(update: &Update) -> Option<&str> {
    match &update.kind {
        UpdateKind::Message(message) => message.text(),
        _ => None,
    }
}

#[tokio::test]
async fn each_update_arrives_as_a_post_with_the_secret_and_get_updates_conflicts() {
    let (fake, bot) = fake_and_bot().await;
    let mut endpoint = receiver(&[], 200).await;
    bot.set_webhook(endpoint.url.parse().unwrap()).secret_token(SECRET).await.unwrap();
    assert_eq!(fake.calls("setWebhook").len(), 1);
    let hook = fake.webhook().expect("a webhook is set");
    assert_eq!((hook.url.as_str(), hook.secret.as_deref()), (endpoint.url.as_str(), Some(SECRET)));

    let message_id = fake.send_text(CHAT, "/start hook");
    let post = endpoint.next().await;
    assert_eq!((post.method.as_str(), post.path.as_str()), ("POST", "/telegram/hook?bot=1"));
    assert_eq!(post.headers["content-type"], "application/json");
    assert_eq!(post.headers["x-telegram-bot-api-secret-token"], SECRET);
    let update = post.update();
    assert_eq!(text(&update), Some("/start hook"));
    let UpdateKind::Message(message) = &update.kind else { unreachable!() };
    assert_eq!(message.id.0, message_id);
    assert_eq!(post.json()["message"]["from"]["id"], json!(CHAT));

    let delivered = deliveries(&fake, |d| !d.is_empty()).await;
    assert_eq!((delivered[0].update_id, delivered[0].status), (update.id.0 as i64, Some(200)));
    assert_eq!(fake.pending_updates(), 0);

    let refused = bot.get_updates().await;
    assert!(
        matches!(&refused, Err(RequestError::Api(ApiError::Unknown(text))) if text == WEBHOOK_ACTIVE),
        "{refused:?}"
    );
    let response = reqwest::get(format!("{}/bot{TOKEN}/getUpdates", fake.api_url())).await.unwrap();
    assert_eq!(response.status(), 409);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"ok": false, "error_code": 409, "description": WEBHOOK_ACTIVE})
    );

    let info = bot.get_webhook_info().await.unwrap();
    assert_eq!(info.url.map(String::from), Some(endpoint.url.clone()));
    assert_eq!((info.pending_update_count, info.last_error_message), (0, None));
}

#[tokio::test]
async fn a_failing_endpoint_gets_the_update_again_until_it_answers_2xx_and_in_order() {
    let (fake, bot) = fake_and_bot().await;
    fake.set_webhook_retry_delay(Duration::from_millis(100));
    let first = fake.send_text(CHAT, "first");
    let keyboard = InlineKeyboardMarkup::new([[InlineKeyboardButton::callback("Go", "go")]]);
    let sent = bot.send_message(ChatId(CHAT), "Ready?").reply_markup(keyboard).await.unwrap();
    let query_id = fake.press_button(CHAT, sent.id.0, "go");

    let mut endpoint = receiver(&[500, 500], 204).await;
    bot.set_webhook(endpoint.url.parse().unwrap()).await.unwrap();
    let mut posts = Vec::new();
    for _ in 0..4 {
        posts.push(endpoint.next().await);
    }
    assert!(posts.iter().all(|post| !post.headers.contains_key("x-telegram-bot-api-secret-token")));
    let updates: Vec<Update> = posts.iter().map(Post::update).collect();
    assert!(updates[..3].iter().all(|u| text(u) == Some("first") && u.id == updates[0].id));
    assert!(matches!(&updates[3].kind, UpdateKind::CallbackQuery(query) if query.id.0 == query_id));
    assert!(matches!(&updates[0].kind, UpdateKind::Message(message) if message.id.0 == first));
    assert!(updates[3].id.0 > updates[0].id.0);

    let attempts = deliveries(&fake, |d| d.len() == 4).await;
    let statuses: Vec<Option<u16>> = attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(500), Some(500), Some(204), Some(204)]);
    assert!(attempts.windows(2).take(2).all(|w| w[1].at - w[0].at >= Duration::from_millis(100)), "{attempts:#?}");
    assert_eq!(fake.pending_updates(), 0);

    let info = bot.get_webhook_info().await.unwrap();
    let error = "Wrong response from the webhook: 500 Internal Server Error";
    assert_eq!(info.last_error_message.as_deref(), Some(error));
    assert!(info.last_error_date.is_some());
    assert_eq!(fake.webhook().unwrap().last_error_message.as_deref(), Some(error));
}

#[tokio::test]
async fn delete_webhook_hands_the_queued_updates_back_to_get_updates() {
    let (fake, bot) = fake_and_bot().await;
    fake.set_webhook_retry_delay(Duration::from_millis(20));
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    bot.set_webhook(format!("http://{closed}/hook").parse().unwrap()).await.unwrap();
    fake.send_text(CHAT, "one");
    fake.send_text(CHAT, "two");
    let attempts = deliveries(&fake, |d| d.len() >= 2).await;
    assert!(attempts.iter().all(|a| a.status.is_none() && a.update_id == attempts[0].update_id));
    let info = bot.get_webhook_info().await.unwrap();
    assert_eq!((info.pending_update_count, info.last_error_message.as_deref()), (2, Some("Connection refused")));

    bot.delete_webhook().await.unwrap();
    assert_eq!(fake.webhook(), None);
    assert_eq!(bot.get_webhook_info().await.unwrap().url, None);
    let got = bot.get_updates().await.unwrap();
    assert_eq!(got.iter().map(text).collect::<Vec<_>>(), [Some("one"), Some("two")]);
    let stopped = fake.webhook_deliveries().len();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(fake.webhook_deliveries().len(), stopped, "no deliveries without a webhook");

    bot.set_webhook(format!("http://{closed}/hook").parse().unwrap()).await.unwrap();
    bot.delete_webhook().drop_pending_updates(true).await.unwrap();
    assert_eq!(fake.pending_updates(), 0);
}

#[tokio::test]
async fn set_webhook_checks_its_parameters_and_an_empty_url_removes_it() {
    let (fake, bot) = fake_and_bot().await;
    let unallowed = "Bad Request: secret token contains unallowed characters";
    let refused = bot.set_webhook("http://127.0.0.1:9/hook".parse().unwrap()).secret_token("a+b").await;
    assert!(matches!(&refused, Err(RequestError::Api(ApiError::Unknown(text))) if text == unallowed), "{refused:?}");
    let set = |body: Value| {
        let url = format!("{}/bot{TOKEN}/setWebhook", fake.api_url());
        async move {
            let response = reqwest::Client::new().post(url).json(&body).send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };
    for secret in [String::new(), "x".repeat(257), "sp ace".to_owned()] {
        let (status, body) = set(json!({"url": "http://127.0.0.1:9/", "secret_token": secret})).await;
        assert_eq!((status, body["description"].as_str()), (400, Some(unallowed)));
    }
    assert_eq!(set(json!({"url": "not a url"})).await.0, 400);
    assert_eq!(set(json!({"url": "https://example.com/hook"})).await.0, 400);
    assert_eq!(fake.webhook(), None);

    let (status, body) = set(json!({
        "url": "http://127.0.0.1:9/hook",
        "secret_token": "x".repeat(256),
        "allowed_updates": ["message", "callback_query"],
        "max_connections": 5,
    }))
    .await;
    assert_eq!((status, body), (200, json!({"ok": true, "result": true})));
    let hook = fake.webhook().unwrap();
    assert_eq!((hook.allowed_updates.len(), hook.max_connections), (2, 5));
    assert_eq!(set(json!({"url": ""})).await.0, 200);
    assert_eq!(fake.webhook(), None);

    // setWebhook ends a waiting long poll; drop_pending_updates forgets the queue.
    let poll = tokio::spawn({
        let bot = bot.clone();
        async move { bot.get_updates().timeout(5).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    fake.set_webhook_retry_delay(Duration::from_secs(60));
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    bot.set_webhook(format!("http://{closed}/").parse().unwrap()).await.unwrap();
    let ended = poll.await.unwrap();
    assert!(
        matches!(&ended, Err(RequestError::Api(ApiError::Unknown(text))) if text == "Conflict: terminated by setWebhook request"),
        "{ended:?}"
    );
    fake.send_text(CHAT, "never mind");
    bot.set_webhook(format!("http://{closed}/").parse().unwrap()).drop_pending_updates(true).await.unwrap();
    assert_eq!(fake.pending_updates(), 0);
    assert_eq!(fake.calls("setWebhook").len(), 10);
}

#[tokio::test]
async fn dropping_the_fake_stops_deliveries() {
    let (fake, bot) = fake_and_bot().await;
    fake.set_webhook_retry_delay(Duration::from_millis(10));
    let mut endpoint = receiver(&[], 503).await;
    bot.set_webhook(endpoint.url.parse().unwrap()).await.unwrap();
    fake.send_text(CHAT, "anyone?");
    endpoint.next().await;
    endpoint.next().await;
    drop(fake);
    tokio::time::sleep(Duration::from_millis(100)).await;
    while endpoint.posts.try_recv().is_ok() {}
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(endpoint.posts.try_recv().is_err(), "a delivery after the fake was dropped");
}
