//! The control plane's API contract: request and response shapes, lanes, every error code and
//! every session rule.

mod common;

use std::net::SocketAddr;
use std::sync::LazyLock;
use std::time::Duration;

use axum::body::Body;
use common::{assert_error, json_request, relaxed, session, TestGateway, OPERATOR};
use gateway::{GatewayConfig, RateLimit};
use http::{Request, StatusCode};
use regex::Regex;
use serde_json::{json, Value};

/// `task_<yyyymmddThhmmss>_<12 hex digits>`, the task id the execution plane expects.
static TASK_ID: LazyLock<Regex> = LazyLock::new(|| Regex::new("^task_[0-9]{8}T[0-9]{6}_[0-9a-f]{12}$").unwrap());

#[tokio::test]
async fn preview_answers_the_contract_and_writes_no_task() {
    let test = TestGateway::new();
    let session = session();
    let before = test.tree();
    let preview = test.preview_ok(&session, "liam check status").await;

    assert!(uuid::Uuid::parse_str(preview["preview_id"].as_str().unwrap()).is_ok());
    let task = &preview["normalized_task"];
    assert!(TASK_ID.is_match(task["task_id"].as_str().unwrap()), "{task}");
    assert_eq!(task["intent"], "status_check");
    assert_eq!(task["operations"], json!([{"tool": "status_reader", "args": {"agent": "liam"}}]));
    assert_eq!(task["risk"], "low");
    assert_eq!(task["lane"], "fast");
    assert_eq!(preview["requires_confirm"], true);
    assert_eq!(preview["ttl_seconds"], 300);
    assert_eq!(preview["rule_id"], "liam_status");
    assert!(!preview["risk_reason"].as_str().unwrap().is_empty());
    assert_eq!(preview["rules_version"], "v1");
    assert_eq!(preview["requires_structured_override"], false);
    assert!(preview["expires_at"].as_str().is_some());

    test.assert_nothing_written_since(&before);
}

