//! PostgreSQL stopped and started again under a real server process with traffic: `/readyz`
//! goes 503 and back, every request in between fails cleanly (a JSON error, no database text,
//! within the pool's acquire timeout), nothing stored before is lost, and a live stream opened
//! before the outage carries the events of the messages written after it.
//!
//! The drill runs its own PostgreSQL cluster, which it may stop, not the suite's shared one.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::eventually;
use common::process::{post, ServerProcess};
use fake_llm::{FakeLlm, Reply};
use futures::StreamExt;
use serde_json::{json, Value};

/// A PostgreSQL cluster of the test's own, in a temporary folder on a free loopback port.
struct PrivatePostgres {
    folder: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl PrivatePostgres {
    fn create() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries (make setup installs them)")
            .map(|entry| entry.unwrap().path().join("bin"))
            .filter(|bin| bin.join("initdb").exists())
            .max()
            .expect("an initdb");
        let folder = tempfile::Builder::new().prefix("ais-chatrooms-pg-drill").tempdir().unwrap();
        let as_postgres = Command::new("id").arg("-u").output().is_ok_and(|out| out.stdout.trim_ascii() == b"0");
        if as_postgres {
            // initdb refuses to run as root; the Debian package makes a `postgres` user.
            assert!(Command::new("chown")
                .args(["postgres", folder.path().to_str().unwrap()])
                .status()
                .unwrap()
                .success());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let cluster = Self { folder, bin, port, as_postgres };
        let data = cluster.data();
        cluster.run("initdb", &["-D", &data, "-U", "postgres", "--auth=trust", "-E", "UTF8"]);
        cluster.start();
        cluster
    }

    fn data(&self) -> String {
        self.folder.path().join("data").to_string_lossy().into_owned()
    }

    /// One of the cluster's tools, run as the `postgres` user when the test runs as root.
    fn command(&self, tool: &str) -> Command {
        let tool = self.bin.join(tool);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(tool);
            command
        } else {
            Command::new(tool)
        }
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = self.command(tool).args(args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    fn start(&self) {
        let options =
            format!("-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off", self.port, self.folder.path().display());
        let log = self.folder.path().join("server.log").to_string_lossy().into_owned();
        self.run("pg_ctl", &["-D", &self.data(), "-l", &log, "-w", "-o", &options, "start"]);
    }

    /// A fast shutdown: connections are told the server is going away.
    fn stop(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.command("pg_ctl").args(["-D", &self.data(), "-m", "immediate", "stop"]).output();
    }
}

/// What every answer during the outage must be: a clean JSON error, nothing of the database.
fn clean_failure(status: u16, body: &str) -> Result<(), String> {
    let parsed: Value = serde_json::from_str(body).map_err(|_| format!("{status}: not JSON: {body}"))?;
    let code = parsed["error"]["code"].as_str().unwrap_or_default();
    if !(status == 503 && code == "UNAVAILABLE") {
        return Err(format!("{status} {code}: {body}"));
    }
    let lower = body.to_lowercase();
    for leak in ["sqlx", "postgres", "connection refused", "terminating", "pool"] {
        if lower.contains(leak) {
            return Err(format!("database text reached a client: {body}"));
        }
    }
    Ok(())
}

#[tokio::test]
async fn postgres_stopped_and_started_under_load_loses_nothing_and_streams_recover() {
    let database = PrivatePostgres::create();
    let fake = FakeLlm::start(Reply::words("Noted.")).await;
    let env = [("WRITE_RATE_PER_MINUTE", "0"), ("DATABASE_MAX_CONNECTIONS", "8")];
    let server = ServerProcess::start_with(&database.url(), &fake, None, &env);
    server.wait_ready().await;
    let base = server.base.clone();
    let token = common::sign_up_over_http(&base, "Dee Bee").await;
    let client = common::client_with_token(&token);
    let room = post(&client, format!("{base}/api/rooms"), json!({"name": "Outage"})).await;
    let room_id = room["id"].as_str().unwrap().to_owned();
    let agent = json!({"name": "Ada", "model": "gpt-4o-mini", "system_prompt": "", "temperature": 0.3});
    post(&client, format!("{base}/api/rooms/{room_id}/agents"), agent).await;
    let messages_url = format!("{base}/api/rooms/{room_id}/messages");
    for index in 0..5 {
        post(&client, messages_url.clone(), json!({"content": format!("before {index}")})).await;
    }
    let count_messages = || async {
        let page: Value = client.get(format!("{messages_url}?limit=200")).send().await.unwrap().json().await.unwrap();
        page["messages"].as_array().unwrap().clone()
    };
    // A burst of posts is answered once, by a reply to the newest.
    eventually(Duration::from_secs(20), "the reply before the outage", || async {
        let messages = count_messages().await;
        messages.last().is_some_and(|m| m["sender_type"] == "agent" && m["status"] == "complete")
            && messages.iter().all(|m| m["status"] != "streaming")
    })
    .await;
    // What was finished before the outage; each must come back exactly so.
    let before: Vec<Value> = count_messages().await.into_iter().filter(|m| m["status"] != "streaming").collect();

    // A live stream, opened before the outage, records every event it gets.
    let seen = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let mut stream = common::sse_connect(&token, &format!("{base}/api/rooms/{room_id}/stream"), None).await;
    let recorder = {
        let seen = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Some(event) = stream.next().await {
                seen.lock().unwrap().push((event.event, event.data));
            }
        })
    };

