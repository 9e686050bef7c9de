//! Auto-dialogue runs: every stop condition, stopping for real, people cutting in, turn order,
//! and runs in several rooms at once — on both databases, against a fake provider.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{assert_error, eventually, sse_connect, Db, TestApp};
use fake_llm::{FakeLlm, Recorded, Reply};
use futures::StreamExt;
use serde_json::{json, Value};

on_both_databases!(
    bad_start_requests_are_refused,
    a_run_stops_at_max_steps_with_agents_alternating,
    a_hanging_provider_is_cut_off_at_max_seconds,
    the_token_budget_is_enforced,
    stop_cancels_the_provider_request_and_keeps_the_partial_message,
    a_failed_generation_is_retried_once_then_the_run_fails,
    a_person_cutting_in_is_answered_next,
    three_agents_rotate_with_cooldown,
    runs_in_several_rooms_proceed_at_once,
    run_status_events_report_every_step,
    the_room_mode_decides_what_a_message_starts,
    a_runs_timeline_lists_its_turns_with_their_timings,
);

struct Room {
    id: String,
}

async fn app_with(db: Db, fake: &FakeLlm, extra: &[(&str, &str)]) -> TestApp {
    let base = fake.base_url();
    let mut env = vec![("OPENAI_BASE_URL", base.as_str()), ("LLM_MAX_RETRIES", "0")];
    env.extend_from_slice(extra);
    TestApp::with_env(db, &env).await
}

