//! A provider that misbehaves in every way it can, in front of a real server process: errors,
//! rate limits with `Retry-After`, silence before the first token, a connection cut mid-reply,
//! a stream that is not SSE chunks, and streams that never end. Every reply ends `failed` with
//! an error a person can read, its text so far kept; nothing is left `streaming`; a run whose
//! provider never ends stops at its deadline.

mod common;

use std::time::{Duration, Instant};

use common::eventually;
use common::process::{post, ServerProcess};
use fake_llm::{Ending, FakeLlm, Reply};
use serde_json::{json, Value};

struct Room {
    client: reqwest::Client,
    base: String,
    room_id: String,
}

impl Room {
    async fn messages(&self) -> Vec<Value> {
        let url = format!("{}/api/rooms/{}/messages?limit=100", self.base, self.room_id);
        let page: Value = self.client.get(url).send().await.unwrap().json().await.unwrap();
        page["messages"].as_array().unwrap().clone()
    }

    /// Posts a message and waits for the agent's reply to it to end; returns the reply.
    async fn reply_to(&self, content: &str) -> Value {
        let url = format!("{}/api/rooms/{}/messages", self.base, self.room_id);
        let posted = post(&self.client, url, json!({"content": content})).await;
        let asked = posted["message"]["id"].as_str().unwrap().to_owned();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let messages = self.messages().await;
            let mut after = messages.iter().skip_while(|m| m["id"] != asked.as_str()).skip(1);
            if let Some(reply) = after.find(|m| m["sender_type"] == "agent" && m["status"] != "streaming") {
                return reply.clone();
            }
            assert!(Instant::now() < deadline, "the reply to {content:?} did not end: {messages:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn failed_with(reply: &Value, words: &[&str]) {
    assert_eq!(reply["status"], "failed", "{reply}");
    let error = reply["error"].as_str().unwrap_or_default();
    for word in words {
        assert!(error.contains(word), "{word:?} in the error: {error}");
    }
    assert!(!error.contains("reqwest") && !error.contains("hyper"), "no library text: {error}");
}

#[tokio::test]
async fn every_provider_fault_ends_the_reply_with_a_readable_error_and_the_run_at_its_deadline() {
    let fake = FakeLlm::start(Reply::words("fine")).await;
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}?mode=rwc", dir.path().join("chat.db").display());
    let env = [
        ("LLM_MAX_RETRIES", "1"),
        ("LLM_FIRST_TOKEN_TIMEOUT_MS", "1000"),
        ("LLM_IDLE_TIMEOUT_MS", "1000"),
        ("LLM_REPLY_TIMEOUT_MS", "2000"),
        ("LLM_MAX_OUTPUT_TOKENS", "50"),
        ("WRITE_RATE_PER_MINUTE", "0"),
    ];
    let server = ServerProcess::start_with(&database_url, &fake, None, &env);
    server.wait_ready().await;
    let base = server.base.clone();
    let client = common::client_with_token(&common::sign_up_over_http(&base, "Pat Provider").await);
    let room = post(&client, format!("{base}/api/rooms"), json!({"name": "Faulty provider"})).await;
    let room_id = room["id"].as_str().unwrap().to_owned();
    for name in ["Ada", "Bob"] {
        let agent = json!({"name": name, "model": "gpt-4o-mini", "system_prompt": "", "temperature": 0.3});
        post(&client, format!("{base}/api/rooms/{room_id}/agents"), agent).await;
    }
    let room = Room { client, base: base.clone(), room_id: room_id.clone() };
    let status = |status: u16, retry_after: Option<u64>| Reply::Status {
        status,
        message: format!("upstream said {status}"),
        retry_after,
    };

    // 500, then 500 again on the one retry.
    fake.script([status(500, None), status(500, None)]);
    failed_with(&room.reply_to("first").await, &["HTTP 500", "upstream said 500"]);

    // 429 with Retry-After: waited for, then refused again.
    fake.script([status(429, Some(1)), status(429, Some(1))]);
    let started = Instant::now();
    failed_with(&room.reply_to("second").await, &["HTTP 429"]);
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After was honoured");

    // Silence before the first token, twice.
    fake.script([Reply::Hang, Reply::Hang]);
    failed_with(&room.reply_to("third").await, &["no reply within"]);

    // Cut mid-reply: what came is kept.
    fake.script([Reply::words("half of a").ending(Ending::Break)]);
    let cut = room.reply_to("fourth").await;
    failed_with(&cut, &["broke off"]);
    assert_eq!(cut["content"], "half of a");

    // Not SSE chunks.
    fake.script([Reply::words("so far").ending(Ending::Malformed("{\"choices\": [".to_owned()))]);
    let malformed = room.reply_to("fifth").await;
    failed_with(&malformed, &["unreadable chunk"]);
    assert_eq!(malformed["content"], "so far");

    // Endless and fast: cut past what was asked for.
    let long_word = "la".repeat(100);
    fake.script([Reply::words(&long_word).ending(Ending::Endless).with_token_delay(Duration::from_millis(1))]);
    let flood = room.reply_to("sixth").await;
    failed_with(&flood, &["past the 50 tokens"]);
    assert!(flood["content"].as_str().unwrap().len() <= 50 * 16 + 4096);

    // Endless and slow: cut at LLM_REPLY_TIMEOUT_MS.
    fake.script([Reply::words("tick").ending(Ending::Endless).with_token_delay(Duration::from_millis(100))]);
    let started = Instant::now();
    failed_with(&room.reply_to("seventh").await, &["still streaming after 2 s"]);
    assert!(started.elapsed() < Duration::from_secs(10));

    // A run whose provider never ends stops at its deadline, its message ended.
    fake.set_fallback(Reply::words("tock").ending(Ending::Endless).with_token_delay(Duration::from_millis(100)));
    let started = Instant::now();
    let run = post(
        &room.client,
        format!("{base}/api/rooms/{room_id}/auto/start"),
        json!({"max_steps": 10, "max_seconds": 1}),
    )
    .await;
    let run_url = format!("{base}/api/rooms/{room_id}/runs/{}", run["run_id"].as_str().unwrap());
    let ended = loop {
        let run: Value = room.client.get(&run_url).send().await.unwrap().json().await.unwrap();
        if run["status"] != "running" {
            break run;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "the run did not end: {run}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(ended["stop_reason"], "max_seconds", "{ended}");
    assert!(started.elapsed() < Duration::from_secs(8), "the run ended by its deadline: {:?}", started.elapsed());
    eventually(Duration::from_secs(10), "no message left streaming", || async {
        room.messages().await.iter().all(|m| m["status"] != "streaming")
    })
    .await;
    assert!(server.terminate().success());
}
