//! Servers ending mid-run, as real processes. Killed with SIGKILL, a server leaves rows that the
//! next start makes consistent: the run is closed with `server_restart`, the message being
//! written is kept as `interrupted` with the text saved so far, and a new run starts and ends
//! normally. Asked to stop with SIGTERM, it ends the run itself with `server_shutdown`, keeps the
//! partial message, exits 0, and has logged one JSON object per line throughout.

mod common;

use std::time::Duration;

use common::process::{fresh_database, post, ServerProcess};
use common::{eventually, Db};
use fake_llm::{FakeLlm, Reply};
use futures::StreamExt;
use serde_json::{json, Value};

on_both_databases!(
    a_killed_server_leaves_consistent_rows,
    a_terminated_server_ends_its_run_and_logs_json_lines,
    a_control_plane_log_cut_short_stops_the_next_start,
    a_control_plane_log_torn_by_a_crash_is_repaired_at_the_next_start,
);

/// A run in a room of two agents, caught while its first reply streams with text already saved.
struct RunMidReply {
    client: reqwest::Client,
    token: String,
    room_id: String,
    run_id: String,
}

async fn run_mid_reply(server: &ServerProcess, person: &str) -> RunMidReply {
    server.wait_ready().await;
    let base = server.base.clone();
    let token = common::sign_up_over_http(&base, person).await;
    let client = common::client_with_token(&token);
    let room = post(&client, format!("{base}/api/rooms"), json!({"name": "Mid-reply"})).await;
    let room_id = room["id"].as_str().unwrap().to_owned();
    for name in ["Ada", "Bob"] {
        let agent = json!({"name": name, "model": "gpt-4o-mini", "system_prompt": "", "temperature": 0.3});
        post(&client, format!("{base}/api/rooms/{room_id}/agents"), agent).await;
    }
    let started =
        post(&client, format!("{base}/api/rooms/{room_id}/auto/start"), json!({"max_steps": 10, "max_seconds": 300}))
            .await;
    let run_id = started["run_id"].as_str().unwrap().to_owned();
    let messages_url = format!("{base}/api/rooms/{room_id}/messages");
    eventually(Duration::from_secs(20), "a saved partial message", || async {
        let page: Value = client.get(&messages_url).send().await.unwrap().json().await.unwrap();
        page["messages"].as_array().unwrap().iter().any(|m| m["status"] == "streaming" && m["content"] != "")
    })
    .await;
    RunMidReply { client, token, room_id, run_id }
}

