//! The spending limits as clients meet them, over real loopback HTTP: allowed models, runs per
//! person, agents per room, daily token budgets, write rates per person and per address, and
//! which address a request counts as coming from behind trusted proxies — through the REST API,
//! the server functions and the control plane alike.

mod common;

use std::time::Duration;

use chrono::{Days, Utc};
use common::{eventually, person, sse_connect, Db, TestApp};
use fake_llm::{FakeLlm, Reply};
use futures::StreamExt;
use http::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{json, Value};

on_both_databases!(
    models_off_the_list_are_refused_over_rest_and_server_functions,
    runs_per_person_and_agents_per_room_are_capped,
    a_spent_daily_budget_is_refused_and_shown_in_the_room,
    writes_are_rate_limited_per_person_and_per_address,
    an_untrusted_peer_is_the_client_whatever_it_forwards,
    behind_trusted_proxies_the_right_most_untrusted_hop_is_the_client,
    the_panel_functions_share_the_control_planes_address_limit,
);

const WAIT: Duration = Duration::from_secs(20);

/// An app served on a loopback port, its OpenAI-compatible provider being `fake`.
async fn served(db: Db, fake: &FakeLlm, extra: &[(&str, &str)]) -> (TestApp, Http) {
    let base = fake.base_url();
    let mut env = vec![("OPENAI_BASE_URL", base.as_str()), ("LLM_MAX_RETRIES", "0")];
    env.extend_from_slice(extra);
    let app = TestApp::with_env(db, &env).await;
    let base = app.spawn().await;
    let http = Http { base, token: Some(app.token.clone()), forwarded_for: None };
    (app, http)
}

/// A client of the served app: who it is (a token, or a guest) and what `X-Forwarded-For` it sends.
#[derive(Clone)]
struct Http {
    base: String,
    token: Option<String>,
    forwarded_for: Option<String>,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    /// Asserts a REST refusal: its status, `{error: {code, message}}`, and that the message
    /// names `limit`; returns the message.
    fn refused(&self, status: u16, code: &str, limit: &str) -> String {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        assert_eq!(self.body["error"]["code"], code, "{}", self.body);
        let message = self.body["error"]["message"].as_str().unwrap_or_default().to_owned();
        assert!(message.contains(limit), "the message names {limit}: {message}");
        message
    }

    /// The `Retry-After` header, in seconds.
    fn retry_after(&self) -> Option<u64> {
        self.headers.get("retry-after")?.to_str().ok()?.parse().ok()
    }
}

impl Http {
    fn as_guest(&self) -> Http {
        Http { token: None, ..self.clone() }
    }

    fn with_token(&self, token: &str) -> Http {
        Http { token: Some(token.to_owned()), ..self.clone() }
    }

