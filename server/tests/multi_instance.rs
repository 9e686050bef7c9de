//! Two real server processes on one PostgreSQL and one Redis, as behind a load balancer with no
//! stickiness: a reply driven by one instance streams to clients of the other, a client that
//! moves between instances mid-reply with `Last-Event-ID` gets every delta exactly once, a page
//! rendered on the other instance mid-reply shows the text so far, and when Redis restarts
//! mid-reply the clients recover and no message is left `streaming`. Runs and replies are owned
//! through leases: when the owner is killed the other instance continues the run to its limits
//! or answers the room, Stop pressed on either instance stops the run, and an instance starting
//! up meanwhile takes nothing from a live one; a reply one instance writes is stopped from the
//! other. The control plane is shared too: a preview made
//! on one instance is confirmed on the other, and confirms on both at once write one task file.

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
/// A short lease, so takeovers in these tests come within seconds, with room for a loaded
/// machine's slow renewals.
const LEASE_SECONDS: &str = "4";

/// The tests here run one at a time: each starts two or three server processes, and a machine
/// loaded by several at once would measure itself rather than the instances.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn reply_words() -> String {
    (0..WORDS).map(|i| format!("w{i}")).collect::<Vec<_>>().join(" ")
}

struct Pair {
    a: ServerProcess,
    b: ServerProcess,
    /// The control plane's folder, shared by both instances as a network file system would be.
    gateway_root: tempfile::TempDir,
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
    pair_with(fake, redis_url, &["Ada"]).await
}

/// What the instances of a test share.
struct Shared<'a> {
    database_url: &'a str,
    redis_url: &'a str,
    gateway_root: &'a std::path::Path,
}

fn instance(shared: &Shared, fake: &FakeLlm, id: &str, log: Option<&std::path::Path>) -> ServerProcess {
    let root = shared.gateway_root.display().to_string();
    let env = [
        ("REDIS_URL", shared.redis_url),
        ("INSTANCE_ID", id),
        ("RUN_LEASE_SECONDS", LEASE_SECONDS),
        ("GATEWAY_ROOT", root.as_str()),
    ];
    ServerProcess::start_with(shared.database_url, fake, log, &env)
}

/// [`pair`] with a room holding the agents named.
async fn pair_with(fake: &FakeLlm, redis_url: &str, agents: &[&str]) -> Pair {
    let database = fresh_database(Db::Postgres).await;
    let gateway_root = tempfile::tempdir().unwrap();
    let a_log = tempfile::NamedTempFile::new().unwrap();
    let shared = Shared { database_url: &database.url, redis_url, gateway_root: gateway_root.path() };
    let a = instance(&shared, fake, "a", Some(a_log.path()));
    let b = instance(&shared, fake, "b", None);
    a.wait_ready().await;
    b.wait_ready().await;
    let token = common::sign_up_over_http(&a.base, "Scale Tester").await;
    let client = common::client_with_token(&token);
    let room = post(&client, format!("{}/api/rooms", a.base), json!({"name": "Two instances"})).await;
    let room_id = room["id"].as_str().unwrap().to_owned();
    for name in agents {
        let agent = json!({"name": name, "model": "gpt-4o-mini", "system_prompt": "", "temperature": 0.3});
        post(&client, format!("{}/api/rooms/{room_id}/agents", a.base), agent).await;
    }
    Pair { a, b, gateway_root, a_log, _database: database, token, client, room_id }
}