async fn a_killed_server_leaves_consistent_rows(db: Db) {
    let words = (0..400).map(|i| format!("word{i}")).collect::<Vec<_>>().join(" ");
    let fake = FakeLlm::start(Reply::words(&words).with_token_delay(Duration::from_millis(20))).await;
    let database = fresh_database(db).await;
    let server = ServerProcess::start(&database.url, &fake);
    let RunMidReply { client, token, room_id, run_id } = run_mid_reply(&server, "Crash Tester").await;
    for index in 0..3 {
        post(
            &client,
            format!("{}/api/rooms/{room_id}/messages", server.base),
            json!({"content": format!("note {index}")}),
        )
        .await;
    }
    // Twenty people watch the room live; each has seen some of the reply being written.
    let stream_url = format!("{}/api/rooms/{room_id}/stream", server.base);
    let mut watchers = Vec::new();
    for _ in 0..20 {
        let mut stream = common::sse_connect_fallible(&token, &stream_url, None).await;
        let mut last_id = String::new();
        while let Some(Ok(event)) = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.unwrap() {
            last_id = event.id.clone();
            if event.event == "message.delta" {
                break;
            }
        }
        assert!(!last_id.is_empty(), "a live event with an id");
        watchers.push((stream, last_id));
    }
    let finished_before: Vec<Value> = {
        let page: Value = client
            .get(format!("{}/api/rooms/{room_id}/messages", server.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        page["messages"].as_array().unwrap().iter().filter(|m| m["status"] == "complete").cloned().collect()
    };
    assert!(finished_before.len() >= 3, "the notes are finished messages");
    server.kill();
    // Each open stream ends with the process.
    for (stream, _) in &mut watchers {
        let ended =
            tokio::time::timeout(Duration::from_secs(10), async { while let Some(Ok(_)) = stream.next().await {} })
                .await;
        assert!(ended.is_ok(), "a stream of the killed server ends");
    }

    let restarted = ServerProcess::start(&database.url, &fake);
    restarted.wait_ready().await;
    let base = restarted.base.clone();
    let run: Value =
        client.get(format!("{base}/api/rooms/{room_id}/runs/{run_id}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        (run["status"].as_str(), run["stop_reason"].as_str()),
        (Some("stopped"), Some("server_restart")),
        "{run}"
    );
    assert!(run["stopped_at"].is_string());

    let page: Value =
        client.get(format!("{base}/api/rooms/{room_id}/messages")).send().await.unwrap().json().await.unwrap();
    let messages = page["messages"].as_array().unwrap();
    assert!(messages.iter().all(|m| m["status"] != "streaming"), "nothing is left streaming");
    let cut = messages.iter().find(|m| m["status"] == "interrupted").expect("the message being written is kept");
    let text = cut["content"].as_str().unwrap();
    assert!(text.starts_with("word0 word1"), "the saved text is kept: {text}");
    assert!(cut["error"].as_str().is_some_and(|e| !e.is_empty()));
    for finished in &finished_before {
        let kept = messages.iter().find(|m| m["id"] == finished["id"]).expect("a finished message is kept");
        assert_eq!(kept, finished, "a finished message is intact");
    }

    // The watchers come back with their last event id: the new server cannot replay the old
    // one's events, says so with stream.reset (the page reloads the room), then streams live.
    let stream_url = format!("{base}/api/rooms/{room_id}/stream");
    let mut resumed = Vec::new();
    for (_, last_id) in &watchers {
        let mut stream = common::sse_connect(&token, &stream_url, Some(last_id)).await;
        let first = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.unwrap().unwrap();
        assert_eq!(first.event, "stream.reset", "{first:?}");
        resumed.push(stream);
    }

    // The room is usable again: a new run starts and ends normally.
    fake.set_fallback(Reply::words("back on track"));
    let started =
        post(&client, format!("{base}/api/rooms/{room_id}/auto/start"), json!({"max_steps": 1, "max_seconds": 60}))
            .await;
    let new_run_id = started["run_id"].as_str().unwrap().to_owned();
    let run_url = format!("{base}/api/rooms/{room_id}/runs/{new_run_id}");
    let get = |url: String| {
        let client = client.clone();
        async move { client.get(url).send().await.unwrap().json::<Value>().await.unwrap() }
    };
    eventually(Duration::from_secs(30), "the new run to end", || async {
        get(run_url.clone()).await["status"] != "running"
    })
    .await;
    let run = get(run_url).await;
    assert_eq!(
        (run["status"].as_str(), run["stop_reason"].as_str(), run["steps"].as_i64()),
        (Some("completed"), Some("max_steps"), Some(1)),
        "{run}"
    );
    let page = get(format!("{base}/api/rooms/{room_id}/messages")).await;
    let replies: Vec<&Value> =
        page["messages"].as_array().unwrap().iter().filter(|m| m["run_id"] == new_run_id.as_str()).collect();
    assert_eq!(replies.len(), 1, "{page}");
    assert_eq!(
        (replies[0]["status"].as_str(), replies[0]["content"].as_str()),
        (Some("complete"), Some("back on track"))
    );
    // Every resumed watcher saw the new reply finish live.
    let reply_id = replies[0]["id"].as_str().unwrap().to_owned();
    for stream in &mut resumed {
        loop {
            let event = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.unwrap().unwrap();
            if event.event == "message.done" && event.data.contains(&reply_id) {
                break;
            }
        }
    }
}

async fn a_terminated_server_ends_its_run_and_logs_json_lines(db: Db) {
    let words = (0..400).map(|i| format!("word{i}")).collect::<Vec<_>>().join(" ");
    let fake = FakeLlm::start(Reply::words(&words).with_token_delay(Duration::from_millis(20))).await;
    let database = fresh_database(db).await;
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("server.jsonl");
    let server = ServerProcess::start_with(&database.url, &fake, Some(&log), &[]);
    let RunMidReply { client, room_id, run_id, .. } = run_mid_reply(&server, "Shutdown Tester").await;

    let status = server.terminate();
    assert!(status.success(), "a graceful shutdown exits 0: {status}");

    // What the server wrote before it exited, read by the next one (which finds nothing to repair).
    let restarted = ServerProcess::start(&database.url, &fake);
    restarted.wait_ready().await;
    let base = restarted.base.clone();
    let run: Value =
        client.get(format!("{base}/api/rooms/{room_id}/runs/{run_id}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        (run["status"].as_str(), run["stop_reason"].as_str()),
        (Some("stopped"), Some("server_shutdown")),
        "{run}"
    );
    let page: Value =
        client.get(format!("{base}/api/rooms/{room_id}/messages")).send().await.unwrap().json().await.unwrap();
    let messages = page["messages"].as_array().unwrap();
    assert!(messages.iter().all(|m| m["status"] != "streaming"), "nothing is left streaming: {page}");
    let cut = messages.iter().find(|m| m["status"] == "interrupted").expect("the message being written is kept");
    assert!(cut["content"].as_str().unwrap().starts_with("word0 word1"), "{cut}");

    // One JSON object per line, each with the documented fields.
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}")))
        .collect();
    assert!(lines.len() >= 5, "{text}");
    for line in &lines {
        let object = line.as_object().unwrap_or_else(|| panic!("not an object: {line}"));
        let at = object.get("timestamp").and_then(Value::as_str).unwrap_or_else(|| panic!("no timestamp: {line}"));
        assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok(), "an RFC 3339 timestamp: {line}");
        assert!(["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&line["level"].as_str().unwrap_or("")), "{line}");
        assert!(line["target"].is_string() && line["message"].is_string(), "{line}");
    }
    let find =
        |message: &str| lines.iter().find(|l| l["message"] == message).unwrap_or_else(|| panic!("{message}: {text}"));
    let request = find("request completed");
    assert!(request["status"].is_u64() && request["latency_ms"].is_number(), "{request}");
    let span = &request["span"];
    assert!(span["method"].is_string() && span["route"].is_string() && span["request_id"].is_string(), "{request}");
    assert_eq!(find("run started")["run_id"], run_id.as_str());
    let ended = find("run ended");
    assert_eq!((ended["run_id"].as_str(), ended["reason"].as_str()), (Some(run_id.as_str()), Some("server_shutdown")));
    assert_eq!(lines.last().unwrap()["message"], "shut down", "the last line says the server is done");
}

/// A server whose control plane writes under a folder of its own, with an admin signed in over
/// HTTP; `previews` are previewed first, one line each in the telemetry log.
struct ControlPlaneServer {
    fake: FakeLlm,
    database: storage::testing::TestDatabase,
    _dir: tempfile::TempDir,
    root: String,
    telemetry: std::path::PathBuf,
    server: ServerProcess,
    client: reqwest::Client,
}

impl ControlPlaneServer {
    async fn start(db: Db, previews: &[&str]) -> Self {
        let fake = FakeLlm::start(Reply::words("ok")).await;
        let database = fresh_database(db).await;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("control-plane").to_string_lossy().into_owned();
        let telemetry = std::path::Path::new(&root).join("observability/telemetry/gateway.jsonl");
        let server = ServerProcess::start_with(&database.url, &fake, None, &[("GATEWAY_ROOT", &root)]);
        server.wait_ready().await;
        let client = common::client_with_token(&common::sign_up_over_http(&server.base, "Audrey Admin").await);
        for command in previews {
            let body = json!({"raw_input": command, "channel": "web", "session_id": uuid::Uuid::new_v4().to_string()});
            post(&client, format!("{}/api/v1/chat/preview", server.base), body).await;
        }
        Self { fake, database, _dir: dir, root, telemetry, server, client }
    }
}

async fn a_control_plane_log_cut_short_stops_the_next_start(db: Db) {
    let ControlPlaneServer { fake, database, _dir, root, telemetry, server, client } =
        ControlPlaneServer::start(db, &["show tasks", "show inbox", "liam check status"]).await;
    let root_env = [("GATEWAY_ROOT", root.as_str())];
    let base = server.base.clone();
    // The head is kept in the database as lines are written, and admins can read it.
    let anchor_url = format!("{base}/api/v1/chat/telemetry/anchor");
    let last_line = || -> Value {
        serde_json::from_str(std::fs::read_to_string(&telemetry).unwrap().lines().last().unwrap()).unwrap()
    };
    eventually(Duration::from_secs(10), "the anchor to reach the newest line", || async {
        let anchor: Value = client.get(&anchor_url).send().await.unwrap().json().await.unwrap();
        anchor["seq"] == 3 && anchor["hash"] == last_line()["hash"]
    })
    .await;
    assert!(server.terminate().success());

    // The last line is cut off while the server is down: the chain alone is still sound.
    let text = std::fs::read_to_string(&telemetry).unwrap();
    let cut: String = text.lines().take(2).map(|line| format!("{line}\n")).collect();
    std::fs::write(&telemetry, &cut).unwrap();
    assert_eq!(gateway::verify_file(&telemetry).unwrap().lines, 2);

    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("refused.jsonl");
    let mut refused = ServerProcess::start_with(&database.url, &fake, Some(&log), &root_env);
    let status = refused.wait_exit();
    assert!(!status.success(), "a log that no longer reaches its anchor stops start-up");
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(said.contains("lines were cut from the end") && said.contains("GATEWAY_TELEMETRY_REANCHOR"), "{said}");
    assert_eq!(std::fs::read_to_string(&telemetry).unwrap(), cut, "the evidence is left as it was");

    // Told to, the server starts and anchors the log as it now is.
    let reanchor = [root_env[0], ("GATEWAY_TELEMETRY_REANCHOR", "1")];
    let restarted = ServerProcess::start_with(&database.url, &fake, None, &reanchor);
    restarted.wait_ready().await;
    let anchor: Value = client
        .get(format!("{}/api/v1/chat/telemetry/anchor", restarted.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((anchor["seq"].as_i64(), &anchor["hash"]), (Some(2), &last_line()["hash"]));
}

async fn a_control_plane_log_torn_by_a_crash_is_repaired_at_the_next_start(db: Db) {
    let ControlPlaneServer { fake, database, _dir, root, telemetry, server, client } =
        ControlPlaneServer::start(db, &["show tasks", "show inbox"]).await;
    let root_env = [("GATEWAY_ROOT", root.as_str())];
    let base = server.base.clone();
    let anchor_url = format!("{base}/api/v1/chat/telemetry/anchor");
    eventually(Duration::from_secs(10), "the anchor to reach the newest line", || async {
        let anchor: Value = client.get(&anchor_url).send().await.unwrap().json().await.unwrap();
        anchor["seq"] == 2
    })
    .await;
    server.kill();

    // The machine died while a third line was being written: half a line, then zeros.
    let sound = std::fs::read(&telemetry).unwrap();
    let torn = b"{\"channel\":\"web\",\"event\":\"prev\0\0\0\0\0\0";
    std::fs::write(&telemetry, [sound.as_slice(), torn].concat()).unwrap();

    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("repaired.jsonl");
    let restarted = ServerProcess::start_with(&database.url, &fake, Some(&log), &root_env);
    restarted.wait_ready().await;
    let repaired = std::fs::read(&telemetry).unwrap();
    assert!(repaired.starts_with(&sound), "the sound lines are kept as they were");
    let report = gateway::verify_file(&telemetry).unwrap();
    assert_eq!((report.lines, report.repairs), (3, 1));
    let repair: Value = serde_json::from_slice(repaired[sound.len()..].strip_suffix(b"\n").unwrap()).unwrap();
    assert_eq!((repair["event"].as_str(), repair["resumed_after_seq"].as_u64()), (Some("chain_repair"), Some(2)));
    let copy = telemetry.with_file_name(repair["damaged_copy"].as_str().unwrap());
    assert_eq!(std::fs::read(copy).unwrap(), torn, "the damaged bytes are kept beside the log");
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(said.contains("moved aside"), "the repair is in the server's log: {said}");
    // The anchor follows the repaired chain and the control plane works on.
    eventually(Duration::from_secs(10), "the anchor to reach the repair line", || async {
        let anchor: Value = client
            .get(format!("{}/api/v1/chat/telemetry/anchor", restarted.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        anchor["seq"] == 3
    })
    .await;
    let body = json!({"raw_input": "show tasks", "channel": "web", "session_id": uuid::Uuid::new_v4().to_string()});
    post(&client, format!("{}/api/v1/chat/preview", restarted.base), body).await;
}
