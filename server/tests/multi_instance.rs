//! Two real server processes on one PostgreSQL and one Redis, as behind a load balancer with no
//! stickiness: a reply driven by one instance streams to clients of the other, a client that
//! moves between instances mid-reply with `Last-Event-ID` gets every delta exactly once, a page
//! rendered on the other instance mid-reply shows the text so far, and when Redis restarts
//! mid-reply the clients recover and no message is left `streaming`.

mod common;

use std::time::Duration;

use common::process::{fresh_database, post, ServerProcess};
use common::{eventually, Db};
use eventsource_stream::Event;
use fake_llm::{FakeLlm, Reply};
use futures::{Stream, StreamExt};
use serde_json::{json, Value};
use services::testing::{redis_server_url, PrivateRedis};

const WORDS: usize = 80;

fn reply_words() -> String {
    (0..WORDS).map(|i| format!("w{i}")).collect::<Vec<_>>().join(" ")
}

struct Pair {
    a: ServerProcess,
    b: ServerProcess,
    /// Instance `a`'s JSON log.
    a_log: tempfile::NamedTempFile,
    _database: storage::testing::TestDatabase,
    token: String,
    client: reqwest::Client,
    room_id: String,
}

/// Instances `a` and `b` on a fresh PostgreSQL database and `redis_url`, a person signed up on
/// `a`, and a room with one agent made on `a`.
async fn pair(fake: &FakeLlm, redis_url: &str) -> Pair {
    let database = fresh_database(Db::Postgres).await;
    let a_log = tempfile::NamedTempFile::new().unwrap();
    let a = ServerProcess::start_with(
        &database.url,
        fake,
        Some(a_log.path()),
        &[("REDIS_URL", redis_url), ("INSTANCE_ID", "a")],
    );
    let b = ServerProcess::start_with(&database.url, fake, None, &[("REDIS_URL", redis_url), ("INSTANCE_ID", "b")]);
    a.wait_ready().await;
    b.wait_ready().await;
    let token = common::sign_up_over_http(&a.base, "Scale Tester").await;
    let client = common::client_with_token(&token);
    let room = post(&client, format!("{}/api/rooms", a.base), json!({"name": "Two instances"})).await;
    let room_id = room["id"].as_str().unwrap().to_owned();
    let agent = json!({"name": "Ada", "model": "gpt-4o-mini", "system_prompt": "", "temperature": 0.3});
    post(&client, format!("{}/api/rooms/{room_id}/agents", a.base), agent).await;
    Pair { a, b, a_log, _database: database, token, client, room_id }
}

impl Pair {
    fn stream_url(&self, server: &ServerProcess) -> String {
        format!("{}/api/rooms/{}/stream", server.base, self.room_id)
    }

    async fn say(&self, server: &ServerProcess, content: &str) {
        let url = format!("{}/api/rooms/{}/messages", server.base, self.room_id);
        post(&self.client, url, json!({ "content": content })).await;
    }
}

async fn next_event(stream: &mut (impl Stream<Item = Event> + Unpin)) -> Event {
    tokio::time::timeout(Duration::from_secs(20), stream.next())
        .await
        .expect("an event within 20 s")
        .expect("the stream is open")
}

fn is_agent_done(event: &Event) -> bool {
    event.event == "message.done" && serde_json::from_str::<Value>(&event.data).unwrap()["sender_type"] == "agent"
}

/// The agent message `events` end with (its `message.done`).
fn done_message(events: &[Event]) -> Value {
    let done = events.last().expect("events");
    assert!(is_agent_done(done));
    serde_json::from_str(&done.data).unwrap()
}

/// Appends the deltas of `message` among `events` to `text`, checking each begins where the
/// text so far ends.
fn apply_deltas(text: &mut String, events: &[Event], message: &Value) {
    for event in events.iter().filter(|e| e.event == "message.delta") {
        let delta: Value = serde_json::from_str(&event.data).unwrap();
        if delta["message_id"] != message["id"] {
            continue;
        }
        assert_eq!(delta["offset"].as_u64().unwrap() as usize, text.len(), "no delta missed or repeated");
        text.push_str(delta["delta"].as_str().unwrap());
    }
}