impl Pair {
    fn shared(&self) -> Shared<'_> {
        Shared { database_url: &self._database.url, redis_url: "", gateway_root: self.gateway_root.path() }
    }

    fn stream_url(&self, server: &ServerProcess) -> String {
        format!("{}/api/rooms/{}/stream", server.base, self.room_id)
    }

    async fn start_run(&self, server: &ServerProcess, max_steps: i64) -> String {
        let url = format!("{}/api/rooms/{}/auto/start", server.base, self.room_id);
        let started = post(&self.client, url, json!({"max_steps": max_steps, "max_seconds": 300})).await;
        started["run_id"].as_str().unwrap().to_owned()
    }

    async fn runs(&self, server: &ServerProcess) -> Vec<Value> {
        let url = format!("{}/api/rooms/{}/runs", server.base, self.room_id);
        let runs: Value = self.client.get(url).send().await.unwrap().json().await.unwrap();
        runs.as_array().unwrap().clone()
    }

    async fn messages(&self, server: &ServerProcess) -> Vec<Value> {
        let url = format!("{}/api/rooms/{}/messages?limit=200", server.base, self.room_id);
        let page: Value = self.client.get(url).send().await.unwrap().json().await.unwrap();
        page["messages"].as_array().unwrap().clone()
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
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
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
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
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
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
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

/// Reads `stream` until an agent's message has streamed its first delta after `finished` of
/// them ended.
async fn until_streaming_after(stream: &mut (impl Stream<Item = Event> + Unpin), finished: usize) {
    let mut done = 0;
    loop {
        let event = next_event(stream).await;
        if is_agent_done(&event) {
            done += 1;
        } else if done >= finished && event.event == "message.delta" {
            return;
        }
    }
}

fn count(messages: &[Value], run_id: &str, status: &str) -> usize {
    messages.iter().filter(|m| m["run_id"] == run_id && m["sender_type"] == "agent" && m["status"] == status).count()
}

#[tokio::test]
async fn killing_the_run_owner_hands_the_run_to_the_other_instance_which_ends_it_by_its_limits() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let fake = FakeLlm::start(Reply::words(&reply_words()).with_token_delay(Duration::from_millis(10))).await;
    let mut pair = pair_with(&fake, &redis_server_url(), &["Ada", "Grace"]).await;
    let mut on_b = common::sse_connect(&pair.token, &pair.stream_url(&pair.b), None).await;
    let run_id = pair.start_run(&pair.a, 5).await;
    // Killed while writing the run's second message.
    until_streaming_after(&mut on_b, 1).await;
    let killed = std::time::Instant::now();
    pair.a.sigkill();

    // Instance b's client sees the cut-off message end and the run carry on to its limit.
    let mut interrupted = 0;
    let mut resumed_after = None;
    loop {
        let event = next_event(&mut on_b).await;
        let data: Value = serde_json::from_str(&event.data).unwrap_or_default();
        if event.event == "message.done" && data["status"] == "interrupted" {
            interrupted += 1;
        }
        if event.event == "message.new" && data["sender_type"] == "agent" && resumed_after.is_none() {
            resumed_after = Some(killed.elapsed());
        }
        if event.event == "run.status" && data["status"] == "completed" {
            break;
        }
    }
    let resumed_after = resumed_after.expect("a new turn began on b");
    println!("the run went on at instance b {resumed_after:?} after instance a was killed (lease {LEASE_SECONDS} s)");
    assert!(resumed_after < Duration::from_secs(2 * LEASE_SECONDS.parse::<u64>().unwrap() + 5));
    assert_eq!(interrupted, 1, "the message instance a was writing ends interrupted");

    let run = pair.runs(&pair.b).await.into_iter().find(|r| r["id"] == run_id.as_str()).unwrap();
    assert_eq!((run["status"].as_str(), run["stop_reason"].as_str()), (Some("completed"), Some("max_steps")));
    assert_eq!(run["steps"], 5);
    let messages = pair.messages(&pair.b).await;
    assert!(messages.iter().all(|m| m["status"] != "streaming"), "{messages:?}");
    assert_eq!(count(&messages, &run_id, "complete"), 5, "one complete message per step");
    assert_eq!(count(&messages, &run_id, "interrupted"), 1);
    let used: i64 = messages
        .iter()
        .filter(|m| m["run_id"] == run_id.as_str() && m["status"] == "complete")
        .map(|m| m["tokens_in"].as_i64().unwrap() + m["tokens_out"].as_i64().unwrap())
        .sum();
    assert_eq!(run["tokens_used"].as_i64(), Some(used), "the run's counters match its messages");
}

#[tokio::test]
async fn an_instance_shutting_down_hands_its_run_over_instead_of_ending_it() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let fake = FakeLlm::start(Reply::words(&reply_words()).with_token_delay(Duration::from_millis(10))).await;
    let mut pair = pair_with(&fake, &redis_server_url(), &["Ada", "Grace"]).await;
    let mut on_b = common::sse_connect(&pair.token, &pair.stream_url(&pair.b), None).await;
    let run_id = pair.start_run(&pair.a, 4).await;
    until_streaming_after(&mut on_b, 1).await;
    // A rolling deploy stops instance a normally.
    let stopped = std::time::Instant::now();
    assert!(pair.a.sigterm().success());

    let mut resumed_after = None;
    loop {
        let event = next_event(&mut on_b).await;
        let data: Value = serde_json::from_str(&event.data).unwrap_or_default();
        if event.event == "message.new" && data["sender_type"] == "agent" && resumed_after.is_none() {
            resumed_after = Some(stopped.elapsed());
        }
        if event.event == "run.status" && data["status"] != "running" {
            assert_eq!((data["status"].as_str(), data["stop_reason"].as_str()), (Some("completed"), Some("max_steps")));
            break;
        }
    }
    println!("the run went on at instance b {:?} after instance a began to shut down", resumed_after.unwrap());
    let run = pair.runs(&pair.b).await.into_iter().find(|r| r["id"] == run_id.as_str()).unwrap();
    assert_eq!((run["status"].as_str(), run["steps"].as_i64()), (Some("completed"), Some(4)));
    let messages = pair.messages(&pair.b).await;
    assert!(messages.iter().all(|m| m["status"] != "streaming"), "{messages:?}");
    // The turn cut off by the shutdown counts as a step, as any turn taken does.
    let (complete, interrupted) = (count(&messages, &run_id, "complete"), count(&messages, &run_id, "interrupted"));
    assert_eq!((complete + interrupted, interrupted), (4, 1), "{messages:?}");
}

