//! The live stream over real HTTP: event order and ids, replay after reconnecting with
//! `Last-Event-ID`, resets, keep-alives, and the stream ending at shutdown.

mod common;

use std::time::Duration;

use common::{assert_error, sse_connect, Db, TestApp};
use eventsource_stream::Event;
use fake_llm::{FakeLlm, Reply};
use futures::{Stream, StreamExt};
use serde_json::{json, Value};

on_both_databases!(
    a_reply_streams_as_new_deltas_and_done_in_order,
    reconnecting_replays_exactly_the_missed_events,
    an_unknown_last_event_id_resets_the_client,
    idle_streams_send_keep_alives,
    streams_end_at_shutdown,
    unknown_rooms_have_no_stream,
);

async fn setup(db: Db, fake: &FakeLlm, extra: &[(&str, &str)]) -> (TestApp, String, String) {
    let base = fake.base_url();
    let mut env = vec![("OPENAI_BASE_URL", base.as_str())];
    env.extend_from_slice(extra);
    let app = TestApp::with_env(db, &env).await;
    let (_, room) = app.send_json("POST", "/api/rooms", r#"{"name": "Live"}"#).await;
    let room_id = room["id"].as_str().unwrap().to_owned();
    let body = json!({"name": "Ada", "model": "gpt-4o-mini", "system_prompt": "", "temperature": 0.2});
    app.send_json("POST", &format!("/api/rooms/{room_id}/agents"), &body.to_string()).await;
    let server = app.spawn().await;
    (app, room_id, server)
}

async fn next_event(stream: &mut (impl Stream<Item = Event> + Unpin)) -> Event {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("an event in time")
        .expect("the stream is open")
}

/// Reads events until `message.done` of an agent message, returning all of them.
async fn until_agent_done(stream: &mut (impl Stream<Item = Event> + Unpin)) -> Vec<Event> {
    let mut events = Vec::new();
    loop {
        let event = next_event(stream).await;
        let done = event.event == "message.done"
            && serde_json::from_str::<Value>(&event.data).unwrap()["sender_type"] == "agent";
        events.push(event);
        if done {
            return events;
        }
    }
}

fn seq(event: &Event) -> u64 {
    event.id.rsplit_once('-').unwrap().1.parse().unwrap()
}

async fn a_reply_streams_as_new_deltas_and_done_in_order(db: Db) {
    let fake = FakeLlm::start(Reply::words("one two three four five")).await;
    let (app, room_id, server) = setup(db, &fake, &[]).await;
    let mut stream = sse_connect(&app.token, &format!("{server}/api/rooms/{room_id}/stream"), None).await;
    app.send_json("POST", &format!("/api/rooms/{room_id}/messages"), r#"{"content": "count to five"}"#).await;
    let events = until_agent_done(&mut stream).await;

    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names[0], "message.new", "the human message first");
    assert_eq!(names[1], "message.new", "then the agent message starting");
    assert_eq!(names.last(), Some(&"message.done"));
    assert!(names[2..names.len() - 1].iter().all(|n| *n == "message.delta"));

    let ids: Vec<u64> = events.iter().map(seq).collect();
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "consecutive ids: {ids:?}");

    let human: Value = serde_json::from_str(&events[0].data).unwrap();
    assert_eq!((human["sender_type"].as_str(), human["content"].as_str()), (Some("human"), Some("count to five")));
    let started: Value = serde_json::from_str(&events[1].data).unwrap();
    assert_eq!(started["status"], "streaming");
    let mut text = String::new();
    for delta in &events[2..events.len() - 1] {
        let delta: Value = serde_json::from_str(&delta.data).unwrap();
        assert_eq!(delta["message_id"], started["id"]);
        assert_eq!(delta["offset"].as_u64().unwrap() as usize, text.len());
        text.push_str(delta["delta"].as_str().unwrap());
    }
    let done: Value = serde_json::from_str(&events.last().unwrap().data).unwrap();
    assert_eq!(done["content"].as_str(), Some(text.as_str()));
    assert_eq!(done["status"], "complete");
    assert_eq!(done["tokens_out"], 5, "the final message carries its usage");
}