async fn room_with_agents(app: &TestApp, names: &[&str]) -> Room {
    let (_, room) = app.send_json("POST", "/api/rooms", r#"{"name": "Auto", "mode": "manual"}"#).await;
    let id = room["id"].as_str().unwrap().to_owned();
    for name in names {
        let body = json!({"name": name, "model": "gpt-4o-mini", "system_prompt": format!("You are {name}."), "temperature": 0.5});
        let (status, _) = app.send_json("POST", &format!("/api/rooms/{id}/agents"), &body.to_string()).await;
        assert_eq!(status, 201);
    }
    Room { id }
}

async fn start(app: &TestApp, room: &Room, body: Value) -> String {
    let (status, started) =
        app.send_json("POST", &format!("/api/rooms/{}/auto/start", room.id), &body.to_string()).await;
    assert_eq!(status, 201, "{started}");
    started["run_id"].as_str().unwrap().to_owned()
}

async fn wait_until_ended(app: &TestApp, room: &Room, run_id: &str, within: Duration) -> Value {
    let url = format!("/api/rooms/{}/runs/{run_id}", room.id);
    eventually(within, "the run to end", || async { app.get_json(&url).await.1["status"] != "running" }).await;
    app.get_json(&url).await.1
}

async fn agent_messages(app: &TestApp, room: &Room) -> Vec<Value> {
    let (_, page) = app.get_json(&format!("/api/rooms/{}/messages?limit=200", room.id)).await;
    page["messages"].as_array().unwrap().iter().filter(|m| m["sender_type"] == "agent").cloned().collect()
}

fn speakers(messages: &[Value]) -> Vec<&str> {
    messages.iter().map(|m| m["sender_name"].as_str().unwrap()).collect()
}

/// Who a provider request was for: its system prompt opens with "You are <name>."
fn addressed_to(request: &Recorded) -> String {
    let system = request.body["messages"][0]["content"].as_str().unwrap();
    system.strip_prefix("You are ").and_then(|rest| rest.split_once('.')).unwrap().0.to_owned()
}

async fn bad_start_requests_are_refused(db: Db) {
    // A first turn that holds its second word back: the run is still going when started again and stopped.
    let fake = FakeLlm::start(Reply::words("ok ok").with_token_delay(Duration::from_secs(60))).await;
    let app = app_with(db, &fake, &[]).await;
    let lonely = room_with_agents(&app, &["Solo"]).await;
    let url = format!("/api/rooms/{}/auto/start", lonely.id);
    let (status, body) = app.send_json("POST", &url, r#"{"max_steps": 3, "max_seconds": 10}"#).await;
    assert_error(status, &body, 422, "VALIDATION_FAILED");
    assert!(body["error"]["message"].as_str().unwrap().contains("at least 2 active agents"));

    let room = room_with_agents(&app, &["A", "B"]).await;
    let url = format!("/api/rooms/{}/auto/start", room.id);
    for bad in [
        json!({"max_steps": 0, "max_seconds": 10}),
        json!({"max_steps": 501, "max_seconds": 10}),
        json!({"max_steps": 5, "max_seconds": 0}),
        json!({"max_steps": 5, "max_seconds": 3601}),
        json!({"max_steps": 5, "max_seconds": 10, "budget_tokens": 0}),
    ] {
        let (status, body) = app.send_json("POST", &url, &bad.to_string()).await;
        assert_error(status, &body, 422, "VALIDATION_FAILED");
    }
    let (status, body) = app.send_json("POST", &url, r#"{"max_steps": "many"}"#).await;
    assert_error(status, &body, 400, "MALFORMED_JSON");
    let missing = format!("/api/rooms/{}/auto/start", uuid::Uuid::now_v7());
    let (status, body) = app.send_json("POST", &missing, r#"{"max_steps": 3, "max_seconds": 10}"#).await;
    assert_error(status, &body, 404, "NOT_FOUND");
    let (status, body) = app.send_json("POST", &format!("/api/rooms/{}/auto/stop", room.id), "{}").await;
    assert_error(status, &body, 409, "CONFLICT");

    start(&app, &room, json!({"max_steps": 50, "max_seconds": 30})).await;
    let (status, body) = app.send_json("POST", &url, r#"{"max_steps": 3, "max_seconds": 10}"#).await;
    assert_error(status, &body, 409, "CONFLICT");
    let (status, stopped) = app.send_json("POST", &format!("/api/rooms/{}/auto/stop", room.id), "{}").await;
    assert_eq!(status, 200, "{stopped}");
    assert_eq!(stopped["status"], "stopped");
    let (_, runs) = app.get_json(&format!("/api/rooms/{}/runs", room.id)).await;
    assert_eq!(runs.as_array().unwrap().len(), 1, "refused starts created no run");
    let (status, body) = app.get_json(&format!("/api/rooms/{}/runs/{}", room.id, uuid::Uuid::now_v7())).await;
    assert_error(status, &body, 404, "NOT_FOUND");
}

async fn a_run_stops_at_max_steps_with_agents_alternating(db: Db) {
    let fake = FakeLlm::start(Reply::words("I agree, and here is one more thought.")).await;
    let app = app_with(db, &fake, &[]).await;
    let room = room_with_agents(&app, &["Ada", "Bob"]).await;
    let run_id = start(&app, &room, json!({"max_steps": 4, "max_seconds": 60})).await;
    let run = wait_until_ended(&app, &room, &run_id, Duration::from_secs(10)).await;
    assert_eq!(run["status"], "completed");
    assert_eq!(run["stop_reason"], "max_steps");
    assert_eq!(run["steps"], 4);
    assert!(run["tokens_used"].as_i64().unwrap() > 0);
    assert!(run["stopped_at"].is_string());
    let messages = agent_messages(&app, &room).await;
    assert_eq!(speakers(&messages), vec!["Ada", "Bob", "Ada", "Bob"]);
    assert!(messages.iter().all(|m| m["run_id"] == run_id.as_str() && m["status"] == "complete"));
    assert_eq!(messages[0]["selection_reason"], "First in rotation.");
    assert_eq!(messages[1]["selection_reason"], "Next in rotation after Ada.");
    assert_eq!(fake.request_count(), 4);
}

async fn a_runs_timeline_lists_its_turns_with_their_timings(db: Db) {
    // Each reply's first word comes after 100 ms and the others 150 ms apart: both the wait and
    // the writing take measurable time.
    let reply = Reply::words("Point taken, friend.")
        .with_first_token_delay(Duration::from_millis(100))
        .with_token_delay(Duration::from_millis(150));
    let fake = FakeLlm::start(reply).await;
    let app = app_with(db, &fake, &[]).await;
    let room = room_with_agents(&app, &["Ada", "Bob"]).await;
    let run_id = start(&app, &room, json!({"max_steps": 3, "max_seconds": 60, "budget_tokens": 100000})).await;
    wait_until_ended(&app, &room, &run_id, Duration::from_secs(20)).await;

    let (status, timeline) = app.get_json(&format!("/api/rooms/{}/runs/{run_id}/turns", room.id)).await;
    assert_eq!(status, 200, "{timeline}");
    assert_eq!(timeline["run"]["run_id"], run_id.as_str());
    assert_eq!(timeline["run"]["status"], "completed");
    assert_eq!((timeline["run"]["step"].as_i64(), timeline["run"]["max_steps"].as_i64()), (Some(3), Some(3)));
    assert_eq!(timeline["run"]["budget_tokens"], 100000);
    let turns = timeline["turns"].as_array().unwrap();
    let messages = agent_messages(&app, &room).await;
    assert_eq!(turns.iter().map(|t| t["speaker"].as_str().unwrap()).collect::<Vec<_>>(), vec!["Ada", "Bob", "Ada"]);
    let mut began = -1;
    for (turn, message) in turns.iter().zip(&messages) {
        assert_eq!(turn["message_id"], message["id"]);
        assert_eq!(turn["agent_id"], message["sender_id"]);
        assert_eq!((&turn["tokens_in"], &turn["tokens_out"]), (&message["tokens_in"], &message["tokens_out"]));
        assert_eq!(turn["model"], "gpt-4o-mini");
        assert_eq!(turn["status"], "complete");
        let (started, first, duration) = (
            turn["started_ms"].as_i64().unwrap(),
            turn["first_token_ms"].as_i64().unwrap(),
            turn["duration_ms"].as_i64().unwrap(),
        );
        assert!(started > began, "turns in order: {turns:?}");
        assert!(first >= 100 && first <= duration && duration >= first + 300, "three words 150 ms apart: {turn}");
        began = started;
    }
    let tokens: i64 = turns.iter().map(|t| t["tokens_in"].as_i64().unwrap() + t["tokens_out"].as_i64().unwrap()).sum();
    assert_eq!(timeline["run"]["tokens_used"], tokens, "the meter sums the turns");

    let (status, body) = app.get_json(&format!("/api/rooms/{}/runs/{}/turns", room.id, uuid::Uuid::now_v7())).await;
    assert_error(status, &body, 404, "NOT_FOUND");
    let other = room_with_agents(&app, &[]).await;
    let (status, body) = app.get_json(&format!("/api/rooms/{}/runs/{run_id}/turns", other.id)).await;
    assert_error(status, &body, 404, "NOT_FOUND");
}

async fn a_hanging_provider_is_cut_off_at_max_seconds(db: Db) {
    let fake = FakeLlm::start(Reply::Hang).await;
    // Left to the provider, the first turn would wait a minute for its first token.
    let app = app_with(db, &fake, &[("LLM_FIRST_TOKEN_TIMEOUT_MS", "60000")]).await;
    let room = room_with_agents(&app, &["Ada", "Bob"]).await;
    let run_id = start(&app, &room, json!({"max_steps": 10, "max_seconds": 1})).await;
    let run = wait_until_ended(&app, &room, &run_id, Duration::from_secs(30)).await;
    assert_eq!((run["status"].as_str(), run["stop_reason"].as_str()), (Some("completed"), Some("max_seconds")));
    // The stored times say it ended at its deadline: not before, and long before the provider's timeout.
    let run: domain::runs::Run = serde_json::from_value(run).unwrap();
    let lasted_ms = (run.stopped_at.expect("a stop time") - run.started_at).num_milliseconds();
    assert!((1_000..10_000).contains(&lasted_ms), "the run lasted {lasted_ms} ms");
    let messages = agent_messages(&app, &room).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["status"], "stopped");
    assert!(fake.wait_for_hang_ups(1, Duration::from_secs(10)).await, "the hanging request was closed");
}

async fn the_token_budget_is_enforced(db: Db) {
    // Each reply reports 17 prompt + 8 completion tokens.
    let fake = FakeLlm::start(Reply::words("one two three four five six seven eight")).await;
    let app = app_with(db, &fake, &[]).await;
    let room = room_with_agents(&app, &["Ada", "Bob"]).await;
    let budget = 400;
    let run_id = start(&app, &room, json!({"max_steps": 50, "max_seconds": 60, "budget_tokens": budget})).await;
    let run = wait_until_ended(&app, &room, &run_id, Duration::from_secs(10)).await;
    assert_eq!((run["status"].as_str(), run["stop_reason"].as_str()), (Some("completed"), Some("budget_tokens")));
    let used = run["tokens_used"].as_i64().unwrap();
    let steps = run["steps"].as_i64().unwrap();
    assert!(used <= budget, "never over budget: {used}");
    assert!((1..50).contains(&steps), "the budget, not max_steps, ended it after {steps} steps");
    assert_eq!(used, steps * 25, "the provider's reported usage is what counts");
    // Every request asked for no more than the budget had left.
    let mut left = budget;
    for request in fake.requests() {
        assert!(request.body["max_tokens"].as_i64().unwrap() <= left, "reply capped to the remaining budget");
        left -= 25;
    }
}

async fn stop_cancels_the_provider_request_and_keeps_the_partial_message(db: Db) {
    // A token a second: the reply is still streaming for the better part of a minute when stopped.
    let words = (0..60).map(|i| format!("w{i}")).collect::<Vec<_>>().join(" ");
    let fake = FakeLlm::start(Reply::words(&words).with_token_delay(Duration::from_secs(1))).await;
    let app = app_with(db, &fake, &[]).await;
    let room = room_with_agents(&app, &["Ada", "Bob"]).await;
    let run_id = start(&app, &room, json!({"max_steps": 10, "max_seconds": 120})).await;
    eventually(Duration::from_secs(10), "some streamed text", || async {
        let Some(first) = agent_messages(&app, &room).await.into_iter().next() else { return false };
        let id = uuid::Uuid::parse_str(first["id"].as_str().unwrap()).unwrap();
        app.state.services.live_texts.get(id).is_some_and(|text| text.starts_with("w0 w1"))
    })
    .await;

    let (status, stopped) = app.send_json("POST", &format!("/api/rooms/{}/auto/stop", room.id), "{}").await;
    assert_eq!(status, 200);
    assert_eq!(stopped["status"], "stopped");
    assert_eq!(stopped["run_id"], run_id.as_str());
    assert!(fake.wait_for_hang_ups(1, Duration::from_secs(10)).await, "the provider saw the request closed");
    assert!(fake.requests()[0].finished_at.is_none(), "the reply was cut off, not waited for");

    let (_, run) = app.get_json(&format!("/api/rooms/{}/runs/{run_id}", room.id)).await;
    assert_eq!((run["status"].as_str(), run["stop_reason"].as_str()), (Some("stopped"), Some("user_stop")));
    let messages = agent_messages(&app, &room).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["status"], "stopped");
    let partial = messages[0]["content"].as_str().unwrap();
    assert!(partial.starts_with("w0 w1") && partial.len() < words.len(), "partial text kept: {partial}");

    // Once the run's driver is gone no turn can start, so what is there now is final.
    let room_id = uuid::Uuid::parse_str(&room.id).unwrap();
    eventually(Duration::from_secs(10), "the run to let go of the room", || async {
        !app.state.services.runs.is_running(room_id)
    })
    .await;
    assert_eq!(agent_messages(&app, &room).await.len(), 1, "no further turn started");
    assert_eq!(fake.request_count(), 1);
}

async fn a_failed_generation_is_retried_once_then_the_run_fails(db: Db) {
    let fake =
        FakeLlm::start(Reply::Status { status: 500, message: "upstream exploded".into(), retry_after: None }).await;
    let app = app_with(db, &fake, &[]).await;
    let room = room_with_agents(&app, &["Ada", "Bob"]).await;
    let run_id = start(&app, &room, json!({"max_steps": 10, "max_seconds": 30})).await;
    let run = wait_until_ended(&app, &room, &run_id, Duration::from_secs(10)).await;
    assert_eq!((run["status"].as_str(), run["stop_reason"].as_str()), (Some("failed"), Some("error")));
    let messages = agent_messages(&app, &room).await;
    assert_eq!(messages.len(), 2, "one failure, one retry");
    assert!(messages.iter().all(|m| m["status"] == "failed"));
    assert!(messages[0]["error"].as_str().unwrap().contains("upstream exploded"));
}

async fn a_person_cutting_in_is_answered_next(db: Db) {
    let fake = FakeLlm::start(Reply::words("a b c d")).await;
    // The first turn sends one token, then holds the second back: the cut-in lands mid-turn.
    fake.script([Reply::words("a b").with_token_delay(Duration::from_secs(5))]);
    let app = app_with(db, &fake, &[]).await;
    let room = room_with_agents(&app, &["Ada", "Bob", "Cy"]).await;
    let run_id = start(&app, &room, json!({"max_steps": 4, "max_seconds": 60})).await;
    eventually(Duration::from_secs(10), "the first turn's first token", || async {
        fake.requests().first().is_some_and(|r| r.first_token_sent_at.is_some())
    })
    .await;
    let (status, _) = app
        .send_json("POST", &format!("/api/rooms/{}/messages", room.id), r#"{"content": "@Cy, what about costs?"}"#)
        .await;
    assert_eq!(status, 201, "stored at once during the run");
    let requests = fake.requests();
    assert_eq!(requests.len(), 1, "no second turn had begun");
    assert!(requests[0].finished_at.is_none(), "the first turn was still streaming when the person wrote");

    let run = wait_until_ended(&app, &room, &run_id, Duration::from_secs(30)).await;
    assert_eq!(run["stop_reason"], "max_steps");
    let messages = agent_messages(&app, &room).await;
    assert_eq!(messages.len(), 4, "the run answered; no extra reply was scheduled");
    assert_eq!((messages[0]["sender_name"].as_str(), messages[0]["status"].as_str()), (Some("Ada"), Some("complete")));
    assert_eq!(messages[1]["sender_name"], "Cy");
    assert_eq!(messages[1]["selection_reason"], "Answering Ada Admin; mentioned as @Cy by Ada Admin.");
}

async fn three_agents_rotate_with_cooldown(db: Db) {
    let fake = FakeLlm::start(Reply::words("noted")).await;
    let app = app_with(db, &fake, &[("RUN_COOLDOWN_TURNS", "2")]).await;
    let room = room_with_agents(&app, &["A", "B", "C"]).await;
    // A mention of the agent who just spoke must wait for its cooldown.
    fake.script([Reply::words("over to you @A"), Reply::words("@A again?")]);
    let run_id = start(&app, &room, json!({"max_steps": 6, "max_seconds": 60})).await;
    wait_until_ended(&app, &room, &run_id, Duration::from_secs(10)).await;
    let messages = agent_messages(&app, &room).await;
    assert_eq!(speakers(&messages), vec!["A", "B", "C", "A", "B", "C"]);
    assert!(messages[1]["selection_reason"].as_str().unwrap().starts_with("@A was mentioned but is cooling down"));
}

async fn runs_in_several_rooms_proceed_at_once(db: Db) {
    const ROOMS: usize = 5;
    let fake = FakeLlm::start(Reply::words("in parallel")).await;
    // The first replies the provider gives hold their second token back for a few seconds.
    let held = Reply::words("in parallel").with_token_delay(Duration::from_secs(4));
    fake.script(std::iter::repeat_n(held, ROOMS));
    let app = app_with(db, &fake, &[("RUNS_MAX_PER_USER", "5")]).await;
    let mut rooms = Vec::new();
    for i in 0..ROOMS {
        rooms.push(room_with_agents(&app, &[&format!("A{i}"), &format!("B{i}")]).await);
    }
    let mut run_ids = Vec::new();
    for room in &rooms {
        run_ids.push(start(&app, room, json!({"max_steps": 3, "max_seconds": 60})).await);
    }
    for (i, (room, run_id)) in rooms.iter().zip(&run_ids).enumerate() {
        let run = wait_until_ended(&app, room, run_id, Duration::from_secs(60)).await;
        assert_eq!(run["stop_reason"], "max_steps");
        let (a, b) = (format!("A{i}"), format!("B{i}"));
        assert_eq!(speakers(&agent_messages(&app, room).await), vec![a.as_str(), b.as_str(), a.as_str()]);
    }
    assert_eq!(app.state.services.runs.count(), 0);

    // Had the runs gone one after another, a room's second turn would have come before some
    // other room's first. Instead the first requests were every room's first turn, and the
    // last of them arrived while all the others were still streaming.
    let requests = fake.requests();
    let first = &requests[..ROOMS];
    let speakers: BTreeSet<String> = first.iter().map(addressed_to).collect();
    assert_eq!(
        speakers,
        (0..ROOMS).map(|i| format!("A{i}")).collect(),
        "the first requests were every room's first turn"
    );
    let last_arrival = first.iter().map(|r| r.received_at).max().unwrap();
    let first_finish = first.iter().map(|r| r.finished_at.expect("each first turn finished")).min().unwrap();
    assert!(
        last_arrival < first_finish,
        "the last first turn began {:?} after another had finished",
        last_arrival - first_finish
    );
}

async fn run_status_events_report_every_step(db: Db) {
    let fake = FakeLlm::start(Reply::words("step done")).await;
    let app = app_with(db, &fake, &[]).await;
    let room = room_with_agents(&app, &["A", "B"]).await;
    let server = app.spawn().await;
    let mut stream = sse_connect(&app.token, &format!("{server}/api/rooms/{}/stream", room.id), None).await;
    let run_id = start(&app, &room, json!({"max_steps": 3, "max_seconds": 60, "budget_tokens": 10000})).await;
    let mut statuses = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
        if event.event == "run.status" {
            let status: Value = serde_json::from_str(&event.data).unwrap();
            let last = status["status"] != "running";
            statuses.push(status);
            if last {
                break;
            }
        }
    }
    let steps: Vec<i64> = statuses.iter().map(|s| s["step"].as_i64().unwrap()).collect();
    assert_eq!(steps, vec![0, 1, 2, 3, 3], "on start, after every step, and at the end");
    let last = statuses.last().unwrap();
    for key in [
        "run_id",
        "status",
        "step",
        "max_steps",
        "elapsed_ms",
        "max_seconds",
        "tokens_used",
        "budget_tokens",
        "stop_reason",
    ] {
        assert!(last.get(key).is_some(), "run.status has {key}: {last}");
    }
    assert_eq!(last["run_id"], run_id.as_str());
    assert_eq!((last["status"].as_str(), last["stop_reason"].as_str()), (Some("completed"), Some("max_steps")));
    assert_eq!(last["budget_tokens"], 10000);
    assert!(last["tokens_used"].as_i64().unwrap() > 0);
}

async fn the_room_mode_decides_what_a_message_starts(db: Db) {
    let fake = FakeLlm::start(Reply::words("Noted, and one more thought.")).await;
    let app = app_with(db, &fake, &[]).await;
    let room = room_with_agents(&app, &["Ada", "Bob"]).await;
    let room_url = format!("/api/rooms/{}", room.id);
    let runs_url = format!("/api/rooms/{}/runs", room.id);
    let post = |content: &'static str| {
        let url = format!("/api/rooms/{}/messages", room.id);
        let app = &app;
        async move {
            let (status, body) = app.send_json("POST", &url, &json!({ "content": content }).to_string()).await;
            assert_eq!(status, 201, "{body}");
        }
    };
    let (_, fetched) = app.get_json(&room_url).await;
    assert_eq!(fetched["run_limits"], json!({"max_steps": 20, "max_seconds": 300, "budget_tokens": null}));

    // Manual: one agent answers the person, and no run starts.
    post("Hello there").await;
    eventually(Duration::from_secs(10), "the one reply", || async {
        agent_messages(&app, &room).await.iter().any(|m| m["status"] == "complete")
    })
    .await;
    assert_eq!(agent_messages(&app, &room).await.len(), 1);
    assert_eq!(app.get_json(&runs_url).await.1, json!([]), "a manual room starts no run");

    // Bad limits are refused whole, and nothing changes.
    for bad in [
        json!({"run_limits": {"max_steps": 0, "max_seconds": 60}}),
        json!({"run_limits": {"max_steps": 3, "max_seconds": 3601}}),
        json!({"mode": "auto", "run_limits": {"max_steps": 3, "max_seconds": 60, "budget_tokens": -1}}),
    ] {
        let (status, body) = app.send_json("PATCH", &room_url, &bad.to_string()).await;
        assert_error(status, &body, 422, "VALIDATION_FAILED");
    }
    let (status, body) = app.send_json("PATCH", &room_url, r#"{"mode": "sometimes"}"#).await;
    assert!(status == 400 || status == 422, "{status} {body}");
    let (_, unchanged) = app.get_json(&room_url).await;
    assert_eq!((unchanged["mode"].as_str(), unchanged["run_limits"]["max_steps"].as_i64()), (Some("manual"), Some(20)));

    // Auto: a person's message starts a run with the room's limits.
    let patch = json!({"mode": "auto", "run_limits": {"max_steps": 3, "max_seconds": 60, "budget_tokens": 5000}});
    let (status, changed) = app.send_json("PATCH", &room_url, &patch.to_string()).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["mode"], "auto");
    assert_eq!(changed["run_limits"], patch["run_limits"]);
    post("Over to you two").await;
    let (_, runs) = app.get_json(&runs_url).await;
    let run = &runs.as_array().expect("runs")[0];
    assert_eq!((run["max_steps"].as_i64(), run["max_seconds"].as_i64()), (Some(3), Some(60)));
    assert_eq!(run["budget_tokens"], 5000);
    let run_id = run["id"].as_str().unwrap().to_owned();
    let ended = wait_until_ended(&app, &room, &run_id, Duration::from_secs(20)).await;
    assert_eq!(ended["stop_reason"], "max_steps");
    let in_run = agent_messages(&app, &room).await.into_iter().filter(|m| m["run_id"] == run_id.as_str()).count();
    assert_eq!(in_run, 3, "the run spoke its three steps");

    // With one active agent left, an auto room answers with one reply instead of a run.
    let (_, agents) = app.get_json(&format!("/api/rooms/{}/agents", room.id)).await;
    let bob =
        agents.as_array().unwrap().iter().find(|a| a["name"] == "Bob").unwrap()["id"].as_str().unwrap().to_owned();
    let url = format!("/api/rooms/{}/agents/{bob}", room.id);
    let (status, _) = app.send_json("PATCH", &url, r#"{"is_active": false}"#).await;
    assert_eq!(status, 200);
    let before = agent_messages(&app, &room).await.len();
    post("Just Ada now").await;
    eventually(Duration::from_secs(10), "Ada's reply", || async {
        let replies = agent_messages(&app, &room).await;
        replies.len() == before + 1 && replies.last().unwrap()["status"] == "complete"
    })
    .await;
    assert_eq!(app.get_json(&runs_url).await.1.as_array().unwrap().len(), 1, "no second run started");
}