#[tokio::test]
async fn a_reply_driven_on_one_instance_streams_to_clients_of_the_other() {
    let fake = FakeLlm::start(Reply::words(&reply_words()).with_token_delay(Duration::from_millis(10))).await;
    let pair = pair(&fake, &redis_server_url()).await;
    let mut on_b = common::sse_connect(&pair.token, &pair.stream_url(&pair.b), None).await;
    let mut on_a = common::sse_connect(&pair.token, &pair.stream_url(&pair.a), None).await;
    pair.say(&pair.a, "tell me a long story").await;

    let mut seen_on = Vec::new();
    for stream in [&mut on_a, &mut on_b] {
        let mut events = Vec::new();
        loop {
            let event = next_event(stream).await;
            let done = is_agent_done(&event);
            events.push(event);
            if done {
                break;
            }
        }
        seen_on.push(events);
    }
    let ids = |events: &[Event]| events.iter().map(|e| (e.id.clone(), e.event.clone())).collect::<Vec<_>>();
    assert_eq!(ids(&seen_on[0]), ids(&seen_on[1]), "both instances' clients see the same events with the same ids");
    let done = done_message(&seen_on[1]);
    let mut text = String::new();
    apply_deltas(&mut text, &seen_on[1], &done);
    assert_eq!(done["content"].as_str(), Some(text.as_str()));
    assert_eq!(text.split_whitespace().count(), WORDS);

    for server in [&pair.a, &pair.b] {
        let ready: Value = reqwest::get(format!("{}/readyz", server.base)).await.unwrap().json().await.unwrap();
        assert_eq!((ready["database"].as_str(), ready["redis"].as_str()), (Some("postgres"), Some("ready")));
    }
    // Every log line and every metric names the instance.
    let log = std::fs::read_to_string(pair.a_log.path()).unwrap();
    assert!(log.lines().count() > 1, "{log}");
    for line in log.lines() {
        let line: Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("a JSON line: {line}"));
        assert_eq!(line["instance"], "a", "{line}");
    }
    let metrics = reqwest::get(format!("{}/metrics", pair.b.base)).await.unwrap().text().await.unwrap();
    assert!(
        metrics.lines().any(|l| l.starts_with("http_requests_total{") && l.contains("instance=\"b\"")),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_client_moving_between_instances_mid_reply_gets_every_delta_once() {
    let fake = FakeLlm::start(Reply::words(&reply_words()).with_token_delay(Duration::from_millis(15))).await;
    let pair = pair(&fake, &redis_server_url()).await;
    let mut on_a = common::sse_connect(&pair.token, &pair.stream_url(&pair.a), None).await;
    pair.say(&pair.a, "go on").await;

    // Part of the reply on instance a...
    let mut first_part = Vec::new();
    while first_part.iter().filter(|e: &&Event| e.event == "message.delta").count() < 10 {
        first_part.push(next_event(&mut on_a).await);
    }
    let last_seen = first_part.last().unwrap().id.clone();
    drop(on_a);
    // ...meanwhile a page rendered by instance b shows at least the text seen so far (the
    // database copy is saved only every half second)...
    let agent_message: Value = first_part
        .iter()
        .filter(|e| e.event == "message.new")
        .map(|e| serde_json::from_str::<Value>(&e.data).unwrap())
        .find(|m| m["sender_type"] == "agent")
        .expect("the agent message began on a");
    let mut text_so_far = String::new();
    apply_deltas(&mut text_so_far, &first_part, &agent_message);
    let page = pair
        .client
        .get(format!("{}/rooms/{}", pair.b.base, pair.room_id))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(text_so_far.trim_end()), "the page on b shows {text_so_far:?}");
    // ...and the rest on instance b, resumed with the last id seen on a.
    let mut on_b = common::sse_connect(&pair.token, &pair.stream_url(&pair.b), Some(&last_seen)).await;
    let mut rest = Vec::new();
    loop {
        let event = next_event(&mut on_b).await;
        assert_ne!(event.event, "stream.reset", "the id from instance a resumes on instance b");
        let done = is_agent_done(&event);
        rest.push(event);
        if done {
            break;
        }
    }
    let done = done_message(&rest);
    assert_eq!(done["id"], agent_message["id"]);
    let mut text = String::new();
    apply_deltas(&mut text, &first_part, &done);
    apply_deltas(&mut text, &rest, &done);
    assert_eq!(done["content"].as_str(), Some(text.as_str()), "every delta exactly once");
    assert_eq!(text.split_whitespace().count(), WORDS);
}

