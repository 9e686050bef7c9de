//! The fake provider over real HTTP: framing, headers, endings, and noticing a client that hangs up.

use std::time::Duration;

use fake_llm::{Ending, FakeLlm, Gate, Reply};
use serde_json::{json, Value};

fn url(fake: &FakeLlm) -> String {
    format!("{}/chat/completions", fake.base_url())
}

async fn post(fake: &FakeLlm) -> reqwest::Response {
    reqwest::Client::new().post(url(fake)).json(&json!({"model": "m", "stream": true})).send().await.unwrap()
}

/// The `data:` payloads of an SSE body.
fn events(body: &str) -> Vec<String> {
    body.split("\n\n").filter(|e| !e.is_empty()).map(|e| e.strip_prefix("data: ").unwrap().to_owned()).collect()
}

fn content(event: &str) -> Option<String> {
    let chunk: Value = serde_json::from_str(event).ok()?;
    chunk["choices"][0]["delta"]["content"].as_str().map(str::to_owned)
}

#[tokio::test]
async fn a_reply_streams_tokens_then_finish_usage_and_done() {
    let fake = FakeLlm::start(Reply::words("one two three")).await;
    let response = post(&fake).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["cache-control"], "no-cache");
    let events = events(&response.text().await.unwrap());

    let tokens: Vec<String> = events.iter().filter_map(|e| content(e)).collect();
    assert_eq!(tokens, ["one ", "two ", "three"]);
    let finish: Value = serde_json::from_str(&events[3]).unwrap();
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    assert_eq!(finish["model"], "m");
    let usage: Value = serde_json::from_str(&events[4]).unwrap();
    assert_eq!(usage["usage"], json!({"prompt_tokens": 17, "completion_tokens": 3, "total_tokens": 20}));
    assert_eq!(events[5], "[DONE]");
    assert_eq!(events.len(), 6);

    assert_eq!(fake.completed(), 1);
    assert_eq!(fake.hung_up(), 0);
    let recorded = &fake.requests()[0];
    assert_eq!(recorded.path_and_query, "/v1/chat/completions");
    assert_eq!(recorded.body["model"], "m");
    assert_eq!(recorded.tokens_sent_at.len(), 3);
    assert_eq!(recorded.first_token_sent_at, Some(recorded.tokens_sent_at[0]));
    assert!(recorded.finished_at.unwrap() >= recorded.tokens_sent_at[2]);
}

#[tokio::test]
async fn delays_space_out_the_tokens() {
    let reply = Reply::words("a b c")
        .with_first_token_delay(Duration::from_millis(150))
        .with_token_delay(Duration::from_millis(50))
        .without_usage();
    let fake = FakeLlm::start(reply).await;
    let events = events(&post(&fake).await.text().await.unwrap());
    assert!(!events.iter().any(|e| e.contains("usage")));

    let recorded = &fake.requests()[0];
    assert!(recorded.first_token_sent_at.unwrap() - recorded.received_at >= Duration::from_millis(150));
    for pair in recorded.tokens_sent_at.windows(2) {
        assert!(pair[1] - pair[0] >= Duration::from_millis(50));
    }
}

#[tokio::test]
async fn any_deployment_path_is_answered_and_recorded_with_its_query() {
    let fake = FakeLlm::start(Reply::words("hi")).await;
    let address = format!("{}/openai/deployments/prod/chat/completions?api-version=2024-06-01", fake.endpoint());
    let response = reqwest::Client::new().post(address).header("api-key", "k").body("{}").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let recorded = &fake.requests()[0];
    assert_eq!(recorded.path_and_query, "/openai/deployments/prod/chat/completions?api-version=2024-06-01");
    assert_eq!(recorded.headers["api-key"], "k");
}

#[tokio::test]
async fn only_posts_below_the_root_are_answered() {
    let fake = FakeLlm::start(Reply::words("hi")).await;
    let client = reqwest::Client::new();
    let get = client.get(url(&fake)).send().await.unwrap();
    assert_eq!(get.status(), 405);
    assert_eq!(get.headers()["allow"], "POST");
    let root = client.post(fake.endpoint()).send().await.unwrap();
    assert_eq!(root.status(), 404);
    assert_eq!(fake.request_count(), 0);
}

#[tokio::test]
async fn a_status_reply_has_a_json_error_and_retry_after() {
    let fake = FakeLlm::start(Reply::Status { status: 429, message: "slow down".into(), retry_after: Some(7) }).await;
    let response = post(&fake).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["message"], "slow down");

    fake.script([Reply::Status { status: 500, message: "boom".into(), retry_after: None }]);
    let response = post(&fake).await;
    assert_eq!(response.status(), 500);
    assert!(response.headers().get("retry-after").is_none());
    assert_eq!(fake.hung_up(), 0);
}