#[tokio::test]
async fn stop_pressed_on_one_instance_stops_the_run_the_other_drives_and_a_new_instance_takes_nothing() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let fake = FakeLlm::start(Reply::words(&reply_words()).with_token_delay(Duration::from_millis(20))).await;
    let pair = pair_with(&fake, &redis_server_url(), &["Ada", "Grace"]).await;
    let mut on_b = common::sse_connect(&pair.token, &pair.stream_url(&pair.b), None).await;
    let run_id = pair.start_run(&pair.a, 50).await;
    until_streaming_after(&mut on_b, 0).await;

    // An instance starting up (a rolling deploy) leaves the live instance's run alone.
    let redis_url = redis_server_url();
    let c = instance(&Shared { redis_url: &redis_url, ..pair.shared() }, &fake, "c", None);
    c.wait_ready().await;
    let runs = pair.runs(&c).await;
    assert_eq!(runs[0]["status"], "running", "{runs:?}");
    assert!(pair.messages(&c).await.iter().all(|m| m["status"] != "interrupted"));

    let asked = std::time::Instant::now();
    let url = format!("{}/api/rooms/{}/auto/stop", pair.b.base, pair.room_id);
    let stopped = post(&pair.client, url, json!({})).await;
    let answered = asked.elapsed();
    println!("stop at instance b of instance a's run answered in {answered:?}");
    assert_eq!((stopped["status"].as_str(), stopped["run_id"].as_str()), (Some("stopped"), Some(run_id.as_str())));
    let run = pair.runs(&pair.b).await.into_iter().find(|r| r["id"] == run_id.as_str()).unwrap();
    assert_eq!((run["status"].as_str(), run["stop_reason"].as_str()), (Some("stopped"), Some("user_stop")));
    let messages = pair.messages(&pair.b).await;
    assert!(messages.iter().all(|m| m["status"] != "streaming"), "{messages:?}");
    assert_eq!(count(&messages, &run_id, "stopped"), 1, "the message being written ends stopped: {messages:?}");
    // Nothing goes on after the stop.
    let requests = fake.request_count();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(fake.request_count(), requests);
}

#[tokio::test]
async fn stop_pressed_on_one_instance_stops_the_reply_the_other_writes() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let fake = FakeLlm::start(Reply::words(&reply_words()).with_token_delay(Duration::from_millis(20))).await;
    let pair = pair(&fake, &redis_server_url()).await;
    let mut on_b = common::sse_connect(&pair.token, &pair.stream_url(&pair.b), None).await;
    pair.say(&pair.a, "tell me everything").await;
    until_streaming_after(&mut on_b, 0).await;

    let url = format!("{}/api/rooms/{}/replies/stop", pair.b.base, pair.room_id);
    let response = pair.client.post(url).send().await.unwrap();
    assert_eq!(response.status(), 204);
    let messages_url = format!("{}/api/rooms/{}/messages", pair.a.base, pair.room_id);
    eventually(Duration::from_secs(10), "instance a to stop the reply", || async {
        let page: Value = pair.client.get(&messages_url).send().await.unwrap().json().await.unwrap();
        page["messages"].as_array().unwrap().iter().any(|m| m["sender_type"] == "agent" && m["status"] == "stopped")
    })
    .await;
    let messages = pair.messages(&pair.b).await;
    let reply = messages.iter().find(|m| m["sender_type"] == "agent").unwrap();
    let kept = reply["content"].as_str().unwrap().split_whitespace().count();
    assert!((1..WORDS).contains(&kept), "the words written so far are kept: {reply}");
    // Nothing goes on after the stop: no one answers the room again.
    let requests = fake.request_count();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(fake.request_count(), requests);
    assert_eq!(pair.messages(&pair.a).await.len(), 2);
}

#[tokio::test]
async fn a_reply_owed_by_a_killed_instance_is_answered_by_the_other() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let fake = FakeLlm::start(Reply::words(&reply_words()).with_token_delay(Duration::from_millis(20))).await;
    let mut pair = pair(&fake, &redis_server_url()).await;
    let mut on_b = common::sse_connect(&pair.token, &pair.stream_url(&pair.b), None).await;
    pair.say(&pair.a, "are you there?").await;
    until_streaming_after(&mut on_b, 0).await;
    pair.a.sigkill();

    let messages_url = format!("{}/api/rooms/{}/messages", pair.b.base, pair.room_id);
    eventually(Duration::from_secs(30), "instance b to answer the room", || async {
        let page: Value = pair.client.get(&messages_url).send().await.unwrap().json().await.unwrap();
        page["messages"].as_array().unwrap().iter().any(|m| m["sender_type"] == "agent" && m["status"] == "complete")
    })
    .await;
    let messages = pair.messages(&pair.b).await;
    let statuses: Vec<_> = messages.iter().map(|m| (m["sender_type"].as_str(), m["status"].as_str())).collect();
    assert_eq!(
        statuses,
        [(Some("human"), Some("complete")), (Some("agent"), Some("interrupted")), (Some("agent"), Some("complete"))],
        "the cut-off reply is kept, and the question is answered once"
    );
}