#[tokio::test]
async fn redis_restarted_mid_reply_clients_recover_and_nothing_is_left_streaming() {
    let fake = FakeLlm::start(Reply::words(&reply_words()).with_token_delay(Duration::from_millis(25))).await;
    let mut redis = PrivateRedis::start().await;
    let pair = pair(&fake, &redis.url()).await;
    let mut on_b = common::sse_connect_fallible(&pair.token, &pair.stream_url(&pair.b), None).await;
    pair.say(&pair.a, "keep talking").await;
    let mut last_id = String::new();
    while let Some(Ok(event)) = tokio::time::timeout(Duration::from_secs(20), on_b.next()).await.unwrap() {
        last_id = event.id.clone();
        if event.event == "message.delta" {
            break;
        }
    }
    assert!(!last_id.is_empty());

    redis.stop();
    // The client is told to reload (or its stream ends and it reconnects).
    let told = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(Ok(event)) = on_b.next().await {
            if event.event == "stream.reset" {
                return true;
            }
        }
        true
    })
    .await;
    assert!(told.is_ok(), "the client learns the live feed broke");
    let ready = format!("{}/readyz", pair.b.base);
    assert_eq!(reqwest::get(&ready).await.unwrap().status(), 503, "not ready without Redis");
    redis.restart().await;
    // Each instance finds Redis again by itself, as a browser's retries would.
    for server in [&pair.a, &pair.b] {
        let ready = format!("{}/readyz", server.base);
        eventually(Duration::from_secs(20), "the instance to be ready again", || async {
            reqwest::get(&ready).await.is_ok_and(|r| r.status() == 200)
        })
        .await;
    }

    // The reply itself never depended on Redis: it ends, and its row says so.
    let messages_url = format!("{}/api/rooms/{}/messages", pair.b.base, pair.room_id);
    eventually(Duration::from_secs(30), "the reply to finish", || async {
        let page: Value = pair.client.get(&messages_url).send().await.unwrap().json().await.unwrap();
        let messages = page["messages"].as_array().unwrap().clone();
        messages.iter().any(|m| m["sender_type"] == "agent" && m["status"] == "complete")
            && messages.iter().all(|m| m["status"] != "streaming")
    })
    .await;
    // Reconnecting with the old id: the restarted Redis cannot replay it, so the client reloads;
    // a fresh stream then carries the next reply to its end.
    let mut resumed = common::sse_connect(&pair.token, &pair.stream_url(&pair.b), Some(&last_id)).await;
    assert_eq!(next_event(&mut resumed).await.event, "stream.reset");
    drop(resumed);
    let mut fresh = common::sse_connect(&pair.token, &pair.stream_url(&pair.b), None).await;
    pair.say(&pair.a, "once more").await;
    let mut events = Vec::new();
    loop {
        let event = next_event(&mut fresh).await;
        let done = is_agent_done(&event);
        events.push(event);
        if done {
            break;
        }
    }
    let done = done_message(&events);
    let mut text = String::new();
    apply_deltas(&mut text, &events, &done);
    assert_eq!(done["content"].as_str(), Some(text.as_str()));
    assert_eq!(text.split_whitespace().count(), WORDS);
}