#[tokio::test]
async fn a_low_risk_confirm_lands_in_the_inbox_authored_by_gmx() {
    let test = TestGateway::new();
    let session = session();
    let preview = test.preview_ok(&session, "show   Tasks").await;
    let preview_id = preview["preview_id"].as_str().unwrap();
    let body = json!({"preview_id": preview_id, "session_id": session, "author": "mallory"});
    let reply = test.post("/api/v1/chat/confirm", body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let task_id = reply.body["task_id"].as_str().unwrap();
    assert_eq!(task_id, preview["normalized_task"]["task_id"], "the proposed id is kept");
    assert_eq!(reply.body["status"], "ok");
    assert_eq!(reply.body["path_written"], format!("interface/inbox/{task_id}.yaml"));
    assert!(reply.body["ack"].as_str().unwrap().contains(task_id));
    assert_eq!(reply.body["state"], "accepted");

    let text = std::fs::read_to_string(test.root().join(reply.body["path_written"].as_str().unwrap())).unwrap();
    let file: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    assert_eq!(file["author"], "gmx");
    assert_eq!(file["task_id"], task_id);
    assert_eq!(file["intent"], "task_list");
    assert_eq!(file["risk"], "low");
    assert_eq!(file["lane"], "fast");
    assert_eq!(file["raw_input"], "show   Tasks");
    assert_eq!(file["channel"], "terminal");
    assert_eq!(file["session_id"], session.as_str());
    assert_eq!(file["rule_id"], "show_list");
    assert_eq!(file["operations"][0]["args"]["view"], "tasks");
    assert!(file["created_at"].as_str().is_some());
    assert!(!text.contains("mallory"));

    let watch = test.watch(&session, task_id).await;
    assert_eq!(watch.status, StatusCode::OK, "{}", watch.body);
    assert_eq!(watch.body["task_id"], task_id);
    assert_eq!(watch.body["state"], "accepted");
    assert!(watch.body["last_event"].is_object());
    assert_eq!(watch.body["result_summary"], Value::Null);
    assert!(watch.body["updated_at"].as_str().is_some());
}

#[tokio::test]
async fn a_high_risk_task_waits_for_approval_then_follows_the_execution_plane() {
    let test = TestGateway::new();
    let session = session();
    let preview = test.preview_ok(&session, "lisa run backup_db").await;
    assert_eq!(preview["normalized_task"]["risk"], "high");
    assert_eq!(preview["normalized_task"]["lane"], "approval");
    let confirmed = test.confirm(&session, preview["preview_id"].as_str().unwrap()).await;
    let task_id = confirmed.body["task_id"].as_str().unwrap().to_owned();
    assert_eq!(confirmed.body["path_written"], format!("interface/pending_approval/{task_id}.yaml"));
    assert_eq!(test.watch(&session, &task_id).await.body["state"], "pending_approval");

    // A person approves: the task file moves to the inbox.
    std::fs::rename(
        test.root().join(format!("interface/pending_approval/{task_id}.yaml")),
        test.root().join(format!("interface/inbox/{task_id}.yaml")),
    )
    .unwrap();
    assert_eq!(test.watch(&session, &task_id).await.body["state"], "accepted");

    test.report("lisa.jsonl", json!({"task_id": task_id, "state": "running"}));
    let running = test.watch(&session, &task_id).await;
    assert_eq!(running.body["state"], "running");
    assert_eq!(running.body["last_event"]["state"], "running");

    test.report(
        "lisa.jsonl",
        json!({"task_id": task_id, "state": "done", "result_summary": "backup written", "ts_utc": "2030-01-01T00:00:00Z"}),
    );
    let done = test.watch(&session, &task_id).await;
    assert_eq!(done.body["state"], "done");
    assert_eq!(done.body["result_summary"], "backup written");
    assert_eq!(done.body["updated_at"], "2030-01-01T00:00:00Z");

    let tasks = test.get(&format!("/api/v1/chat/tasks?session_id={session}")).await;
    assert_eq!(tasks.status, StatusCode::OK, "{}", tasks.body);
    assert_eq!(tasks.body["tasks"][0]["task_id"], task_id.as_str());
    assert_eq!(tasks.body["tasks"][0]["state"], "done");
}

#[tokio::test]
async fn an_unrecognised_input_needs_a_valid_structured_override() {
    let test = TestGateway::new();
    let session = session();
    let before = test.tree();
    let preview = test.preview_ok(&session, "please back up the database").await;
    assert_eq!(preview["normalized_task"]["intent"], "unknown");
    assert_eq!(preview["normalized_task"]["operations"], json!([{"tool": "unknown", "args": {}}]));
    assert_eq!(preview["normalized_task"]["risk"], "high");
    assert_eq!(preview["rule_id"], "fallback");
    assert_eq!(preview["requires_structured_override"], true);
    let preview_id = preview["preview_id"].as_str().unwrap();

    assert_error(&test.confirm(&session, preview_id).await, 422, "SCHEMA_INVALID");
    let bad_overrides = [
        json!({"intent": "format_disk", "operations": [{"tool": "task_runner", "args": {}}]}),
        json!({"intent": "unknown", "operations": [{"tool": "unknown", "args": {}}]}),
        json!({"intent": "task_execution", "operations": []}),
        json!({"intent": "task_execution", "operations": [{"tool": "status_reader", "args": {}}]}),
        json!({"intent": "task_execution", "operations": [{"tool": "task_runner", "args": {"task": "x; rm -rf /"}}]}),
    ];
    for bad in bad_overrides {
        let body = json!({"preview_id": preview_id, "session_id": session, "structured_override": bad});
        assert_error(&test.post("/api/v1/chat/confirm", body).await, 422, "SCHEMA_INVALID");
    }
    let malformed = json!({"preview_id": preview_id, "session_id": session, "structured_override": {"intent": 3}});
    assert_error(&test.post("/api/v1/chat/confirm", malformed).await, 422, "INVALID_FIELD");
    test.assert_nothing_written_since(&before);

    let good = json!({"intent": "task_execution", "operations": [{"tool": "task_runner", "args": {"agent": "lisa", "task": "backup_db"}}]});
    let body = json!({"preview_id": preview_id, "session_id": session, "structured_override": good});
    let reply = test.post("/api/v1/chat/confirm", body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["lane"], "approval", "an override never lowers the risk");
    let text = std::fs::read_to_string(test.root().join(reply.body["path_written"].as_str().unwrap())).unwrap();
    let file: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
    assert_eq!(file["intent"], "task_execution", "{text}");
    assert_eq!(file["structured_override"], true, "{text}");
    assert_eq!(file["risk"], "high", "{text}");
}

#[tokio::test]
async fn an_override_of_a_recognised_input_is_refused() {
    let test = TestGateway::new();
    let session = session();
    let preview = test.preview_ok(&session, "liam check status").await;
    let body = json!({
        "preview_id": preview["preview_id"], "session_id": session,
        "structured_override": {"intent": "task_execution", "operations": [{"tool": "task_runner", "args": {"task": "x"}}]},
    });
    assert_error(&test.post("/api/v1/chat/confirm", body).await, 422, "OVERRIDE_NOT_ALLOWED");
    // The preview is still usable without the override.
    assert_eq!(test.confirm(&session, preview["preview_id"].as_str().unwrap()).await.status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_previews_are_not_found() {
    let test = TestGateway::new();
    let session = session();
    test.preview_ok(&session, "show inbox").await;
    assert_error(&test.confirm(&session, &uuid::Uuid::new_v4().to_string()).await, 404, "PREVIEW_NOT_FOUND");
    assert_error(&test.confirm(&session, "../../interface/inbox").await, 404, "PREVIEW_NOT_FOUND");
    assert_error(&test.confirm(&session, "").await, 404, "PREVIEW_NOT_FOUND");
}

#[tokio::test]
async fn a_preview_expires_after_its_ttl() {
    let test = TestGateway::new();
    let ttl = test.gateway.config().preview_ttl;
    let session = session();
    let in_time = test.preview_ok(&session, "liam session start").await;
    let late = test.preview_ok(&session, "liam session start").await;
    // A millisecond before its TTL a preview is confirmed; at its TTL it has expired.
    test.clock.advance(ttl - Duration::from_millis(1));
    assert_eq!(test.confirm(&session, in_time["preview_id"].as_str().unwrap()).await.status, StatusCode::OK);
    let before = test.tree();
    test.clock.advance(Duration::from_millis(1));
    let reply = test.confirm(&session, late["preview_id"].as_str().unwrap()).await;
    assert_error(&reply, 410, "PREVIEW_EXPIRED");
    assert_eq!(reply.body["error"]["message"], "Preview has expired, please re-preview");
    test.assert_nothing_written_since(&before);
}

#[tokio::test]
async fn each_request_resets_the_session_ttl_and_an_idle_session_expires() {
    let ttl = Duration::from_secs(60);
    let test = TestGateway::with(|root| GatewayConfig {
        session_ttl: ttl,
        preview_ttl: Duration::from_secs(3600),
        ..relaxed(root)
    });
    let session = session();
    let kept = test.preview_ok(&session, "show tasks").await;
    // A request every 50 s keeps the session alive well past its 60 s TTL.
    for _ in 0..7 {
        test.clock.advance(Duration::from_secs(50));
        let reply = test.get(&format!("/api/v1/chat/tasks?session_id={session}")).await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    assert_eq!(test.confirm(&session, kept["preview_id"].as_str().unwrap()).await.status, StatusCode::OK);

    // Then it goes quiet for its TTL: its previews are gone with it.
    let lost = test.preview_ok(&session, "show pending").await;
    test.clock.advance(ttl);
    assert_error(&test.confirm(&session, lost["preview_id"].as_str().unwrap()).await, 410, "PREVIEW_EXPIRED");
}

#[tokio::test]
async fn a_preview_is_valid_only_in_its_session() {
    let test = TestGateway::new();
    let (owner, intruder) = (session(), session());
    let preview = test.preview_ok(&owner, "liam check status").await;
    let preview_id = preview["preview_id"].as_str().unwrap();
    let before = test.tree();
    let reply = test.confirm(&intruder, preview_id).await;
    assert_error(&reply, 403, "SESSION_MISMATCH");
    assert!(reply.body["error"]["message"].as_str().unwrap().starts_with("Session ID does not match preview"));
    test.assert_nothing_written_since(&before);
    // The owner can still confirm it; the intruder still cannot, even afterwards.
    assert_eq!(test.confirm(&owner, preview_id).await.status, StatusCode::OK);
    assert_error(&test.confirm(&intruder, preview_id).await, 403, "SESSION_MISMATCH");
}

#[tokio::test]
async fn a_session_stays_on_its_channel() {
    let test = TestGateway::new();
    let session = session();
    test.preview_ok(&session, "show tasks").await;
    let body = json!({"raw_input": "show tasks", "channel": "telegram", "session_id": session});
    assert_error(&test.post("/api/v1/chat/preview", body).await, 403, "SESSION_MISMATCH");
}

#[tokio::test]
async fn confirm_is_single_use() {
    let test = TestGateway::new();
    let session = session();
    let preview = test.preview_ok(&session, "liam check status").await;
    let preview_id = preview["preview_id"].as_str().unwrap();
    let first = test.confirm(&session, preview_id).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(test.files_in("interface/inbox").len(), 1);
    let before = test.tree();
    let replay = test.confirm(&session, preview_id).await;
    assert_error(&replay, 409, "PREVIEW_ALREADY_CONFIRMED");
    assert!(replay.body["error"]["message"].as_str().unwrap().contains(first.body["task_id"].as_str().unwrap()));
    test.assert_nothing_written_since(&before);
}

#[tokio::test]
async fn a_session_holds_at_most_five_pending_previews() {
    let test = TestGateway::new();
    let session = session();
    let mut previews = Vec::new();
    for _ in 0..5 {
        previews.push(test.preview_ok(&session, "show tasks").await);
    }
    assert_error(&test.preview(&session, "show tasks").await, 409, "TOO_MANY_PREVIEWS");
    // Another session is not affected.
    test.preview_ok(&common::session(), "show tasks").await;
    // Confirming one frees a place.
    assert_eq!(test.confirm(&session, previews[0]["preview_id"].as_str().unwrap()).await.status, StatusCode::OK);
    test.preview_ok(&session, "show tasks").await;
    assert_error(&test.preview(&session, "show tasks").await, 409, "TOO_MANY_PREVIEWS");
}

#[tokio::test]
async fn a_burst_of_one_hundred_from_one_session_is_rate_limited() {
    let test = TestGateway::with(|root| GatewayConfig {
        address_rate: RateLimit::new(100_000, 100_000),
        ..GatewayConfig::with_root(root)
    });
    let session = session();
    let tasks = format!("/api/v1/chat/tasks?session_id={session}");
    let mut limited = Vec::new();
    for _ in 0..100 {
        let reply = test.get(&tasks).await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            limited.push(reply);
        }
    }
    // 20/s with a burst of 40, and no time passes: the burst is served, the other 60 are not.
    assert_eq!(limited.len(), 60);
    let reply = &limited[0];
    assert_error(reply, 429, "RATE_LIMITED");
    let retry_after: u64 = reply.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert_eq!(retry_after, 1, "the next request is allowed 50 ms later, rounded up");
    assert_eq!(reply.body["error"]["message"], format!("Too many requests, wait {retry_after} seconds"));
    // Another session from the same place is served.
    test.preview_ok(&common::session(), "show tasks").await;
    // After the wait it was told, the session is served again.
    test.clock.advance(Duration::from_secs(retry_after));
    assert_eq!(test.get(&tasks).await.status, StatusCode::OK);
}

#[tokio::test]
async fn one_address_is_rate_limited_across_sessions() {
    let test = TestGateway::with(|root| GatewayConfig {
        address_rate: RateLimit::new(1, 3),
        ..GatewayConfig::with_root(root)
    });
    let client: SocketAddr = "192.0.2.7:5000".parse().unwrap();
    let preview = |session: String| {
        let body = json!({"raw_input": "show tasks", "channel": "web", "session_id": session}).to_string();
        json_request("/api/v1/chat/preview", &body)
    };
    for _ in 0..3 {
        assert_eq!(test.send_from(client, preview(session())).await.status, StatusCode::OK);
    }
    let reply = test.send_from(client, preview(session())).await;
    assert_error(&reply, 429, "RATE_LIMITED");
    let retry_after: u64 = reply.headers["retry-after"].to_str().unwrap().parse().unwrap();
    // Junk from the limited address is refused the same way.
    assert_error(&test.send_from(client, json_request("/api/v1/chat/preview", "{")).await, 429, "RATE_LIMITED");
    let other: SocketAddr = "192.0.2.8:5000".parse().unwrap();
    assert_eq!(test.send_from(other, preview(session())).await.status, StatusCode::OK);
    // After the wait it was told, the address is served again.
    test.clock.advance(Duration::from_secs(retry_after));
    assert_eq!(test.send_from(client, preview(session())).await.status, StatusCode::OK);
}

#[tokio::test]
async fn session_ids_must_be_client_generated_uuid_v4() {
    let test = TestGateway::new();
    for bad in
        ["", "session-1", "00000000-0000-0000-0000-000000000000", "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "../../etc"]
    {
        assert_error(&test.preview(bad, "show tasks").await, 422, "INVALID_SESSION_ID");
        assert_error(&test.confirm(bad, &uuid::Uuid::new_v4().to_string()).await, 422, "INVALID_SESSION_ID");
        let uri = format!("/api/v1/chat/watch/task_20260202T100000_0123456789ab?session_id={bad}");
        assert_error(&test.get(&uri).await, 422, "INVALID_SESSION_ID");
    }
}

#[tokio::test]
async fn raw_input_must_be_present_and_bounded() {
    let test = TestGateway::new();
    let session = session();
    for bad in ["".to_owned(), "   ".to_owned(), "x".repeat(4097)] {
        assert_error(&test.preview(&session, &bad).await, 422, "INVALID_INPUT");
    }
    assert_eq!(test.preview(&session, &"x".repeat(4096)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn malformed_bodies_and_bad_fields_get_clear_codes() {
    let test = TestGateway::new();
    let session = session();
    for body in ["{", "not json", "{\"raw_input\":"] {
        assert_error(&test.send(json_request("/api/v1/chat/preview", body)).await, 400, "MALFORMED_JSON");
        assert_error(&test.send(json_request("/api/v1/chat/confirm", body)).await, 400, "MALFORMED_JSON");
    }
    // Not sent as JSON at all: the server's REST API answers the same.
    let no_content_type = Request::post("/api/v1/chat/preview").body(Body::from("{}")).unwrap();
    assert_error(&test.send(no_content_type).await, 415, "MALFORMED_JSON");
    let bad_fields = [
        json!({"raw_input": "show tasks", "session_id": session}),
        json!({"raw_input": "show tasks", "channel": "irc", "session_id": session}),
        json!({"raw_input": 42, "channel": "web", "session_id": session}),
        json!([]),
    ];
    for body in bad_fields {
        let reply = test.post("/api/v1/chat/preview", body).await;
        assert_error(&reply, 422, "INVALID_FIELD");
    }
    assert_error(&test.post("/api/v1/chat/confirm", json!({"session_id": session})).await, 422, "INVALID_FIELD");
    let no_session = test.get("/api/v1/chat/watch/task_20260202T100000_0123456789ab").await;
    assert_error(&no_session, 422, "INVALID_FIELD");
    assert_error(&test.get("/api/v1/chat/tasks").await, 422, "INVALID_FIELD");
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_payload_too_large() {
    // The gateway's own router reads at most 1 MiB, like the server it is merged into.
    const LIMIT: usize = 1024 * 1024;
    let test = TestGateway::new();
    let session = session();
    let body = |raw_input_bytes: usize| {
        json!({"raw_input": "x".repeat(raw_input_bytes), "channel": "web", "session_id": session}).to_string()
    };
    let within = body(LIMIT - 200);
    assert!(within.len() <= LIMIT);
    // Read in full, then refused for what it says.
    assert_error(&test.send(json_request("/api/v1/chat/preview", &within)).await, 422, "INVALID_INPUT");
    let over = body(LIMIT);
    assert!(over.len() > LIMIT);
    assert_error(&test.send(json_request("/api/v1/chat/preview", &over)).await, 413, "PAYLOAD_TOO_LARGE");
    // Refusals like these are counted, one line per caller and kind in each window.
    assert!(test.telemetry_lines().is_empty(), "no line, and no write, per refusal");
    assert_eq!(test.gateway.flush_refusals().unwrap(), 2);
    let lines = test.telemetry_lines();
    let counted: Vec<(&str, &str, u64)> = lines
        .iter()
        .map(|l| (l["event"].as_str().unwrap(), l["error_code"].as_str().unwrap(), l["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(counted, [("refused", "INVALID_INPUT", 1), ("refused", "PAYLOAD_TOO_LARGE", 1)]);
    assert!(lines.iter().all(|l| l["refused_event"] == "preview" && l["user_id"] == OPERATOR.to_string()));
}

#[tokio::test]
async fn unknown_and_foreign_tasks_are_not_found() {
    let test = TestGateway::new();
    let (owner, other) = (session(), session());
    let task_id = test.create_task(&owner, "liam check status").await["task_id"].as_str().unwrap().to_owned();
    assert_eq!(test.watch(&owner, &task_id).await.status, StatusCode::OK);
    assert_error(&test.watch(&other, &task_id).await, 404, "TASK_NOT_FOUND");
    assert_error(&test.watch(&owner, "task_20200101T000000_000000000000").await, 404, "TASK_NOT_FOUND");
    assert_error(&test.watch(&owner, "not-a-task").await, 404, "TASK_NOT_FOUND");
    assert_error(&test.watch(&owner, "..%2F..%2Fetc%2Fpasswd").await, 404, "TASK_NOT_FOUND");
    // The other session's list does not show it.
    let tasks = test.get(&format!("/api/v1/chat/tasks?session_id={other}")).await;
    assert_eq!(tasks.body["tasks"], json!([]));
}

#[tokio::test]
async fn the_number_of_sessions_is_capped() {
    let test = TestGateway::with(|root| GatewayConfig { max_sessions: 2, ..relaxed(root) });
    test.preview_ok(&session(), "show tasks").await;
    test.preview_ok(&session(), "show tasks").await;
    let reply = test.preview(&session(), "show tasks").await;
    assert_error(&reply, 503, "TOO_MANY_SESSIONS");
    assert!(reply.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn tasks_survive_a_restart_for_their_own_session_only() {
    let dir = tempfile::tempdir().unwrap();
    let (owner, other) = (session(), session());
    let task_id = {
        let first = TestGateway::with(|_| relaxed(dir.path()));
        first.create_task(&owner, "liam check status").await["task_id"].as_str().unwrap().to_owned()
    };
    let second = TestGateway::with(|_| relaxed(dir.path()));
    let watch = second.watch(&owner, &task_id).await;
    assert_eq!(watch.status, StatusCode::OK, "{}", watch.body);
    assert_eq!(watch.body["state"], "accepted");
    assert_error(&second.watch(&other, &task_id).await, 404, "TASK_NOT_FOUND");
    let report = gateway::verify_file(&dir.path().join("observability/telemetry/gateway.jsonl")).unwrap();
    assert_eq!(report.lines, 4, "preview + confirm before, two watches after, one chain");
}

#[tokio::test]
async fn the_router_serves_real_http_with_client_addresses() {
    let test = TestGateway::new();
    let base = test.spawn().await;
    let client = reqwest::Client::new();
    let session = session();
    let preview: Value = client
        .post(format!("{base}/api/v1/chat/preview"))
        .json(&json!({"raw_input": "liam check status", "channel": "web", "session_id": session}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let confirm = client
        .post(format!("{base}/api/v1/chat/confirm"))
        .json(&json!({"preview_id": preview["preview_id"], "session_id": session}))
        .send()
        .await
        .unwrap();
    assert_eq!(confirm.status(), StatusCode::OK);
    let lines = test.telemetry_lines();
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|line| line["client_addr"] == "127.0.0.1"), "{lines:?}");
}

/// The server's state holds the gateway beside other things and has an `/api/{*rest}` catch-all;
/// the gateway's routes must merge into such a router and win over the catch-all.
#[tokio::test]
async fn the_router_merges_into_an_app_state_with_an_api_catch_all() {
    use axum::extract::FromRef;
    use axum::routing::any;
    use tower::ServiceExt;

    #[derive(Clone)]
    struct AppState {
        gateway: std::sync::Arc<gateway::Gateway>,
        _name: &'static str,
    }
    impl FromRef<AppState> for std::sync::Arc<gateway::Gateway> {
        fn from_ref(state: &AppState) -> Self {
            state.gateway.clone()
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let state =
        AppState { gateway: std::sync::Arc::new(gateway::Gateway::new(relaxed(dir.path())).unwrap()), _name: "app" };
    let app: axum::Router = axum::Router::new()
        .route("/api/{*rest}", any(|| async { (StatusCode::NOT_FOUND, "catch-all") }))
        .merge(gateway::router::<AppState>())
        .layer(axum::Extension(gateway::Operator::new(common::OPERATOR)))
        .with_state(state);

    let body = json!({"raw_input": "show tasks", "channel": "web", "session_id": session()}).to_string();
    let response = app.clone().oneshot(json_request("/api/v1/chat/preview", &body)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = app.oneshot(Request::get("/api/v1/chat/elsewhere").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

const ALICE: uuid::Uuid = uuid::Uuid::from_u128(0xa11ce);
const BOB: uuid::Uuid = uuid::Uuid::from_u128(0xb0b);

fn preview_body(session: &str, raw_input: &str) -> String {
    json!({"raw_input": raw_input, "channel": "web", "session_id": session}).to_string()
}

#[tokio::test]
async fn a_session_belongs_to_the_person_who_first_previewed_in_it() {
    let test = TestGateway::new();
    let session = session();
    let preview =
        test.send_as(ALICE, json_request("/api/v1/chat/preview", &preview_body(&session, "show inbox"))).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    let preview_id = preview.body["preview_id"].as_str().unwrap().to_owned();
    let confirm_body = json!({"preview_id": preview_id, "session_id": session}).to_string();

    // Bob knows Alice's session id and preview id: that is not enough.
    let bobs = test.send_as(BOB, json_request("/api/v1/chat/preview", &preview_body(&session, "show tasks"))).await;
    assert_error(&bobs, 403, "SESSION_MISMATCH");
    assert!(bobs.body["error"]["message"].as_str().unwrap().contains("another person"), "{}", bobs.body);
    assert_error(
        &test.send_as(BOB, json_request("/api/v1/chat/confirm", &confirm_body)).await,
        403,
        "SESSION_MISMATCH",
    );
    assert!(test.files_in("interface/inbox").is_empty(), "nothing was written for Bob");

    let confirmed = test.send_as(ALICE, json_request("/api/v1/chat/confirm", &confirm_body)).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    let task_id = confirmed.body["task_id"].as_str().unwrap().to_owned();
    let watch =
        || Request::get(format!("/api/v1/chat/watch/{task_id}?session_id={session}")).body(Body::empty()).unwrap();
    let tasks = || Request::get(format!("/api/v1/chat/tasks?session_id={session}")).body(Body::empty()).unwrap();
    assert_error(&test.send_as(BOB, watch()).await, 403, "SESSION_MISMATCH");
    assert_error(&test.send_as(BOB, tasks()).await, 403, "SESSION_MISMATCH");
    assert_error(
        &test.send_as(BOB, json_request("/api/v1/chat/confirm", &confirm_body)).await,
        403,
        "SESSION_MISMATCH",
    );
    assert_eq!(test.send_as(ALICE, watch()).await.status, StatusCode::OK);
    let listed = test.send_as(ALICE, tasks()).await;
    assert_eq!(listed.body["tasks"][0]["task_id"], task_id.as_str());

    // Every line, refused ones included, names who made the call.
    let people: Vec<String> =
        test.telemetry_lines().iter().map(|line| line["user_id"].as_str().unwrap().to_owned()).collect();
    let (alice, bob) = (ALICE.to_string(), BOB.to_string());
    assert_eq!(people, [&alice, &bob, &bob, &alice, &bob, &bob, &bob, &alice, &alice].map(String::clone));
    gateway::verify_file(&test.telemetry_path()).unwrap();
}

#[tokio::test]
async fn a_request_without_an_operator_is_refused_before_anything_is_logged() {
    use tower::ServiceExt;
    let test = TestGateway::new();
    let before = test.tree();
    let session = session();
    let requests = [
        json_request("/api/v1/chat/preview", &preview_body(&session, "show inbox")),
        json_request("/api/v1/chat/confirm", &json!({"preview_id": session, "session_id": session}).to_string()),
        json_request("/api/v1/chat/preview", "not json"),
        Request::get(format!("/api/v1/chat/tasks?session_id={session}")).body(Body::empty()).unwrap(),
    ];
    for request in requests {
        let response = test.bare_router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    test.assert_nothing_written_since(&before);
    assert!(test.telemetry_lines().is_empty(), "no line for a request nobody made");
}

#[tokio::test]
async fn a_task_read_back_after_a_restart_belongs_to_the_first_person_who_watches_it() {
    let dir = tempfile::tempdir().unwrap();
    let session = session();
    let task_id = {
        let first = TestGateway::with(|_| relaxed(dir.path()));
        first.create_task(&session, "liam check status").await["task_id"].as_str().unwrap().to_owned()
    };
    let second = TestGateway::with(|_| relaxed(dir.path()));
    let watch =
        || Request::get(format!("/api/v1/chat/watch/{task_id}?session_id={session}")).body(Body::empty()).unwrap();
    assert_eq!(second.send_as(OPERATOR, watch()).await.status, StatusCode::OK);
    assert_error(&second.send_as(BOB, watch()).await, 403, "SESSION_MISMATCH");
}

#[tokio::test]
async fn bodies_must_be_sent_as_json() {
    let test = TestGateway::new();
    let body = preview_body(&session(), "show inbox");
    for content_type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
        let request =
            Request::post("/api/v1/chat/preview").header("content-type", content_type).body(Body::from(body.clone()));
        assert_error(&test.send(request.unwrap()).await, 415, "MALFORMED_JSON");
    }
    let no_type = Request::post("/api/v1/chat/confirm").body(Body::from(body.clone())).unwrap();
    assert_error(&test.send(no_type).await, 415, "MALFORMED_JSON");
    assert!(test.files_in("interface/inbox").is_empty());
    // Refusals of a signed-in person are counted like any other: per operation and code.
    test.gateway.flush_refusals().unwrap();
    let lines = test.telemetry_lines();
    let counted: Vec<(&str, u64)> =
        lines.iter().map(|l| (l["refused_event"].as_str().unwrap(), l["count"].as_u64().unwrap())).collect();
    assert_eq!(counted, [("preview", 3), ("confirm", 1)]);
    assert!(lines.iter().all(|l| l["error_code"] == "MALFORMED_JSON"));
}

#[tokio::test]
async fn a_session_ends_on_request_with_its_pending_previews() {
    let test = TestGateway::new();
    let session = session();
    let end = |user: uuid::Uuid, id: &str| {
        let request = Request::delete(format!("/api/v1/chat/session/{id}")).body(Body::empty()).unwrap();
        test.send_as(user, request)
    };
    let confirmed = test.create_task(&session, "liam check status").await;
    let task_id = confirmed["task_id"].as_str().unwrap().to_owned();
    let waiting: Vec<String> =
        [test.preview_ok(&session, "show tasks").await, test.preview_ok(&session, "show inbox").await]
            .iter()
            .map(|preview| preview["preview_id"].as_str().unwrap().to_owned())
            .collect();

    // Someone else cannot end it; a malformed id is refused.
    assert_error(&end(BOB, &session).await, 403, "SESSION_MISMATCH");
    assert_error(&end(OPERATOR, "not-a-uuid").await, 422, "INVALID_SESSION_ID");
    assert_eq!(test.confirm(&session, &waiting[0]).await.status, StatusCode::OK, "still live after refusals");

    let before = test.tree();
    let ended = end(OPERATOR, &session).await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.body);
    assert_eq!(ended.body, json!({"session_id": session, "ended": true, "dropped_previews": 1}));
    test.assert_nothing_written_since(&before);
    // Its previews are gone: a late confirm is told to preview again.
    assert_error(&test.confirm(&session, &waiting[1]).await, 410, "PREVIEW_EXPIRED");
    assert!(test.get(&format!("/api/v1/chat/tasks?session_id={session}")).await.body["tasks"]
        .as_array()
        .unwrap()
        .is_empty());
    // Ending it again is not an error, and says there was nothing to end.
    let again = end(OPERATOR, &session).await;
    assert_eq!(again.body, json!({"session_id": session, "ended": false, "dropped_previews": 0}));
    // Its tasks are still the execution plane's to run, and still watchable by their id.
    assert_eq!(test.watch(&session, &task_id).await.status, StatusCode::OK);
    // Bob may now use the id afresh: an ended session belongs to nobody.
    let bobs = test.send_as(BOB, json_request("/api/v1/chat/preview", &preview_body(&session, "show tasks"))).await;
    assert_eq!(bobs.status, StatusCode::OK, "{}", bobs.body);

    test.gateway.flush_refusals().unwrap();
    let lines = test.telemetry_lines();
    let ends: Vec<&Value> = lines.iter().filter(|line| line["event"] == "session_end").collect();
    assert_eq!(ends.len(), 3, "every end request is logged, refused ones too");
    assert_eq!(ends.iter().map(|line| line["outcome"].as_str().unwrap()).collect::<Vec<_>>(), ["error", "ok", "ok"]);
    let malformed: Vec<&Value> = lines.iter().filter(|line| line["refused_event"] == "session_end").collect();
    assert_eq!(malformed.len(), 1, "the malformed id is counted");
    assert_eq!(
        (malformed[0]["error_code"].as_str(), malformed[0]["count"].as_u64()),
        (Some("INVALID_SESSION_ID"), Some(1))
    );
    assert_eq!(ends[1]["session_id"], test.gateway.session_ref(&session).as_str());
    assert_eq!(ends[1]["channel"], "terminal");
    gateway::verify_file(&test.telemetry_path()).unwrap();
}

#[tokio::test]
async fn a_watch_and_a_task_list_take_their_session_in_a_header() {
    let test = TestGateway::new();
    let session = session();
    let preview = test.preview_ok(&session, "liam check status").await;
    let confirmed = test.confirm(&session, preview["preview_id"].as_str().unwrap()).await;
    let task_id = confirmed.body["task_id"].as_str().unwrap().to_owned();
    let get = |uri: String, header: Option<&str>| {
        let request = Request::get(uri);
        let request = match header {
            Some(value) => request.header(gateway::SESSION_HEADER, value),
            None => request,
        };
        request.body(Body::empty()).unwrap()
    };

    let watched = test.send(get(format!("/api/v1/chat/watch/{task_id}"), Some(&session))).await;
    assert_eq!(watched.status, StatusCode::OK, "{}", watched.body);
    assert_eq!(watched.body["task_id"], task_id.as_str());
    let listed = test.send(get("/api/v1/chat/tasks".to_owned(), Some(&session))).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(listed.body["tasks"].as_array().unwrap().len(), 1);

    // The header wins over the query: another session does not own the task.
    let other = common::session();
    let crossed = test.send(get(format!("/api/v1/chat/watch/{task_id}?session_id={session}"), Some(&other))).await;
    assert_error(&crossed, 404, "TASK_NOT_FOUND");
    assert_error(
        &test.send(get(format!("/api/v1/chat/watch/{task_id}"), Some("nope"))).await,
        422,
        "INVALID_SESSION_ID",
    );
    let missing = test.send(get(format!("/api/v1/chat/watch/{task_id}"), None)).await;
    assert_error(&missing, 422, "INVALID_FIELD");
    assert!(missing.body["error"]["message"].as_str().unwrap().contains("X-Session-Id"));
}