    // Traffic that goes on throughout: reads and writes, each answer kept.
    let answers = Arc::new(Mutex::new(Vec::<(u16, String, Duration)>::new()));
    let load = {
        let (client, messages_url, answers) = (client.clone(), messages_url.clone(), Arc::clone(&answers));
        let room_url = format!("{base}/api/rooms/{room_id}");
        tokio::spawn(async move {
            for index in 0.. {
                let started = Instant::now();
                let request = if index % 2 == 0 {
                    client.get(&room_url)
                } else {
                    client.post(&messages_url).json(&json!({"content": format!("during {index}")}))
                };
                if let Ok(response) = request.send().await {
                    let status = response.status().as_u16();
                    let body = response.text().await.unwrap_or_default();
                    answers.lock().unwrap().push((status, body, started.elapsed()));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;

    database.stop();
    let ready_url = format!("{base}/readyz");
    eventually(Duration::from_secs(15), "/readyz to say 503", || async {
        reqwest::get(&ready_url).await.is_ok_and(|r| r.status() == 503)
    })
    .await;
    let down = answers.lock().unwrap().len();
    eventually(Duration::from_secs(30), "requests to be refused during the outage", || async {
        answers.lock().unwrap()[down..].iter().filter(|(status, _, _)| *status >= 500).count() >= 3
    })
    .await;

    database.start();
    eventually(Duration::from_secs(30), "/readyz to say 200 again", || async {
        reqwest::get(&ready_url).await.is_ok_and(|r| r.status() == 200)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    load.abort();

    // Every answer was a success or a clean refusal, never slower than the pool's wait and a margin.
    let answers = answers.lock().unwrap().clone();
    let failures: Vec<&(u16, String, Duration)> = answers.iter().filter(|(status, _, _)| *status >= 400).collect();
    assert!(failures.len() >= 3, "the outage was felt: {answers:?}");
    for (status, body, took) in &answers {
        if *status >= 400 {
            clean_failure(*status, body).unwrap_or_else(|problem| panic!("{problem}"));
        }
        assert!(*took < Duration::from_secs(12), "an answer took {took:?}");
    }

    // Nothing stored before is lost, and writing works again, with its live events.
    let after = post(&client, messages_url.clone(), json!({"content": "after the outage"})).await;
    let after_id = after["message"]["id"].as_str().unwrap().to_owned();
    let messages = count_messages().await;
    for message in &before {
        let kept = messages.iter().find(|m| m["id"] == message["id"]).expect("a message from before is kept");
        assert_eq!((&kept["content"], &kept["status"]), (&message["content"], &message["status"]));
    }
    eventually(Duration::from_secs(20), "the stream to carry the message written after the outage", || async {
        seen.lock().unwrap().iter().any(|(name, data)| name == "message.new" && data.contains(&after_id))
    })
    .await;
    eventually(Duration::from_secs(20), "no message left streaming", || async {
        count_messages().await.iter().all(|m| m["status"] != "streaming")
    })
    .await;
    recorder.abort();
    assert!(server.terminate().success());
}
