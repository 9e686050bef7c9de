//! The control plane's disk taken away from a real server process: nearly full (under
//! `GATEWAY_MIN_FREE_MB`), or its task folders read-only. Previews and confirms fail closed with
//! `503 STORAGE_UNAVAILABLE`, write nothing and say nothing of paths; rooms keep working; once the
//! disk is back, the same preview is confirmed.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use common::eventually;
use common::process::{post, ServerProcess};
use fake_llm::{FakeLlm, Reply};
use serde_json::{json, Value};

/// An unprivileged user for the server when the tests run as root, who ignores permissions.
const NOBODY: u32 = 65534;

fn running_as_root() -> bool {
    std::process::Command::new("id").arg("-u").output().is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

/// Gives `path` and everything under it to `uid`.
fn give_to(path: &Path, uid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(uid)).unwrap();
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            give_to(&entry.unwrap().path(), uid);
        }
    }
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn files_in(path: &Path) -> Vec<String> {
    std::fs::read_dir(path).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

/// The chat still works: a message gets an agent's complete reply.
async fn a_message_is_answered(client: &reqwest::Client, base: &str, room_id: &str) {
    let message =
        post(client, format!("{base}/api/rooms/{room_id}/messages"), json!({"content": "Still there?"})).await;
    assert_eq!(message["message"]["sender_type"], "human", "{message}");
    let url = format!("{base}/api/rooms/{room_id}/messages");
    eventually(Duration::from_secs(20), "the agent's complete reply", || async {
        let page: Value = client.get(&url).send().await.unwrap().json().await.unwrap();
        let messages = page["messages"].as_array().unwrap().clone();
        messages.last().is_some_and(|m| m["sender_type"] == "agent" && m["status"] == "complete")
    })
    .await;
}

async fn refused_for_storage(response: reqwest::Response) {
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "60");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "STORAGE_UNAVAILABLE", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(!message.contains('/') && message.contains("nothing was"), "no path, and what happened: {message}");
}

#[tokio::test]
async fn a_full_or_read_only_control_plane_disk_fails_closed_and_the_chat_keeps_working() {
    let fake = FakeLlm::start(Reply::words("Yes, still here.")).await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("control-plane");
    let database_url = format!("sqlite://{}?mode=rwc", dir.path().join("chat.db").display());
    let uid = running_as_root().then_some(NOBODY);
    let root_env = ("GATEWAY_ROOT", root.to_str().unwrap());
    let (inbox, approval) = (root.join("interface/inbox"), root.join("interface/pending_approval"));

    // Nearly full: the disk has less free space than asked for (a petabyte).
    std::fs::create_dir_all(&root).unwrap();
    if let Some(uid) = uid {
        give_to(dir.path(), uid);
    }
    let server =
        ServerProcess::start_as(uid, &database_url, &fake, None, &[root_env, ("GATEWAY_MIN_FREE_MB", "1000000000")]);
    server.wait_ready().await;
    let base = server.base.clone();
    let client = common::client_with_token(&common::sign_up_over_http(&base, "Dora Disk").await);
    let room = post(&client, format!("{base}/api/rooms"), json!({"name": "Disk drill"})).await;
    let room_id = room["id"].as_str().unwrap().to_owned();
    let agent = json!({"name": "Ada", "model": "gpt-4o-mini", "system_prompt": "", "temperature": 0.3});
    post(&client, format!("{base}/api/rooms/{room_id}/agents"), agent).await;

    let session = uuid::Uuid::new_v4().to_string();
    let preview = json!({"raw_input": "liam check status", "channel": "web", "session_id": session});
    refused_for_storage(client.post(format!("{base}/api/v1/chat/preview")).json(&preview).send().await.unwrap()).await;
    a_message_is_answered(&client, &base, &room_id).await;
    assert!(files_in(&inbox).is_empty() && files_in(&approval).is_empty());
    assert!(server.terminate().success());

    // Space again, but the task folders refuse writes.
    let server = ServerProcess::start_as(uid, &database_url, &fake, None, &[root_env]);
    server.wait_ready().await;
    let base = server.base.clone();
    let previewed = post(&client, format!("{base}/api/v1/chat/preview"), preview.clone()).await;
    let confirm = json!({"preview_id": previewed["preview_id"], "session_id": session});
    let before = std::fs::read_to_string(root.join("observability/telemetry/gateway.jsonl")).unwrap();
    set_mode(&inbox, 0o555);
    set_mode(&approval, 0o555);
    refused_for_storage(client.post(format!("{base}/api/v1/chat/confirm")).json(&confirm).send().await.unwrap()).await;
    a_message_is_answered(&client, &base, &room_id).await;
    assert!(files_in(&inbox).is_empty(), "nothing was written: {:?}", files_in(&inbox));
    let lines = std::fs::read_to_string(root.join("observability/telemetry/gateway.jsonl")).unwrap();
    let refusal: Value = serde_json::from_str(lines[before.len()..].lines().last().unwrap()).unwrap();
    assert_eq!(
        (refusal["event"].as_str(), refusal["error_code"].as_str()),
        (Some("confirm"), Some("STORAGE_UNAVAILABLE"))
    );

    // The disk is back: the same preview is confirmed once.
    set_mode(&inbox, 0o755);
    set_mode(&approval, 0o755);
    let confirmed = post(&client, format!("{base}/api/v1/chat/confirm"), confirm).await;
    let task_id = confirmed["task_id"].as_str().unwrap();
    assert_eq!(files_in(&inbox), [format!("{task_id}.yaml")]);
    assert!(server.terminate().success());
    gateway::verify_file(&root.join("observability/telemetry/gateway.jsonl")).unwrap();
}