    fn forwarding(&self, forwarded_for: &str) -> Http {
        Http { forwarded_for: Some(forwarded_for.to_owned()), ..self.clone() }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Answer {
        let mut request = reqwest::Client::new().request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(forwarded_for) = &self.forwarded_for {
            request = request.header("x-forwarded-for", forwarded_for);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the server answers");
        let (status, headers) = (response.status(), response.headers().clone());
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path} answered non-JSON ({e}): {text}"));
        Answer { status, headers, body }
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    async fn patch(&self, path: &str, body: Value) -> Answer {
        self.send(reqwest::Method::PATCH, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn create_room(&self, name: &str) -> String {
        let created = self.post("/api/rooms", json!({"name": name, "mode": "manual"})).await;
        assert_eq!(created.status, 201, "{}", created.body);
        created.body["id"].as_str().unwrap().to_owned()
    }

    async fn add_agent(&self, room_id: &str, name: &str, model: &str) -> Answer {
        let body =
            json!({"name": name, "model": model, "system_prompt": format!("You are {name}."), "temperature": 0.5});
        self.post(&format!("/api/rooms/{room_id}/agents"), body).await
    }

    async fn say(&self, room_id: &str, content: &str) -> Answer {
        self.post(&format!("/api/rooms/{room_id}/messages"), json!({"content": content})).await
    }

    async fn messages(&self, room_id: &str) -> Vec<Value> {
        let page = self.get(&format!("/api/rooms/{room_id}/messages?limit=200")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        page.body["messages"].as_array().unwrap().clone()
    }

    /// Signs up over HTTP, as a browser does.
    async fn sign_up(&self, name: &str) -> Answer {
        let email = format!("{}@example.com", name.to_lowercase().replace(' ', "."));
        self.as_guest()
            .post("/api/auth/signup", json!({"email": email, "password": "correct horse battery", "name": name}))
            .await
    }
}

/// The agents' messages once `count` of them are no longer streaming.
async fn finished_agent_messages(http: &Http, room_id: &str, count: usize) -> Vec<Value> {
    eventually(WAIT, "the agents' replies", || async {
        let all = http.messages(room_id).await;
        all.iter().filter(|m| m["sender_type"] == "agent" && m["status"] != "streaming").count() >= count
    })
    .await;
    http.messages(room_id).await.into_iter().filter(|m| m["sender_type"] == "agent").collect()
}

async fn models_off_the_list_are_refused_over_rest_and_server_functions(db: Db) {
    let fake = FakeLlm::start(Reply::words("hello")).await;
    let (_app, http) = served(db, &fake, &[("LLM_ALLOWED_MODELS", "demo,gpt-4o-mini,azure:*")]).await;
    let room_id = http.create_room("Models").await;

    let refused = http.add_agent(&room_id, "Opus", "gpt-4o").await;
    let message = refused.refused(422, "MODEL_NOT_ALLOWED", "LLM_ALLOWED_MODELS");
    assert!(message.contains("gpt-4o ") && message.contains("demo,gpt-4o-mini,azure:*"), "{message}");
    let added = http.add_agent(&room_id, "Ada", "gpt-4o-mini").await;
    assert_eq!(added.status, 201, "{}", added.body);
    let agent_id = added.body["id"].as_str().unwrap();
    let changed = http.patch(&format!("/api/rooms/{room_id}/agents/{agent_id}"), json!({"model": "o3"})).await;
    changed.refused(422, "MODEL_NOT_ALLOWED", "LLM_ALLOWED_MODELS");

    // The page's server function says the same, with the same status.
    let input = json!({"name": "Opus", "model": "gpt-4.1", "system_prompt": "", "temperature": 0.5});
    let through_page = http.post("/api/fn/agents/create", json!({"room_id": room_id, "input": input})).await;
    assert_eq!(through_page.status, 422, "{}", through_page.body);
    assert_eq!(through_page.body["code"], "MODEL_NOT_ALLOWED", "{}", through_page.body);
    let agents = http.get(&format!("/api/rooms/{room_id}/agents")).await.body;
    let models: Vec<&str> = agents.as_array().unwrap().iter().map(|a| a["model"].as_str().unwrap()).collect();
    assert_eq!(models, ["gpt-4o-mini"]);
    assert_eq!(fake.request_count(), 0);
}

async fn runs_per_person_and_agents_per_room_are_capped(db: Db) {
    // Turns never end, so runs stay going until stopped.
    let fake = FakeLlm::start(Reply::Hang).await;
    let (_app, http) = served(db, &fake, &[("RUNS_MAX_PER_USER", "1"), ("MAX_AGENTS_PER_ROOM", "2")]).await;
    let first = http.create_room("First").await;
    let second = http.create_room("Second").await;
    for room_id in [&first, &second] {
        for name in ["Ada", "Bob"] {
            assert_eq!(http.add_agent(room_id, name, "gpt-4o-mini").await.status, 201);
        }
    }

    // Inactive agents count: retiring one makes no room for a third.
    let third = http.add_agent(&second, "Cy", "gpt-4o-mini").await;
    third.refused(422, "LIMIT_REACHED", "MAX_AGENTS_PER_ROOM");
    let agents = http.get(&format!("/api/rooms/{second}/agents")).await.body;
    let bob = agents[1]["id"].as_str().unwrap();
    let retired = http.patch(&format!("/api/rooms/{second}/agents/{bob}"), json!({"is_active": false})).await;
    assert_eq!(retired.status, 200, "{}", retired.body);
    http.add_agent(&second, "Cy", "gpt-4o-mini").await.refused(422, "LIMIT_REACHED", "MAX_AGENTS_PER_ROOM");
    http.patch(&format!("/api/rooms/{second}/agents/{bob}"), json!({"is_active": true})).await;

    let limits = json!({"max_steps": 5, "max_seconds": 60});
    let started = http.post(&format!("/api/rooms/{first}/auto/start"), limits.clone()).await;
    assert_eq!(started.status, 201, "{}", started.body);
    let refused = http.post(&format!("/api/rooms/{second}/auto/start"), limits.clone()).await;
    refused.refused(429, "QUOTA_EXCEEDED", "RUNS_MAX_PER_USER");
    // Stopping the first run makes room for another.
    let stopped = http.post(&format!("/api/rooms/{first}/auto/stop"), json!({})).await;
    assert_eq!(stopped.status, 200, "{}", stopped.body);
    let started = http.post(&format!("/api/rooms/{second}/auto/start"), limits).await;
    assert_eq!(started.status, 201, "{}", started.body);
}

async fn a_spent_daily_budget_is_refused_and_shown_in_the_room(db: Db) {
    // Every reply reports 17 prompt and 3 reply tokens: one reply spends a budget of 20.
    let fake = FakeLlm::start(Reply::words("one two three")).await;
    let (app, http) = served(db, &fake, &[("USER_DAILY_TOKENS", "20")]).await;
    let today = Utc::now();
    app.state.services.clock.set(Some(today));
    let room_id = http.create_room("Budget").await;
    for name in ["Ada", "Bob"] {
        assert_eq!(http.add_agent(&room_id, name, "gpt-4o-mini").await.status, 201);
    }
    assert_eq!(http.say(&room_id, "first").await.status, 201);
    finished_agent_messages(&http, &room_id, 1).await;

    let refused = http.say(&room_id, "second").await;
    let message = refused.refused(429, "QUOTA_EXCEEDED", "USER_DAILY_TOKENS");
    assert!(message.contains("20 tokens a day") && message.contains("resets at 00:00 UTC"), "{message}");
    assert!(refused.retry_after().is_some_and(|s| (1..=86_400).contains(&s)), "{:?}", refused.headers);
    let run = http.post(&format!("/api/rooms/{room_id}/auto/start"), json!({"max_steps": 4, "max_seconds": 60})).await;
    run.refused(429, "QUOTA_EXCEEDED", "USER_DAILY_TOKENS");
    assert_eq!(http.messages(&room_id).await.len(), 2, "the refused post was not kept");
    assert_eq!(fake.request_count(), 1);

    // The next day a run's first turn spends the budget: the run ends, and the room is told
    // why, live and in its history.
    app.state.services.clock.set(Some(today.checked_add_days(Days::new(1)).unwrap()));
    let mut live = sse_connect(&app.token, &format!("{}/api/rooms/{room_id}/stream", http.base), None).await;
    let started =
        http.post(&format!("/api/rooms/{room_id}/auto/start"), json!({"max_steps": 4, "max_seconds": 60})).await;
    assert_eq!(started.status, 201, "{}", started.body);
    let notice = tokio::time::timeout(WAIT, async {
        while let Some(event) = live.next().await {
            if event.event == "message.new" {
                let message: Value = serde_json::from_str(&event.data).unwrap();
                if message["sender_type"] == "system" {
                    return message;
                }
            }
        }
        panic!("the stream ended without a notice");
    })
    .await
    .expect("a notice within the wait");
    let content = notice["content"].as_str().unwrap();
    assert!(content.contains("Ada Admin's daily token budget is used up"), "{content}");
    assert!(content.contains("USER_DAILY_TOKENS"), "{content}");
    let run_id = started.body["run_id"].as_str().unwrap();
    eventually(WAIT, "the run to end", || async {
        http.get(&format!("/api/rooms/{room_id}/runs/{run_id}")).await.body["status"] != "running"
    })
    .await;
    let run = http.get(&format!("/api/rooms/{room_id}/runs/{run_id}")).await.body;
    assert_eq!((run["stop_reason"].as_str(), run["steps"].as_i64()), (Some("budget_tokens"), Some(1)), "{run}");
    let history = http.messages(&room_id).await;
    assert_eq!(history.last().unwrap()["id"], notice["id"], "the notice is kept in the room");
    assert_eq!(fake.request_count(), 2);
}

async fn writes_are_rate_limited_per_person_and_per_address(db: Db) {
    let fake = FakeLlm::start(Reply::words("ok")).await;
    let limits = [("WRITE_RATE_PER_MINUTE", "2"), ("WRITE_RATE_PER_ADDRESS_PER_MINUTE", "3")];
    let (app, http) = served(db, &fake, &limits).await;
    let room_id = http.create_room("Chatty").await;
    assert_eq!(http.say(&room_id, "two").await.status, 201);
    let refused = http.say(&room_id, "three").await;
    refused.refused(429, "RATE_LIMITED", "WRITE_RATE_PER_MINUTE");
    assert!(refused.retry_after().is_some_and(|s| (1..=60).contains(&s)), "{:?}", refused.headers);
    // The page's server functions count against the same allowance.
    let through_page = http.post("/api/fn/rooms/post", json!({"room_id": room_id, "content": "four"})).await;
    assert_eq!(through_page.status, 429, "{}", through_page.body);
    assert_eq!(through_page.body["code"], "RATE_LIMITED", "{}", through_page.body);
    assert!(through_page.body["message"].as_str().unwrap().contains("WRITE_RATE_PER_MINUTE"));
    assert!(through_page.retry_after().is_some(), "{:?}", through_page.headers);
    // Reading is not writing.
    assert_eq!(http.get(&format!("/api/rooms/{room_id}")).await.status, 200);

    // Someone else at the same address has an allowance of their own, but the address's is
    // shared: two writes so far, one more, and the next is refused whoever makes it and however.
    let bob = http.with_token(&person(&app.state.services, "Bob Builder", domain::accounts::Role::User).await);
    let bobs = bob.create_room("Bob's").await;
    let through_page = bob.post("/api/fn/rooms/post", json!({"room_id": bobs, "content": "hello"})).await;
    assert_eq!(through_page.status, 429, "{}", through_page.body);
    assert!(through_page.body["message"].as_str().unwrap().contains("WRITE_RATE_PER_ADDRESS_PER_MINUTE"));
    http.as_guest().sign_up("Cy").await.refused(429, "RATE_LIMITED", "WRITE_RATE_PER_ADDRESS_PER_MINUTE");
    assert!(http.messages(&bobs).await.is_empty());
}

/// The address the control plane recorded for its latest operation.
fn last_gateway_client(app: &TestApp) -> Value {
    let log = app.gateway_root.path().join("observability/telemetry/gateway.jsonl");
    let text = std::fs::read_to_string(&log).expect("the control plane's telemetry");
    let last: Value = serde_json::from_str(text.lines().last().expect("a line")).unwrap();
    last["client_addr"].clone()
}

async fn preview(http: &Http, through_page: bool) -> Answer {
    let body =
        json!({"raw_input": "lisa run backup_db", "channel": "web", "session_id": uuid::Uuid::new_v4().to_string()});
    let path = if through_page { "/api/fn/control-plane/preview" } else { "/api/v1/chat/preview" };
    let answer = http.post(path, body).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer
}

async fn an_untrusted_peer_is_the_client_whatever_it_forwards(db: Db) {
    let fake = FakeLlm::start(Reply::words("ok")).await;
    let (app, http) = served(db, &fake, &[("WRITE_RATE_PER_ADDRESS_PER_MINUTE", "1")]).await;
    // No proxy is trusted by default: both sign-ups come from the loopback peer, whatever
    // they claim.
    assert_eq!(http.forwarding("198.51.100.1").sign_up("One").await.status, 201);
    let refused = http.forwarding("198.51.100.2").sign_up("Two").await;
    refused.refused(429, "RATE_LIMITED", "WRITE_RATE_PER_ADDRESS_PER_MINUTE");
    // The control plane sees the peer too, through its routes and the page's server functions.
    preview(&http.forwarding("198.51.100.3"), false).await;
    assert_eq!(last_gateway_client(&app), "127.0.0.1");
    preview(&http.forwarding("198.51.100.3"), true).await;
    assert_eq!(last_gateway_client(&app), "127.0.0.1");
}

async fn behind_trusted_proxies_the_right_most_untrusted_hop_is_the_client(db: Db) {
    let fake = FakeLlm::start(Reply::words("ok")).await;
    let trusted = [("WRITE_RATE_PER_ADDRESS_PER_MINUTE", "1"), ("TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8")];
    let (app, http) = served(db, &fake, &trusted).await;
    // Through the trusted loopback proxy each client has its own allowance.
    assert_eq!(http.forwarding("198.51.100.1").sign_up("One").await.status, 201);
    assert_eq!(http.forwarding("198.51.100.2").sign_up("Two").await.status, 201);
    // Through a second trusted proxy the client is still the one before it.
    let again = http.forwarding("198.51.100.2, 10.0.0.5").sign_up("Three").await;
    again.refused(429, "RATE_LIMITED", "WRITE_RATE_PER_ADDRESS_PER_MINUTE");
    // Whatever the client wrote on the left is ignored: the right-most untrusted hop counts.
    assert_eq!(http.forwarding("198.51.100.1, 203.0.113.7").sign_up("Four").await.status, 201);
    let same = http.forwarding("198.51.100.9, 203.0.113.7, 10.1.1.1").sign_up("Five").await;
    same.refused(429, "RATE_LIMITED", "WRITE_RATE_PER_ADDRESS_PER_MINUTE");
    // IPv6 clients count by their /64.
    assert_eq!(http.forwarding("2001:db8:5:6::1").sign_up("Six").await.status, 201);
    let neighbour = http.forwarding("2001:db8:5:6:ffff::2").sign_up("Seven").await;
    neighbour.refused(429, "RATE_LIMITED", "WRITE_RATE_PER_ADDRESS_PER_MINUTE");
    assert_eq!(http.forwarding("2001:db8:5:7::1").sign_up("Seven").await.status, 201);

    // The control plane's routes and the page's server functions see the same client.
    preview(&http.forwarding("192.0.2.77, 198.51.100.50"), false).await;
    assert_eq!(last_gateway_client(&app), "198.51.100.50");
    preview(&http.forwarding("198.51.100.51, 10.2.2.2"), true).await;
    assert_eq!(last_gateway_client(&app), "198.51.100.51");
}

async fn the_panel_functions_share_the_control_planes_address_limit(db: Db) {
    let fake = FakeLlm::start(Reply::words("ok")).await;
    let env = [
        ("GATEWAY_RATE_ADDRESS_PER_SECOND", "1"),
        ("GATEWAY_RATE_ADDRESS_BURST", "3"),
        ("TRUSTED_PROXIES", "127.0.0.1"),
    ];
    let (app, http) = served(db, &fake, &env).await;
    let client = http.forwarding("198.51.100.20");
    let body = || json!({"raw_input": "show tasks", "channel": "web", "session_id": uuid::Uuid::new_v4().to_string()});
    // The REST route uses up the address's allowance (bounded: a slow machine refills it)...
    let mut refused = None;
    for _ in 0..50 {
        let answer = client.post("/api/v1/chat/preview", body()).await;
        if answer.status != 200 {
            refused = Some(answer);
            break;
        }
    }
    refused.expect("the REST route is limited").refused(429, "RATE_LIMITED", "wait");
    // ...and the page's server functions draw on the same one, whatever their session.
    let through_page = client.post("/api/fn/control-plane/preview", body()).await;
    // (A server function answers its error as the body itself, not under `error`.)
    assert_eq!(through_page.status, 429, "{}", through_page.body);
    assert_eq!(through_page.body["code"], "RATE_LIMITED", "{}", through_page.body);
    assert!(through_page.retry_after().is_some_and(|s| s >= 1), "{:?}", through_page.headers);
    // Both refusals are counted for that address, in one line per operation and code.
    app.state.gateway.flush_refusals().unwrap();
    let log = app.gateway_root.path().join("observability/telemetry/gateway.jsonl");
    let lines: Vec<Value> =
        std::fs::read_to_string(log).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let counted: Vec<&Value> =
        lines.iter().filter(|line| line["event"] == "refused" && line["client_addr"] == "198.51.100.20").collect();
    assert_eq!(counted.len(), 1, "{lines:?}");
    assert_eq!((counted[0]["error_code"].as_str(), counted[0]["count"].as_u64()), (Some("RATE_LIMITED"), Some(2)));
    // Another address has its own allowance.
    let other = http.forwarding("198.51.100.21").post("/api/fn/control-plane/preview", body()).await;
    assert_eq!(other.status, 200, "{}", other.body);
}