#[tokio::test]
async fn the_script_comes_first_then_the_fallback() {
    let fake = FakeLlm::start(Reply::words("fallback")).await;
    fake.script([Reply::words("first"), Reply::words("second")]);
    let mut texts = Vec::new();
    for _ in 0..3 {
        let events = events(&post(&fake).await.text().await.unwrap());
        texts.push(content(&events[0]).unwrap());
    }
    assert_eq!(texts, ["first", "second", "fallback"]);
    fake.set_fallback(Reply::words("changed"));
    assert_eq!(content(&events(&post(&fake).await.text().await.unwrap())[0]).unwrap(), "changed");
    assert_eq!(fake.request_count(), 4);
    assert_eq!(fake.completed(), 4);
}

#[tokio::test]
async fn a_held_reply_sends_nothing_until_its_gate_opens() {
    let gate = Gate::new();
    let fake = FakeLlm::start(Reply::words("let go").held_by(&gate)).await;
    let held = tokio::spawn({
        let url = url(&fake);
        async move {
            let response = reqwest::Client::new().post(url).body("{}").send().await.unwrap();
            assert_eq!(response.status(), 200, "answered at once");
            response.text().await.unwrap()
        }
    });
    // Recorded when it arrives, and nothing sent while the gate is shut.
    while fake.request_count() == 0 {
        tokio::task::yield_now().await;
    }
    assert!(!gate.is_open() && !held.is_finished());
    assert!(fake.requests()[0].first_token_sent_at.is_none());
    gate.open();
    let body = held.await.unwrap();
    let tokens: Vec<String> = events(&body).iter().filter_map(|e| content(e)).collect();
    assert_eq!(tokens, ["let ", "go"]);
    // An open gate stays open.
    assert!(gate.is_open());
    let again = post(&fake).await.text().await.unwrap();
    assert_eq!(events(&again).iter().filter_map(|e| content(e)).collect::<Vec<_>>(), tokens);
    assert_eq!(fake.completed(), 2);
}

#[tokio::test]
async fn a_client_leaving_mid_stream_is_counted_as_a_hang_up() {
    let fake =
        FakeLlm::start(Reply::words("one two three four five").with_token_delay(Duration::from_millis(200))).await;
    let mut response = post(&fake).await;
    let first = response.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("one "));
    drop(response);
    assert!(fake.wait_for_hang_ups(1, Duration::from_secs(10)).await);
    assert_eq!(fake.completed(), 0);
}

#[tokio::test]
async fn a_client_giving_up_on_a_silent_provider_is_counted_as_a_hang_up() {
    let fake = FakeLlm::start(Reply::Hang).await;
    let client = reqwest::Client::builder().timeout(Duration::from_millis(200)).build().unwrap();
    let error = client.post(url(&fake)).body("{}").send().await.unwrap_err();
    assert!(error.is_timeout());
    assert_eq!(fake.request_count(), 1);
    assert!(fake.wait_for_hang_ups(1, Duration::from_secs(10)).await);
}

#[tokio::test]
async fn a_hanging_ending_keeps_the_connection_open_until_the_client_leaves() {
    let fake = FakeLlm::start(Reply::words("partial").ending(Ending::Hang)).await;
    let mut response = post(&fake).await;
    assert!(String::from_utf8_lossy(&response.chunk().await.unwrap().unwrap()).contains("partial"));
    let next = tokio::time::timeout(Duration::from_millis(300), response.chunk()).await;
    assert!(next.is_err(), "nothing more arrives and the connection stays open");
    assert_eq!(fake.hung_up(), 0);
    drop(response);
    assert!(fake.wait_for_hang_ups(1, Duration::from_secs(10)).await);
}

#[tokio::test]
async fn a_broken_ending_drops_the_connection_after_the_tokens() {
    let fake = FakeLlm::start(Reply::words("cut off").ending(Ending::Break)).await;
    let mut response = post(&fake).await;
    let mut received = Vec::new();
    let error = loop {
        match response.chunk().await {
            Ok(Some(chunk)) => received.extend_from_slice(&chunk),
            Ok(None) => panic!("the body ended cleanly"),
            Err(error) => break error,
        }
    };
    assert!(error.is_body() || error.is_decode(), "{error:?}");
    let tokens: Vec<String> = events(&String::from_utf8(received).unwrap()).iter().filter_map(|e| content(e)).collect();
    assert_eq!(tokens, ["cut ", "off"]);
    assert_eq!(fake.hung_up(), 0, "the provider, not the client, ended it");
    assert_eq!(fake.completed(), 0);
}

#[tokio::test]
async fn an_error_chunk_ends_the_stream_without_done() {
    let fake = FakeLlm::start(Reply::words("so far").ending(Ending::ErrorChunk("overloaded".into()))).await;
    let events = events(&post(&fake).await.text().await.unwrap());
    let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    assert_eq!(last["error"]["message"], "overloaded");
    assert!(!events.iter().any(|e| e == "[DONE]"));
    assert_eq!(fake.hung_up(), 0);
}

#[tokio::test]
async fn dropping_the_fake_stops_the_server() {
    let fake = FakeLlm::start(Reply::words("hi")).await;
    let addr = fake.addr;
    assert_eq!(post(&fake).await.status(), 200);
    drop(fake);
    // Polled for up to 10 s; it normally takes one poll.
    let mut refused = false;
    for _ in 0..1000 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "the port no longer accepts connections");
}

