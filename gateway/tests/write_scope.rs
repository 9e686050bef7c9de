//! The write scope: the gateway writes only under `interface/inbox/`,
//! `interface/pending_approval/` and `observability/telemetry/gateway.jsonl`, whatever it is sent.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{relaxed, session, TestGateway};
use http::StatusCode;
use serde_json::json;

/// Every file under `dir`, relative to it.
fn files(dir: &Path) -> BTreeSet<String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                walk(base, &path, out);
            } else {
                out.insert(path.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

#[tokio::test]
async fn hostile_requests_write_nothing_outside_the_three_places() {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("control-plane");
    for forbidden in ["core", "core_brain", "runtime"] {
        std::fs::create_dir_all(root.join(forbidden)).unwrap();
        std::fs::write(root.join(forbidden).join("keep.txt"), "untouched").unwrap();
    }
    std::fs::write(root.join(".env"), "SECRET=1").unwrap();
    let before_outside = files(outer.path());

    let test = TestGateway::with(|_| relaxed(&root));
    let session = session();
    let hostile_inputs = [
        "lisa run ../../core/evil",
        "lisa run /etc/passwd",
        "liam check status > ../../core/x",
        "show tasks; cp /dev/null ../.env",
        "lisa run ..%2F..%2Fruntime",
        "lisa run task_20260202T100000_0123456789ab/../../x",
    ];
    for input in hostile_inputs {
        let preview = test.preview_ok(&session, input).await;
        let body = json!({
            "preview_id": preview["preview_id"], "session_id": session,
            "structured_override": {"intent": "task_execution", "operations": [{"tool": "task_runner", "args": {"task": "report"}}]},
        });
        let reply = test.post("/api/v1/chat/confirm", body).await;
        assert_eq!(reply.status, StatusCode::OK, "{input}: {}", reply.body);
        let path = reply.body["path_written"].as_str().unwrap();
        assert!(path.starts_with("interface/pending_approval/task_") && !path.contains(".."), "{path}");
    }
    for task_id in ["..%2F..%2F.env", "task_20260202T100000_0123456789ab%2F..%2F..%2F.env", "..", "%2E%2E"] {
        let reply = test.get(&format!("/api/v1/chat/watch/{task_id}?session_id={session}")).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{task_id}: {}", reply.body);
        assert_eq!(reply.body["error"]["code"], "TASK_NOT_FOUND");
    }
    // A path with real slashes matches no gateway route at all (the server answers its JSON 404).
    let nested = http::Request::get(format!("/api/v1/chat/watch/../../core/keep.txt?session_id={session}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let response = tower::ServiceExt::oneshot(test.router.clone(), nested).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let confirm = json!({"preview_id": "../../core/keep.txt", "session_id": session});
    assert_eq!(test.post("/api/v1/chat/confirm", confirm).await.status, StatusCode::NOT_FOUND);
    test.create_task(&session, "liam check status").await;

    for file in files(&root) {
        let allowed = (file.starts_with("interface/inbox/task_") && file.ends_with(".yaml"))
            || (file.starts_with("interface/pending_approval/task_") && file.ends_with(".yaml"))
            || file == "observability/telemetry/gateway.jsonl"
            || before_outside.contains(&format!("control-plane/{file}"));
        assert!(allowed, "the gateway wrote {file}");
    }
    for forbidden in ["core/keep.txt", "core_brain/keep.txt", "runtime/keep.txt"] {
        assert_eq!(std::fs::read_to_string(root.join(forbidden)).unwrap(), "untouched");
    }
    assert_eq!(std::fs::read_to_string(root.join(".env")).unwrap(), "SECRET=1");
    let outside: BTreeSet<String> =
        files(outer.path()).into_iter().filter(|f| !f.starts_with("control-plane/")).collect();
    assert!(outside.is_empty(), "written outside the root: {outside:?}");
    let count = |folder: &str| std::fs::read_dir(root.join(folder)).unwrap().count();
    assert_eq!(count("interface/pending_approval"), hostile_inputs.len());
    assert_eq!(count("interface/inbox"), 1);
}

#[cfg(unix)]
#[tokio::test]
async fn a_lane_folder_linked_outside_the_root_stops_start_up() {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("control-plane");
    std::fs::create_dir_all(root.join("interface")).unwrap();
    let elsewhere = outer.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, root.join("interface/pending_approval")).unwrap();
    let error = gateway::Gateway::new(relaxed(&root)).unwrap_err();
    assert!(matches!(error, gateway::GatewayStartupError::OutsideRoot { .. }), "{error}");
}

#[test]
fn an_invalid_rules_file_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = include_str!("../rules/v1.yaml");
    let broken = shipped.replace("risk: low", "risk: none");
    let error = gateway::Gateway::with_rules_text(relaxed(dir.path()), &broken).unwrap_err();
    assert!(matches!(error, gateway::GatewayStartupError::InvalidRules(_)), "{error}");
    assert!(gateway::Gateway::with_rules_text(relaxed(dir.path()), shipped).is_ok());
}