fn task_files(root: &std::path::Path) -> Vec<String> {
    let mut files = Vec::new();
    for folder in ["interface/inbox", "interface/pending_approval"] {
        let Ok(entries) = std::fs::read_dir(root.join(folder)) else { continue };
        files.extend(entries.map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned()));
    }
    files
}

#[tokio::test]
async fn a_preview_made_on_one_instance_is_confirmed_on_the_other_and_concurrent_confirms_write_one_file() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let fake = FakeLlm::start(Reply::words("unused")).await;
    let pair = pair(&fake, &redis_server_url()).await;
    let url = |server: &ServerProcess, path: &str| format!("{}/api/v1/chat/{path}", server.base);
    let preview = |server: &ServerProcess, session: &str, raw_input: &str| {
        let body = json!({"raw_input": raw_input, "channel": "web", "session_id": session});
        post(&pair.client, url(server, "preview"), body)
    };

    // Preview on a, confirm on b.
    let session = uuid::Uuid::new_v4().to_string();
    let previewed = preview(&pair.a, &session, "lisa run backup_db").await;
    let confirm = json!({"preview_id": previewed["preview_id"], "session_id": session});
    let confirmed = post(&pair.client, url(&pair.b, "confirm"), confirm.clone()).await;
    let task_id = confirmed["task_id"].as_str().unwrap().to_owned();
    let again = pair.client.post(url(&pair.a, "confirm")).json(&confirm).send().await.unwrap();
    assert_eq!(again.status(), 409);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["error"]["code"], "PREVIEW_ALREADY_CONFIRMED", "{again}");
    let watched =
        pair.client.get(format!("{}/{task_id}?session_id={session}", url(&pair.a, "watch"))).send().await.unwrap();
    assert_eq!(watched.status(), 200, "the task is the session's on a too");

    // Confirms of one preview on both instances at once: exactly one writes a file. (A session
    // per round: the session's rate limit holds across instances too.)
    for round in 0..5 {
        let session = uuid::Uuid::new_v4().to_string();
        let previewed = preview(if round % 2 == 0 { &pair.b } else { &pair.a }, &session, "liam check status").await;
        let confirm = json!({"preview_id": previewed["preview_id"], "session_id": session});
        let attempts = (0..8).map(|n| {
            let target = url(if n % 2 == 0 { &pair.a } else { &pair.b }, "confirm");
            let request = pair.client.post(target).json(&confirm);
            async move { request.send().await.unwrap().status().as_u16() }
        });
        let mut statuses = futures::future::join_all(attempts).await;
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409, 409, 409, 409, 409, 409, 409], "round {round}");
    }
    assert_eq!(task_files(pair.gateway_root.path()).len(), 6, "one file per preview");
    // Each instance keeps its own verifiable telemetry chain in the shared folder.
    let telemetry = pair.gateway_root.path().join("observability/telemetry");
    for log in ["gateway-a.jsonl", "gateway-b.jsonl"] {
        assert!(telemetry.join(log).is_file(), "{log}");
    }
}

#[tokio::test]
async fn posts_answered_on_two_instances_at_once_never_speak_over_each_other() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let fake = FakeLlm::start(Reply::words(&reply_words()).with_token_delay(Duration::from_millis(5))).await;
    let pair = pair(&fake, &redis_server_url()).await;
    let mut on_b = common::sse_connect(&pair.token, &pair.stream_url(&pair.b), None).await;
    tokio::join!(pair.say(&pair.a, "first question"), pair.say(&pair.b, "second question"));

    // Each agent message ends before the next one begins.
    let mut speaking: Option<Value> = None;
    let mut answered = 0;
    while answered < 2 {
        let event = next_event(&mut on_b).await;
        let data: Value = serde_json::from_str(&event.data).unwrap_or_default();
        if data["sender_type"] != "agent" {
            continue;
        }
        match event.event.as_str() {
            "message.new" => {
                assert!(speaking.is_none(), "an agent began while another was speaking");
                speaking = Some(data["id"].clone());
            }
            "message.done" => {
                assert_eq!(speaking.take(), Some(data["id"].clone()));
                assert_eq!(data["status"], "complete");
                answered += 1;
            }
            _ => {}
        }
    }
}