fn chunk(event: &str) -> Value {
    serde_json::from_str(event).unwrap()
}

#[tokio::test]
async fn a_tool_call_streams_as_openai_sends_it() {
    let arguments = json!({"title": "Brew the tea", "detail": "Green tea, two minutes"});
    let fake = FakeLlm::start(Reply::tool_call("propose_task", arguments.clone())).await;
    let events = events(&post(&fake).await.text().await.unwrap());
    assert_eq!(events.len(), 7, "{events:#?}");

    // The id, type and name come first, with empty arguments, in a delta that opens the reply.
    let first = chunk(&events[0]);
    assert_eq!(first["object"], "chat.completion.chunk");
    assert_eq!(first["choices"][0]["finish_reason"], Value::Null);
    assert_eq!(
        first["choices"][0]["delta"],
        json!({"role": "assistant", "content": null, "tool_calls": [
            {"index": 0, "id": "call_1", "type": "function", "function": {"name": "propose_task", "arguments": ""}}
        ]})
    );
    // Then the arguments' JSON text in pieces that carry only the index.
    let mut text = String::new();
    for event in &events[1..4] {
        let delta = &chunk(event)["choices"][0]["delta"];
        let piece = delta["tool_calls"][0]["function"]["arguments"].as_str().unwrap();
        assert!(!piece.is_empty());
        assert_eq!(delta, &json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}));
        text.push_str(piece);
    }
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), arguments);

    let finish = chunk(&events[4]);
    assert_eq!(finish["choices"][0], json!({"index": 0, "delta": {}, "finish_reason": "tool_calls"}));
    assert_eq!(chunk(&events[5])["usage"], json!({"prompt_tokens": 17, "completion_tokens": 4, "total_tokens": 21}));
    assert_eq!(events[6], "[DONE]");
    assert_eq!(fake.completed(), 1);
    assert_eq!(fake.requests()[0].tokens_sent_at.len(), 4, "each delta is timed like a token");
}

#[tokio::test]
async fn text_then_calls_come_in_order_with_their_own_indexes_and_ids() {
    let reply = Reply::words("On it.")
        .with_tool_call("propose_task", json!({"title": "Tea"}))
        .with_tool_call("propose_task", json!({}))
        .with_token_delay(Duration::from_millis(20));
    let fake = FakeLlm::start(reply.clone()).await;
    let events = events(&post(&fake).await.text().await.unwrap());
    let deltas: Vec<Value> =
        events.iter().filter(|e| *e != "[DONE]").map(|e| chunk(e)["choices"][0]["delta"].clone()).collect();

    let tokens: Vec<String> = events.iter().filter_map(|e| content(e)).collect();
    assert_eq!(tokens, ["On ", "it."]);
    let starts: Vec<&Value> = deltas.iter().filter(|d| d["tool_calls"][0]["id"].is_string()).collect();
    assert_eq!(starts.len(), 2);
    assert_eq!(starts[0]["tool_calls"][0]["index"], 0);
    assert_eq!(starts[0]["tool_calls"][0]["id"], "call_1");
    assert_eq!(starts[1]["tool_calls"][0]["index"], 1);
    assert_eq!(starts[1]["tool_calls"][0]["id"], "call_2");
    assert!(starts[0].get("role").is_none(), "the text already opened the reply");
    let second: String = deltas
        .iter()
        .filter(|d| d["tool_calls"][0]["index"] == 1)
        .map(|d| d["tool_calls"][0]["function"]["arguments"].as_str().unwrap())
        .collect();
    assert_eq!(second, "{}");
    let finish = chunk(&events[events.len() - 3]);
    assert_eq!(finish["choices"][0]["finish_reason"], "tool_calls");

    let recorded = &fake.requests()[0];
    for pair in recorded.tokens_sent_at.windows(2) {
        assert!(pair[1] - pair[0] >= Duration::from_millis(20), "calls keep the token delay");
    }
    // Ids go on counting across replies, as a real provider's never repeat.
    fake.script([reply]);
    let again = post(&fake).await.text().await.unwrap();
    assert!(again.contains("\"call_3\"") && again.contains("\"call_4\""), "{again}");
}

#[tokio::test]
async fn offered_tools_and_tool_results_are_recorded() {
    let fake = FakeLlm::start(Reply::words("Done.")).await;
    let body = json!({
        "model": "m",
        "stream": true,
        "tools": [{"type": "function", "function": {"name": "propose_task", "description": "d", "parameters": {"type": "object"}}}],
        "messages": [
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "propose_task", "arguments": "{}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "Proposed."}
        ]
    });
    reqwest::Client::new().post(url(&fake)).json(&body).send().await.unwrap().text().await.unwrap();
    let recorded = &fake.requests()[0].body;
    assert_eq!(recorded["tools"][0]["function"]["name"], "propose_task");
    assert_eq!(recorded["messages"][1]["role"], "tool");
    assert_eq!(recorded["messages"][1]["tool_call_id"], "call_1");
}
