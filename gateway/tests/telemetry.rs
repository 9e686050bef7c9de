//! The forensic trace: every request, refused ones included, is in the log — its own line with
//! every field of the record, or, for a refusal that costs nothing (malformed, rate limited), a
//! count in one `refused` line per caller and kind — and the lines form a verifiable hash chain.

mod common;

use std::time::Duration;

use axum::body::Body;
use common::{assert_error, json_request, relaxed, session, TestGateway};
use gateway::{GatewayConfig, RateLimit};
use http::{Request, StatusCode};
use serde_json::{json, Value};

const SPEC_FIELDS: &[&str] = &[
    "ts_utc",
    "module",
    "event",
    "session_id",
    "channel",
    "preview_id",
    "task_id",
    "raw_input",
    "normalized_intent",
    "risk",
    "outcome",
    "latency_ms",
];

#[tokio::test]
async fn every_request_leaves_one_line_or_one_count() {
    let test = TestGateway::with(|root| GatewayConfig {
        session_rate: RateLimit::new(1, 25),
        preview_ttl: Duration::from_secs(1),
        ..relaxed(root)
    });
    let session = session();
    // (event, expected error code or None) for each request, in order.
    let mut expected: Vec<(&str, Option<&str>)> = Vec::new();

    let preview = test.preview_ok(&session, "liam check status").await;
    expected.push(("preview", None));
    let preview_id = preview["preview_id"].as_str().unwrap().to_owned();
    let confirmed = test.confirm(&session, &preview_id).await;
    expected.push(("confirm", None));
    let task_id = confirmed.body["task_id"].as_str().unwrap().to_owned();
    test.watch(&session, &task_id).await;
    expected.push(("watch", None));

    let refusals: Vec<(&str, Request<Body>, &str)> = vec![
        ("preview", json_request("/api/v1/chat/preview", "{"), "MALFORMED_JSON"),
        ("preview", json_request("/api/v1/chat/preview", r#"{"raw_input":"x"}"#), "INVALID_FIELD"),
        ("confirm", json_request("/api/v1/chat/confirm", "nope"), "MALFORMED_JSON"),
        ("watch", Request::get(format!("/api/v1/chat/watch/{task_id}")).body(Body::empty()).unwrap(), "INVALID_FIELD"),
        (
            "preview",
            json_request(
                "/api/v1/chat/preview",
                &json!({"raw_input": "show tasks", "channel": "web", "session_id": "nope"}).to_string(),
            ),
            "INVALID_SESSION_ID",
        ),
        (
            "preview",
            json_request(
                "/api/v1/chat/preview",
                &json!({"raw_input": " ", "channel": "terminal", "session_id": session}).to_string(),
            ),
            "INVALID_INPUT",
        ),
        (
            "confirm",
            json_request("/api/v1/chat/confirm", &json!({"preview_id": preview_id, "session_id": session}).to_string()),
            "PREVIEW_ALREADY_CONFIRMED",
        ),
        (
            "confirm",
            json_request(
                "/api/v1/chat/confirm",
                &json!({"preview_id": preview_id, "session_id": common::session()}).to_string(),
            ),
            "SESSION_MISMATCH",
        ),
        (
            "confirm",
            json_request(
                "/api/v1/chat/confirm",
                &json!({"preview_id": uuid::Uuid::new_v4(), "session_id": session}).to_string(),
            ),
            "PREVIEW_NOT_FOUND",
        ),
        (
            "watch",
            Request::get(format!("/api/v1/chat/watch/task_20200101T000000_000000000000?session_id={session}"))
                .body(Body::empty())
                .unwrap(),
            "TASK_NOT_FOUND",
        ),
    ];
    for (event, request, code) in refusals {
        let reply = test.send(request).await;
        assert_eq!(reply.body["error"]["code"], code, "{}", reply.body);
        expected.push((event, Some(code)));
    }

    let stale = test.preview_ok(&session, "show tasks").await;
    expected.push(("preview", None));
    test.clock.advance(Duration::from_secs(1));
    assert_error(&test.confirm(&session, stale["preview_id"].as_str().unwrap()).await, 410, "PREVIEW_EXPIRED");
    expected.push(("confirm", Some("PREVIEW_EXPIRED")));

    // Exhaust the session's burst: the refusals are logged too.
    loop {
        let reply = test.preview(&session, "show tasks").await;
        let code = reply.body["error"]["code"].as_str().map(str::to_owned);
        match code.as_deref() {
            None => expected.push(("preview", None)),
            Some("TOO_MANY_PREVIEWS") => expected.push(("preview", Some("TOO_MANY_PREVIEWS"))),
            Some("RATE_LIMITED") => {
                expected.push(("preview", Some("RATE_LIMITED")));
                break;
            }
            Some(other) => panic!("unexpected {other}"),
        }
        assert!(expected.len() < 100, "the session limit never applied");
    }

    // Malformed and rate-limited calls are counted, not written one by one.
    const COUNTED: &[&str] =
        &["MALFORMED_JSON", "INVALID_FIELD", "INVALID_SESSION_ID", "INVALID_INPUT", "RATE_LIMITED"];
    let is_counted = |code: &Option<&str>| code.is_some_and(|c| COUNTED.contains(&c));
    let mut counted = std::collections::BTreeMap::<(String, String), u64>::new();
    for (event, code) in expected.iter().filter(|(_, code)| is_counted(code)) {
        *counted.entry(((*event).to_owned(), code.unwrap_or_default().to_owned())).or_default() += 1;
    }
    expected.retain(|(_, code)| !is_counted(code));
    assert!(test.telemetry_lines().len() == expected.len(), "the counts wait for their window to close");
    test.gateway.flush_refusals().unwrap();
    let all_lines = test.telemetry_lines();
    let (refused, lines): (Vec<Value>, Vec<Value>) =
        all_lines.iter().cloned().partition(|line| line["event"] == "refused");
    let mut written = std::collections::BTreeMap::<(String, String), u64>::new();
    for line in &refused {
        assert_eq!(line["user_id"], common::OPERATOR.to_string(), "{line}");
        assert_eq!(line["outcome"], "error");
        let key = (line["refused_event"].as_str().unwrap().to_owned(), line["error_code"].as_str().unwrap().to_owned());
        assert!(written.insert(key, line["count"].as_u64().unwrap()).is_none(), "one line per kind: {line}");
    }
    assert_eq!(written, counted, "every counted refusal is in a refused line");
    assert_eq!(lines.len(), expected.len(), "one line per other request");
    for (index, (line, (event, code))) in lines.iter().zip(&expected).enumerate() {
        for field in SPEC_FIELDS {
            assert!(line.get(*field).is_some(), "line {}: no {field}: {line}", index + 1);
        }
        assert_eq!(line["module"], "chat_gateway");
        assert_eq!(line["event"], *event, "line {}: {line}", index + 1);
        match code {
            None => {
                assert_eq!(line["outcome"], "ok", "line {}: {line}", index + 1);
                assert_eq!(line["error_code"], Value::Null);
            }
            Some(code) => {
                assert_eq!(line["outcome"], "error", "line {}: {line}", index + 1);
                assert_eq!(line["error_code"], *code, "line {}: {line}", index + 1);
            }
        }
        assert!(line["latency_ms"].is_u64());
        assert_eq!(line["user_id"], common::OPERATOR.to_string(), "line {}: {line}", index + 1);
        assert!(chrono::DateTime::parse_from_rfc3339(line["ts_utc"].as_str().unwrap()).is_ok());
    }
    // The first three lines carry what happened.
    assert_eq!(lines[0]["raw_input"], "liam check status");
    assert_eq!(lines[0]["normalized_intent"], "status_check");
    assert_eq!(lines[0]["risk"], "low");
    assert_eq!(lines[0]["channel"], "terminal");
    // The session is named by a keyed hash: its lines can be joined, its id is not in the log.
    assert_eq!(lines[0]["session_id"], test.gateway.session_ref(&session).as_str());
    assert!(lines[0]["session_id"].as_str().unwrap().starts_with("hmac:"));
    assert!(!std::fs::read_to_string(test.telemetry_path()).unwrap().contains(&session));
    assert_eq!(lines[0]["preview_id"], preview_id.as_str());
    assert_eq!(lines[1]["task_id"], task_id.as_str());
    assert_eq!(lines[2]["task_id"], task_id.as_str());

    let report = gateway::verify_file(&test.telemetry_path()).unwrap();
    assert_eq!(report.lines, all_lines.len() as u64);
}

#[tokio::test]
async fn the_verifier_accepts_the_chain_and_pinpoints_a_tampered_line() {
    let test = TestGateway::new();
    let session = session();
    for _ in 0..3 {
        test.create_task(&session, "liam check status").await;
    }
    let path = test.telemetry_path();
    assert_eq!(gateway::verify_file(&path).unwrap().lines, 6);

    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[3] = lines[3].replace("\"outcome\":\"ok\"", "\"outcome\":\"error\"");
    let tampered = test.root().join("tampered.jsonl");
    std::fs::write(&tampered, lines.join("\n") + "\n").unwrap();
    let broken = gateway::verify_file(&tampered).unwrap_err();
    assert_eq!(broken.line, 4, "{broken}");

    // The live gateway keeps appending to the untouched chain.
    assert_eq!(test.watch(&session, "task_20200101T000000_000000000000").await.status, StatusCode::NOT_FOUND);
    assert_eq!(gateway::verify_file(&path).unwrap().lines, 7);
}

#[tokio::test]
async fn the_chain_continues_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..3 {
        let test = TestGateway::with(|_| relaxed(dir.path()));
        test.preview_ok(&session(), "show tasks").await;
    }
    let path = dir.path().join("observability/telemetry/gateway.jsonl");
    assert_eq!(gateway::verify_file(&path).unwrap().lines, 3);
    let lines = common::read_json_lines(&path);
    assert_eq!(lines[1]["prev_hash"], lines[0]["hash"]);
    assert_eq!(lines[2]["prev_hash"], lines[1]["hash"]);
    assert_eq!(lines[2]["seq"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_never_interleave() {
    let test = TestGateway::new();
    let tasks = (0..200).map(|i| {
        let gateway = test.gateway.clone();
        tokio::spawn(async move {
            let request = domain::control_plane::PreviewRequest {
                raw_input: format!("show tasks {}", "x".repeat(i * 10)),
                channel: domain::control_plane::Channel::Web,
                session_id: uuid::Uuid::new_v4().to_string(),
            };
            gateway.preview(request, gateway::Operator::new(common::OPERATOR), None).await.map(|_| ())
        })
    });
    for result in futures::future::join_all(tasks).await {
        result.unwrap().unwrap();
    }
    assert_eq!(gateway::verify_file(&test.telemetry_path()).unwrap().lines, 200);
}