async fn reconnecting_replays_exactly_the_missed_events(db: Db) {
    let fake = FakeLlm::start(Reply::words("alpha beta gamma delta epsilon zeta")).await;
    let (app, room_id, server) = setup(db, &fake, &[]).await;
    let url = format!("{server}/api/rooms/{room_id}/stream");
    let mut first = sse_connect(&app.token, &url, None).await;
    app.send_json("POST", &format!("/api/rooms/{room_id}/messages"), r#"{"content": "first"}"#).await;
    let all = until_agent_done(&mut first).await;
    drop(first);

    // Resume from the middle: exactly the events after it come back, in order.
    let cut = all.len() / 2;
    let mut resumed = sse_connect(&app.token, &url, Some(&all[cut].id)).await;
    for expected in &all[cut + 1..] {
        let event = next_event(&mut resumed).await;
        assert_eq!((&event.id, &event.event, &event.data), (&expected.id, &expected.event, &expected.data));
    }
    // Then the live feed continues without a gap or a repeat.
    app.send_json("POST", &format!("/api/rooms/{room_id}/messages"), r#"{"content": "second"}"#).await;
    let live = next_event(&mut resumed).await;
    assert_eq!(seq(&live), seq(all.last().unwrap()) + 1);
    assert_eq!(live.event, "message.new");

    // The first connection's position, via the query parameter a page uses on its first connect.
    let from_start = format!("{url}?last_event_id={}", all[0].id);
    let mut replay = sse_connect(&app.token, &from_start, None).await;
    assert_eq!(next_event(&mut replay).await.id, all[1].id);
}

async fn an_unknown_last_event_id_resets_the_client(db: Db) {
    let fake = FakeLlm::start(Reply::words("hi")).await;
    let (app, room_id, server) = setup(db, &fake, &[]).await;
    let url = format!("{server}/api/rooms/{room_id}/stream");
    let mut stream = sse_connect(&app.token, &url, Some("1f00aa-12")).await;
    let reset = next_event(&mut stream).await;
    assert_eq!(reset.event, "stream.reset");
    let body: Value = serde_json::from_str(&reset.data).unwrap();
    assert!(body["reason"].as_str().unwrap().contains("earlier server run"));
}

async fn idle_streams_send_keep_alives(db: Db) {
    let fake = FakeLlm::start(Reply::words("hi")).await;
    let (app, room_id, server) = setup(db, &fake, &[("SSE_KEEPALIVE_SECONDS", "1")]).await;
    let response =
        common::client_with_token(&app.token).get(format!("{server}/api/rooms/{room_id}/stream")).send().await.unwrap();
    assert_eq!(response.headers()["x-accel-buffering"], "no");
    assert!(response.headers()["cache-control"].to_str().unwrap().contains("no-cache"));
    let mut bytes = response.bytes_stream();
    // Sent every second; the wait is generous for a busy machine.
    let chunk = tokio::time::timeout(Duration::from_secs(10), bytes.next())
        .await
        .expect("a keep-alive in time")
        .unwrap()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&chunk), ": keep-alive\n\n");
}

async fn streams_end_at_shutdown(db: Db) {
    let fake = FakeLlm::start(Reply::words("hi")).await;
    let (app, room_id, server) = setup(db, &fake, &[]).await;
    let mut stream = sse_connect(&app.token, &format!("{server}/api/rooms/{room_id}/stream"), None).await;
    app.state.services.shutdown.cancel();
    let ended = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.expect("the stream ends in time");
    assert!(ended.is_none());
}

async fn unknown_rooms_have_no_stream(db: Db) {
    let app = TestApp::new(db).await;
    let (status, body) = app.get_json(&format!("/api/rooms/{}/stream", uuid::Uuid::now_v7())).await;
    assert_error(status, &body, 404, "NOT_FOUND");
}
