//! The rooms REST API: every endpoint and every error, on both databases.

mod common;

use std::time::Duration;

use axum::body::Body;
use common::{assert_error, eventually, Db, TestApp};
use fake_llm::{Ending, FakeLlm, Reply};
use http::{Request, StatusCode};
use serde_json::{json, Value};

on_both_databases!(
    rooms_are_created_listed_and_fetched,
    bad_room_input_is_refused_and_nothing_is_lost,
    agents_are_added_edited_deactivated_and_limited,
    bad_agent_input_is_refused,
    messages_are_posted_and_paged,
    bad_message_input_is_refused,
    the_demo_model_answers_without_any_key,
    a_configured_provider_answers_with_real_usage_and_cost,
    mentions_and_rotation_choose_the_speaker,
    a_reply_that_breaks_midway_is_kept_as_failed,
    a_transcript_exports_as_json_and_markdown_with_usage_and_cost,
    persona_cards_import_export_and_round_trip,
    replies_are_regenerated_switched_retried_edited_and_removed,
    usage_is_reported_as_json_and_csv_and_goes_with_its_room,
    rooms_are_searched_by_name_paged_and_ordered_by_activity,
    a_reply_being_written_is_stopped_where_it_is,
);

async fn create_room(app: &TestApp, name: &str) -> Value {
    let (status, room) =
        app.send_json("POST", "/api/rooms", &json!({"name": name, "mode": "manual"}).to_string()).await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    room
}

async fn add_agent(app: &TestApp, room_id: &str, name: &str) -> Value {
    let body = json!({"name": name, "model": "demo", "system_prompt": format!("You are {name}."), "temperature": 0.5});
    let (status, agent) = app.send_json("POST", &format!("/api/rooms/{room_id}/agents"), &body.to_string()).await;
    assert_eq!(status, StatusCode::CREATED, "{agent}");
    agent
}

async fn messages(app: &TestApp, room_id: &str) -> Vec<Value> {
    let (status, page) = app.get_json(&format!("/api/rooms/{room_id}/messages?limit=200")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["messages"].as_array().unwrap().clone()
}

async fn wait_for_agent_reply(app: &TestApp, room_id: &str, count: usize) -> Vec<Value> {
    eventually(Duration::from_secs(10), "agent replies to finish", || async {
        let all = messages(app, room_id).await;
        all.iter().filter(|m| m["sender_type"] == "agent" && m["status"] != "streaming").count() >= count
    })
    .await;
    messages(app, room_id).await.into_iter().filter(|m| m["sender_type"] == "agent").collect()
}

async fn rooms_are_created_listed_and_fetched(db: Db) {
    let app = TestApp::new(db).await;
    let first = create_room(&app, "  Strategy  ").await;
    assert_eq!(first["name"], "Strategy", "names are trimmed");
    assert_eq!(first["mode"], "manual");
    assert!(uuid::Uuid::parse_str(first["id"].as_str().unwrap()).is_ok());
    let (_, second) = app.send_json("POST", "/api/rooms", r#"{"name": "Auto room", "mode": "auto"}"#).await;
    assert_eq!(second["mode"], "auto");
    let (_, defaulted) = app.send_json("POST", "/api/rooms", r#"{"name": "No mode given"}"#).await;
    assert_eq!(defaulted["mode"], "manual");

    let (status, list) = app.get_json("/api/rooms").await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["No mode given", "Auto room", "Strategy"], "newest first");

    let (status, fetched) = app.get_json(&format!("/api/rooms/{}", first["id"].as_str().unwrap())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched["name"], "Strategy");

    let (status, body) = app.get_json(&format!("/api/rooms/{}", uuid::Uuid::now_v7())).await;
    assert_error(status, &body, 404, "NOT_FOUND");
    let (status, body) = app.get_json("/api/rooms/not-a-uuid").await;
    assert_error(status, &body, 404, "NOT_FOUND");
}

async fn bad_room_input_is_refused_and_nothing_is_lost(db: Db) {
    let app = TestApp::new(db).await;
    create_room(&app, "Keeper").await;

    let (status, body) = app.send_json("POST", "/api/rooms", r#"{"name": "x""#).await;
    assert_error(status, &body, 400, "MALFORMED_JSON");
    let (status, body) = app.send_json("POST", "/api/rooms", r#"{"mode": "manual"}"#).await;
    assert_error(status, &body, 400, "MALFORMED_JSON");
    assert!(body["error"]["message"].as_str().unwrap().contains("name"), "says what is missing: {body}");
    let (status, body) = app.send_json("POST", "/api/rooms", r#"{"name": "x", "mode": "sideways"}"#).await;
    assert_error(status, &body, 400, "MALFORMED_JSON");
    let (status, body) = app.send_json("POST", "/api/rooms", r#"{"name": "   "}"#).await;
    assert_error(status, &body, 422, "VALIDATION_FAILED");
    let long = json!({"name": "n".repeat(101)}).to_string();
    let (status, body) = app.send_json("POST", "/api/rooms", &long).await;
    assert_error(status, &body, 422, "VALIDATION_FAILED");
    let ok = json!({"name": "é".repeat(100)}).to_string();
    assert_eq!(app.send_json("POST", "/api/rooms", &ok).await.0, StatusCode::CREATED, "100 characters is fine");

    let huge = json!({"name": "x".repeat(1024 * 1024 + 10)}).to_string();
    let (status, body) = app.send_json("POST", "/api/rooms", &huge).await;
    assert_error(status, &body, 413, "PAYLOAD_TOO_LARGE");

    let response = app
        .send(Request::post("/api/rooms").header("content-type", "text/plain").body(Body::from("name=x")).unwrap())
        .await;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let (_, list) = app.get_json("/api/rooms").await;
    assert_eq!(list.as_array().unwrap().len(), 2, "only the two valid rooms exist");
}

async fn agents_are_added_edited_deactivated_and_limited(db: Db) {
    let app = TestApp::new(db).await;
    let room = create_room(&app, "Team").await;
    let room_id = room["id"].as_str().unwrap();
    let ada = add_agent(&app, room_id, "Ada").await;
    for key in ["id", "name", "model", "system_prompt", "temperature", "is_active"] {
        assert!(ada.get(key).is_some(), "agent has {key}: {ada}");
    }
    assert_eq!(ada["is_active"], true);
    assert_eq!(ada["temperature"], 0.5);
    let ada_id = ada["id"].as_str().unwrap();

    let (status, edited) = app
        .send_json(
            "PATCH",
            &format!("/api/rooms/{room_id}/agents/{ada_id}"),
            r#"{"system_prompt": "You are a sceptic.", "temperature": 1.2}"#,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["system_prompt"], "You are a sceptic.");
    assert_eq!(edited["temperature"], 1.2);
    assert_eq!(edited["name"], "Ada");

    for i in 1..12 {
        add_agent(&app, room_id, &format!("Agent {i}")).await;
    }
    let body = json!({"name": "Thirteenth", "model": "demo", "system_prompt": "", "temperature": 1.0}).to_string();
    let (status, err) = app.send_json("POST", &format!("/api/rooms/{room_id}/agents"), &body).await;
    assert_error(status, &err, 422, "LIMIT_REACHED");

    let (status, off) =
        app.send_json("PATCH", &format!("/api/rooms/{room_id}/agents/{ada_id}"), r#"{"is_active": false}"#).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(off["is_active"], false);
    assert_eq!(app.send_json("POST", &format!("/api/rooms/{room_id}/agents"), &body).await.0, StatusCode::CREATED);
    let (status, err) =
        app.send_json("PATCH", &format!("/api/rooms/{room_id}/agents/{ada_id}"), r#"{"is_active": true}"#).await;
    assert_error(status, &err, 422, "LIMIT_REACHED");

    let (status, list) = app.get_json(&format!("/api/rooms/{room_id}/agents")).await;
    assert_eq!(status, StatusCode::OK);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 13);
    assert_eq!(list[0]["name"], "Ada", "in the order they were added");
    assert_eq!(list.iter().filter(|a| a["is_active"] == true).count(), 12);
}

async fn bad_agent_input_is_refused(db: Db) {
    let app = TestApp::new(db).await;
    let room = create_room(&app, "Strict").await;
    let room_id = room["id"].as_str().unwrap();
    let ada = add_agent(&app, room_id, "Ada").await;
    let ada_id = ada["id"].as_str().unwrap();
    let url = format!("/api/rooms/{room_id}/agents");
    let cases = [
        (json!({"name": "", "model": "demo"}), 422, "VALIDATION_FAILED"),
        (json!({"name": "n".repeat(101), "model": "demo"}), 422, "VALIDATION_FAILED"),
        (json!({"name": "B", "model": "demo", "system_prompt": "p".repeat(20_001)}), 422, "VALIDATION_FAILED"),
        (json!({"name": "B", "model": "demo", "temperature": 2.5}), 422, "VALIDATION_FAILED"),
        (json!({"name": "B", "model": "demo", "temperature": -0.1}), 422, "VALIDATION_FAILED"),
        (json!({"name": "B", "model": ""}), 422, "VALIDATION_FAILED"),
        (json!({"name": "B", "model": "demo", "temperature": "hot"}), 400, "MALFORMED_JSON"),
        (json!({"name": "ada", "model": "demo"}), 409, "CONFLICT"),
    ];
    for (body, status_code, code) in cases {
        let (status, err) = app.send_json("POST", &url, &body.to_string()).await;
        assert_error(status, &err, status_code, code);
    }
    assert_eq!(
        app.send_json(
            "POST",
            &url,
            &json!({"name": "B", "model": "demo", "system_prompt": "p".repeat(20_000)}).to_string()
        )
        .await
        .0,
        StatusCode::CREATED
    );

    let (status, err) = app.send_json("PATCH", &format!("{url}/{ada_id}"), r#"{"temperature": 3}"#).await;
    assert_error(status, &err, 422, "VALIDATION_FAILED");
    let (status, err) = app.send_json("PATCH", &format!("{url}/{ada_id}"), r#"{"name": "b"}"#).await;
    assert_error(status, &err, 409, "CONFLICT");
    let (status, err) = app.send_json("PATCH", &format!("{url}/{}", uuid::Uuid::now_v7()), r#"{"name": "Z"}"#).await;
    assert_error(status, &err, 404, "NOT_FOUND");
    let missing_room = format!("/api/rooms/{}/agents", uuid::Uuid::now_v7());
    let (status, err) = app.send_json("POST", &missing_room, r#"{"name": "Z", "model": "demo"}"#).await;
    assert_error(status, &err, 404, "NOT_FOUND");
    let (status, err) = app.get_json(&missing_room).await;
    assert_error(status, &err, 404, "NOT_FOUND");

    let (_, list) = app.get_json(&url).await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["temperature"], 0.5, "a refused edit changed nothing");
}

async fn messages_are_posted_and_paged(db: Db) {
    let app = TestApp::new(db).await;
    let room = create_room(&app, "Quiet").await;
    let room_id = room["id"].as_str().unwrap();
    let url = format!("/api/rooms/{room_id}/messages");
    let (status, posted) = app.send_json("POST", &url, r#"{"content": "Hello, **room**!"}"#).await;
    assert_eq!(status, StatusCode::CREATED, "{posted}");
    let message = &posted["message"];
    for key in [
        "id",
        "room_id",
        "sender_type",
        "sender_id",
        "sender_name",
        "content",
        "status",
        "tokens_in",
        "tokens_out",
        "latency_ms",
        "run_id",
        "created_at",
    ] {
        assert!(message.get(key).is_some(), "message has {key}: {message}");
    }
    assert_eq!(message["sender_type"], "human");
    assert_eq!(message["status"], "complete");
    assert_eq!(message["content"], "Hello, **room**!");

    for i in 0..9 {
        app.send_json("POST", &url, &json!({"content": format!("message {i}")}).to_string()).await;
    }
    let (status, newest) = app.get_json(&format!("{url}?limit=4")).await;
    assert_eq!(status, StatusCode::OK);
    let contents = |page: &Value| -> Vec<String> {
        page["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(contents(&newest), vec!["message 5", "message 6", "message 7", "message 8"], "chronological");
    let cursor = newest["next_cursor"].as_str().unwrap();
    let (_, older) = app.get_json(&format!("{url}?cursor={cursor}&limit=4")).await;
    assert_eq!(contents(&older), vec!["message 1", "message 2", "message 3", "message 4"]);
    let cursor = older["next_cursor"].as_str().unwrap();
    let (_, oldest) = app.get_json(&format!("{url}?cursor={cursor}&limit=4")).await;
    assert_eq!(contents(&oldest), vec!["Hello, **room**!", "message 0"]);
    assert!(oldest["next_cursor"].is_null());
    let (_, default) = app.get_json(&format!("{url}?cursor=")).await;
    assert_eq!(default["messages"].as_array().unwrap().len(), 10, "an empty cursor is the newest page");
}

async fn bad_message_input_is_refused(db: Db) {
    let app = TestApp::new(db).await;
    let room = create_room(&app, "Careful").await;
    let room_id = room["id"].as_str().unwrap();
    let url = format!("/api/rooms/{room_id}/messages");
    app.send_json("POST", &url, r#"{"content": "kept"}"#).await;
    for (body, status_code, code) in [
        (json!({"content": ""}), 422, "VALIDATION_FAILED"),
        (json!({"content": " \n\t "}), 422, "VALIDATION_FAILED"),
        (json!({"content": "c".repeat(32_001)}), 422, "VALIDATION_FAILED"),
        (json!({"text": "wrong field"}), 400, "MALFORMED_JSON"),
    ] {
        let (status, err) = app.send_json("POST", &url, &body.to_string()).await;
        assert_error(status, &err, status_code, code);
    }
    assert_eq!(
        app.send_json("POST", &url, &json!({"content": "c".repeat(32_000)}).to_string()).await.0,
        StatusCode::CREATED
    );
    let (status, err) = app.get_json(&format!("{url}?cursor=nope")).await;
    assert_error(status, &err, 422, "VALIDATION_FAILED");
    for limit in ["0", "201", "-3"] {
        let (status, err) = app.get_json(&format!("{url}?limit={limit}")).await;
        assert_error(status, &err, 422, "VALIDATION_FAILED");
    }
    let (status, err) = app.get_json(&format!("{url}?limit=many")).await;
    assert_error(status, &err, 400, "VALIDATION_FAILED");
    let missing = format!("/api/rooms/{}/messages", uuid::Uuid::now_v7());
    let (status, err) = app.send_json("POST", &missing, r#"{"content": "hi"}"#).await;
    assert_error(status, &err, 404, "NOT_FOUND");
    assert_eq!(messages(&app, room_id).await.len(), 2, "only valid messages were stored");
}

async fn the_demo_model_answers_without_any_key(db: Db) {
    let app = TestApp::with_env(db, &[("DEMO_TOKEN_DELAY_MS", "0")]).await;
    let room = create_room(&app, "Demo").await;
    let room_id = room["id"].as_str().unwrap();
    add_agent(&app, room_id, "Ada").await;
    app.send_json("POST", &format!("/api/rooms/{room_id}/messages"), r#"{"content": "How do we test caching?"}"#).await;
    let replies = wait_for_agent_reply(&app, room_id, 1).await;
    let reply = &replies[0];
    assert_eq!(reply["status"], "complete", "{reply}");
    assert_eq!(reply["sender_name"], "Ada");
    assert_eq!(reply["model"], "demo");
    assert!(reply["content"].as_str().unwrap().contains("caching"), "{reply}");
    assert_eq!(reply["usage_estimated"], true);
    assert!(reply["tokens_out"].as_i64().unwrap() > 0);
    assert!(reply["latency_ms"].as_i64().is_some());
    assert_eq!(reply["selection_reason"], "First in rotation.");
}

async fn a_configured_provider_answers_with_real_usage_and_cost(db: Db) {
    let fake = FakeLlm::start(Reply::words("Caching needs an eviction policy.")).await;
    let base = fake.base_url();
    let app = TestApp::with_env(db, &[("OPENAI_BASE_URL", &base), ("OPENAI_API_KEY", "sk-x")]).await;
    let room = create_room(&app, "Real").await;
    let room_id = room["id"].as_str().unwrap();
    let body =
        json!({"name": "Ada", "model": "gpt-4o-mini", "system_prompt": "You are Ada, terse.", "temperature": 0.2});
    app.send_json("POST", &format!("/api/rooms/{room_id}/agents"), &body.to_string()).await;
    app.send_json("POST", &format!("/api/rooms/{room_id}/messages"), r#"{"content": "Caching?"}"#).await;
    let reply = wait_for_agent_reply(&app, room_id, 1).await.remove(0);
    assert_eq!(reply["content"], "Caching needs an eviction policy.");
    assert_eq!(reply["model"], "gpt-4o-mini");
    assert_eq!((reply["tokens_in"].as_i64(), reply["tokens_out"].as_i64()), (Some(17), Some(5)));
    assert_eq!(reply["usage_estimated"], false);
    assert!(reply["first_token_ms"].as_i64().is_some());

    let sent = &fake.requests()[0];
    assert_eq!(sent.body["temperature"], 0.2);
    assert!(sent.body["messages"][0]["content"].as_str().unwrap().starts_with("You are Ada, terse."));
    assert_eq!(sent.body["messages"].as_array().unwrap().last().unwrap()["content"], "Ada Admin: Caching?");

    let room_uuid = uuid::Uuid::parse_str(room_id).unwrap();
    let usage = app.state.services.store.list_usage_events(room_uuid).await.unwrap();
    assert_eq!(usage.len(), 1);
    assert_eq!((usage[0].provider.as_str(), usage[0].input_tokens, usage[0].output_tokens), ("openai", 17, 5));
    let expected = (0.15 * 17.0 + 0.60 * 5.0) / 1_000_000.0;
    assert!((usage[0].cost - expected).abs() < 1e-12, "cost from the price table");
}

async fn mentions_and_rotation_choose_the_speaker(db: Db) {
    let app = TestApp::with_env(db, &[("DEMO_TOKEN_DELAY_MS", "0")]).await;
    let room = create_room(&app, "Panel").await;
    let room_id = room["id"].as_str().unwrap();
    add_agent(&app, room_id, "Ada").await;
    add_agent(&app, room_id, "Bob").await;
    let url = format!("/api/rooms/{room_id}/messages");
    let speakers =
        [("first", "Ada"), ("second", "Bob"), ("third", "Ada"), ("@Ada once more", "Ada"), ("@bob you?", "Bob")];
    for (n, (text, expected)) in speakers.iter().enumerate() {
        app.send_json("POST", &url, &json!({"content": text}).to_string()).await;
        let replies = wait_for_agent_reply(&app, room_id, n + 1).await;
        assert_eq!(replies[n]["sender_name"], *expected, "reply to {text:?}");
    }
    let replies = wait_for_agent_reply(&app, room_id, 5).await;
    assert_eq!(replies[1]["selection_reason"], "Next in rotation after Ada.");
    assert_eq!(replies[3]["selection_reason"], "Mentioned as @Ada.");
}

async fn a_reply_that_breaks_midway_is_kept_as_failed(db: Db) {
    let fake = FakeLlm::start(Reply::words("I was saying that").ending(Ending::Break)).await;
    let base = fake.base_url();
    let app = TestApp::with_env(db, &[("OPENAI_BASE_URL", &base)]).await;
    let room = create_room(&app, "Flaky").await;
    let room_id = room["id"].as_str().unwrap();
    let body = json!({"name": "Ada", "model": "gpt-4o-mini", "system_prompt": "", "temperature": 0.2});
    app.send_json("POST", &format!("/api/rooms/{room_id}/agents"), &body.to_string()).await;
    app.send_json("POST", &format!("/api/rooms/{room_id}/messages"), r#"{"content": "Go on"}"#).await;
    let reply = wait_for_agent_reply(&app, room_id, 1).await.remove(0);
    assert_eq!(reply["status"], "failed");
    assert_eq!(reply["content"], "I was saying that", "the partial text is kept");
    assert!(reply["error"].as_str().unwrap().starts_with("The provider's stream broke off"), "{reply}");
}

/// The transcript export: every message oldest first (past one page of the message list), with
/// speakers, times, models, tokens and cost, as JSON that decodes into the documented structure
/// and as a Markdown file; a format it does not know is refused naming the field.
async fn a_transcript_exports_as_json_and_markdown_with_usage_and_cost(db: Db) {
    use domain::transcripts::Transcript;

    let fake = FakeLlm::start(Reply::words("Caching needs an eviction policy.")).await;
    let base = fake.base_url();
    let app = TestApp::with_env(db, &[("OPENAI_BASE_URL", &base), ("OPENAI_API_KEY", "sk-x")]).await;
    let room = create_room(&app, "Cache / design: review").await;
    let room_id = room["id"].as_str().unwrap();
    let room_uuid = uuid::Uuid::parse_str(room_id).unwrap();
    // More earlier messages than one page of the list holds (200), written straight to the store.
    for n in 0..230 {
        let new = storage::NewMessage {
            room_id: room_uuid,
            sender_type: domain::rooms::SenderType::Human,
            sender_id: None,
            sender_name: "Grace".into(),
            content: format!("note {n}"),
            content_html: None,
            status: domain::rooms::MessageStatus::Complete,
            model: None,
            selection_reason: None,
            run_id: None,
        };
        app.state.services.store.insert_message(new).await.unwrap();
    }
    let body = json!({"name": "Ada", "model": "gpt-4o-mini", "system_prompt": "You are Ada.", "temperature": 0.2});
    app.send_json("POST", &format!("/api/rooms/{room_id}/agents"), &body.to_string()).await;
    app.send_json("POST", &format!("/api/rooms/{room_id}/messages"), r#"{"content": "Caching?"}"#).await;
    wait_for_agent_reply(&app, room_id, 1).await;

    let response =
        app.send(Request::get(format!("/api/rooms/{room_id}/export?format=json")).body(Body::empty()).unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    let disposition = response.headers()["content-disposition"].to_str().unwrap().to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"cache-design-review-") && disposition.ends_with(".json\""),
        "{disposition}"
    );
    let text = common::body_text(response).await;
    let transcript: Transcript = serde_json::from_str(&text).expect("the JSON export decodes as a Transcript");
    assert_eq!(serde_json::to_value(&transcript).unwrap(), serde_json::from_str::<Value>(&text).unwrap(), "round trip");
    assert_eq!(transcript.room.name, "Cache / design: review");
    assert_eq!(transcript.agents.len(), 1);
    assert_eq!(transcript.messages.len(), 232);
    assert_eq!(transcript.totals.messages, 232);
    let contents: Vec<&str> = transcript.messages.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(contents[0], "note 0", "oldest first");
    assert_eq!(contents[229], "note 229");
    assert_eq!(&contents[230..], ["Caching?", "Caching needs an eviction policy."]);
    let reply = &transcript.messages[231];
    assert_eq!((reply.sender_name.as_str(), reply.model.as_deref()), ("Ada", Some("gpt-4o-mini")));
    assert_eq!((reply.tokens_in, reply.tokens_out), (Some(17), Some(5)));
    let cost = (0.15 * 17.0 + 0.60 * 5.0) / 1_000_000.0;
    assert!((reply.cost.unwrap() - cost).abs() < 1e-12, "the generation's cost: {:?}", reply.cost);
    assert!((transcript.totals.cost - cost).abs() < 1e-12);
    assert_eq!((transcript.totals.input_tokens, transcript.totals.output_tokens), (17, 5));
    assert!(transcript.messages[230].cost.is_none(), "a person's message costs nothing");
    assert!(transcript.messages.windows(2).all(|pair| pair[0].created_at <= pair[1].created_at));

    let response = app.send(Request::get(format!("/api/rooms/{room_id}/export")).body(Body::empty()).unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK, "Markdown when no format is given");
    assert_eq!(response.headers()["content-type"], "text/markdown; charset=utf-8");
    assert!(response.headers()["content-disposition"].to_str().unwrap().ends_with(".md\""));
    let markdown = common::body_text(response).await;
    assert!(markdown.starts_with("# Cache / design: review\n"), "{markdown}");
    assert!(markdown.contains("232 messages · 17 tokens in, 5 out · $0.0000"), "{markdown}");
    assert!(markdown.contains("- **Ada**: model `gpt-4o-mini`, temperature 0.2"), "{markdown}");
    assert_eq!(markdown.matches("### Grace (person)").count(), 230);
    let asked = markdown.find("(person) · ").and_then(|_| markdown.find("\nCaching?\n")).expect("the question");
    let answered = markdown.find("### Ada (agent)").expect("the answer's heading");
    assert!(asked < answered, "in order");
    assert!(
        markdown
            .contains("_model `gpt-4o-mini` · 17 tokens in, 5 out · $0.0000_\n\nCaching needs an eviction policy.\n"),
        "{markdown}"
    );

    let (status, body) = app.get_json(&format!("/api/rooms/{room_id}/export?format=pdf")).await;
    assert_error(status, &body, 422, "VALIDATION_FAILED");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("format must be md or json"),
        "names the field: {body}"
    );
    let missing = uuid::Uuid::new_v4();
    let (status, body) = app.get_json(&format!("/api/rooms/{missing}/export?format=json")).await;
    assert_error(status, &body, 404, "NOT_FOUND");
}

/// Character Card V2: a card from another tool (with fields this product ignores) becomes an
/// agent; an agent exports as a card that imports elsewhere as the same agent; malformed cards
/// are refused with a message naming the field, and nothing is added.
async fn persona_cards_import_export_and_round_trip(db: Db) {
    // A provider is configured, so its models are allowed for the `?model=` override.
    let app = TestApp::with_env(db, &[("OPENAI_API_KEY", "sk-x")]).await;
    let room = create_room(&app, "Cards").await;
    let room_id = room["id"].as_str().unwrap();
    let import = format!("/api/rooms/{room_id}/agents/import");
    let sillytavern = json!({
        "spec": "chara_card_v2",
        "spec_version": "2.0",
        "data": {
            "name": "Seraphina",
            "description": "{{char}} guards the forest.",
            "personality": "calm, kind",
            "scenario": "{{user}} is lost.",
            "first_mes": "*She smiles.* Welcome.",
            "mes_example": "<START>\n{{char}}: Rest here.",
            "system_prompt": "",
            "alternate_greetings": ["Hello."],
            "character_book": {"name": "lore", "entries": [{"keys": ["forest"], "content": "Old."}]},
            "tags": ["fantasy"],
            "creator": "someone",
            "character_version": "1.2",
            "extensions": {"talkativeness": "0.5", "depth_prompt": {"depth": 4, "prompt": "x"}},
            "avatar": "none"
        },
        "create_date": "2024-01-01"
    });
    let (status, agent) = app.send_json("POST", &import, &sillytavern.to_string()).await;
    assert_eq!(status, StatusCode::CREATED, "{agent}");
    assert_eq!(agent["name"], "Seraphina");
    assert_eq!(agent["model"], "demo", "the demo model when neither the request nor the card names one");
    let prompt = agent["system_prompt"].as_str().unwrap();
    assert!(prompt.starts_with("Seraphina guards the forest.\n\nPersonality:\ncalm, kind"), "{prompt}");
    assert!(prompt.contains("Your opening line:\n*She smiles.* Welcome."), "{prompt}");
    assert!(prompt.contains("Seraphina: Rest here."), "{prompt}");

    // Another agent, with this product's own settings, exported and imported into another room.
    let body =
        json!({"name": "Critic", "model": "demo", "system_prompt": "You find the weak spot.", "temperature": 0.3});
    let (_, critic) = app.send_json("POST", &format!("/api/rooms/{room_id}/agents"), &body.to_string()).await;
    let card_url = format!("/api/rooms/{room_id}/agents/{}/card", critic["id"].as_str().unwrap());
    let response = app.send(Request::get(&card_url).body(Body::empty()).unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-disposition"], "attachment; filename=\"critic.card.json\"");
    let card: Value = serde_json::from_str(&common::body_text(response).await).unwrap();
    assert_eq!((card["spec"].as_str(), card["spec_version"].as_str()), (Some("chara_card_v2"), Some("2.0")));
    assert_eq!(card["data"]["name"], "Critic");
    assert_eq!(card["data"]["system_prompt"], "You find the weak spot.");
    assert_eq!(card["data"]["extensions"]["ais_chatrooms"], json!({"model": "demo", "temperature": 0.3, "tools": []}));
    let other = create_room(&app, "Elsewhere").await;
    let other_import = format!("/api/rooms/{}/agents/import", other["id"].as_str().unwrap());
    let (status, copy) = app.send_json("POST", &other_import, &card.to_string()).await;
    assert_eq!(status, StatusCode::CREATED, "{copy}");
    for field in ["name", "model", "system_prompt", "temperature", "tools"] {
        assert_eq!(copy[field], critic[field], "{field} survives the round trip");
    }
    let (status, overridden) =
        app.send_json("POST", &format!("{other_import}?model=gpt-4o-mini"), &sillytavern.to_string()).await;
    assert_eq!(status, StatusCode::CREATED, "{overridden}");
    assert_eq!(overridden["model"], "gpt-4o-mini", "the request's model wins");

    // Malformed cards: each refused naming what is wrong; the room keeps its two agents.
    let refusals = [
        (json!({"spec": "chara_card_v1", "data": {"name": "X"}}), 422, "VALIDATION_FAILED", "spec"),
        (
            json!({"spec": "chara_card_v2", "spec_version": "1.0", "data": {"name": "X"}}),
            422,
            "VALIDATION_FAILED",
            "spec_version",
        ),
        (json!({"spec": "chara_card_v2", "data": {"name": "   "}}), 422, "VALIDATION_FAILED", "data.name"),
        (json!({"spec": "chara_card_v2", "data": {"description": "no name"}}), 400, "MALFORMED_JSON", "name"),
        (json!({"spec": "chara_card_v2", "data": {"name": "X", "tags": "not a list"}}), 400, "MALFORMED_JSON", "tags"),
        (json!({"name": "X", "description": "a V1 card"}), 400, "MALFORMED_JSON", "spec"),
        (
            json!({"spec": "chara_card_v2", "data": {"name": "X", "system_prompt": "p".repeat(40_000)}}),
            422,
            "VALIDATION_FAILED",
            "System prompt",
        ),
    ];
    for (card, status_code, code, named) in refusals {
        let (status, body) = app.send_json("POST", &import, &card.to_string()).await;
        assert_error(status, &body, status_code, code);
        assert!(body["error"]["message"].as_str().unwrap().contains(named), "{named} in {body}");
    }
    let (status, body) = app.send_json("POST", &import, "{not json").await;
    assert_error(status, &body, 400, "MALFORMED_JSON");
    let (_, agents) = app.get_json(&format!("/api/rooms/{room_id}/agents")).await;
    assert_eq!(agents.as_array().unwrap().len(), 2, "nothing was added by a refused card: {agents}");
    let missing = format!("/api/rooms/{room_id}/agents/{}/card", uuid::Uuid::new_v4());
    let (status, body) = app.get_json(&missing).await;
    assert_error(status, &body, 404, "NOT_FOUND");
}

async fn replies_are_regenerated_switched_retried_edited_and_removed(db: Db) {
    let fake = FakeLlm::start(Reply::words("unused")).await;
    fake.script([
        Reply::words("Tea is a drink."),
        Reply::words("Tea is an infusion of leaves."),
        Reply::Status { status: 500, message: "down".into(), retry_after: None },
        Reply::words("Recovered."),
    ]);
    let base = fake.base_url();
    let app =
        TestApp::with_env(db, &[("OPENAI_BASE_URL", &base), ("OPENAI_API_KEY", "sk-x"), ("LLM_MAX_RETRIES", "0")])
            .await;
    let room = create_room(&app, "Tea").await;
    let room_id = room["id"].as_str().unwrap();
    let body = json!({"name": "Ada", "model": "gpt-4o-mini", "system_prompt": "You are Ada.", "temperature": 0.2});
    app.send_json("POST", &format!("/api/rooms/{room_id}/agents"), &body.to_string()).await;
    let (_, posted) = app.send_json("POST", &format!("/api/rooms/{room_id}/messages"), r#"{"content": "Tea?"}"#).await;
    let asked = posted["message"]["id"].as_str().unwrap().to_owned();
    let reply = wait_for_agent_reply(&app, room_id, 1).await.remove(0);
    let reply_id = reply["id"].as_str().unwrap().to_owned();
    assert_eq!((reply["alternatives"].as_i64(), reply["alternative_index"].as_i64()), (Some(1), Some(0)));
    let at = |rest: &str| format!("/api/rooms/{room_id}/messages/{rest}");

    let (status, restarted) = app.send_json("POST", &at(&format!("{reply_id}/regenerate")), "").await;
    assert_eq!(status, StatusCode::OK, "{restarted}");
    assert_eq!((restarted["status"].as_str(), restarted["alternatives"].as_i64()), (Some("streaming"), Some(2)));
    let shown = wait_for_version(&app, room_id, &reply_id, |m| m["status"] == "complete").await;
    assert_eq!(
        (shown["content"].as_str(), shown["alternative_index"].as_i64()),
        (Some("Tea is an infusion of leaves."), Some(1))
    );
    let (status, first) = app.send_json("POST", &at(&format!("{reply_id}/alternatives/0/select")), "").await;
    assert_eq!((status, first["content"].as_str()), (StatusCode::OK, Some("Tea is a drink.")));
    assert_eq!(
        wait_for_version(&app, room_id, &reply_id, |m| m["alternative_index"] == 0).await["content"],
        "Tea is a drink."
    );
    let (status, body) = app.send_json("POST", &at(&format!("{reply_id}/alternatives/5/select")), "").await;
    assert_error(status, &body, 422, "VALIDATION_FAILED");
    assert!(body["error"]["message"].as_str().unwrap().contains("index"), "{body}");
    let (status, body) = app.send_json("POST", &at(&format!("{reply_id}/alternatives/first/select")), "").await;
    assert_error(status, &body, 404, "NOT_FOUND");
    let (status, body) = app.send_json("POST", &at(&format!("{asked}/regenerate")), "").await;
    assert_error(status, &body, 409, "CONFLICT");
    let (status, body) = app.send_json("POST", &at(&format!("{}/regenerate", uuid::Uuid::now_v7())), "").await;
    assert_error(status, &body, 404, "NOT_FOUND");

    // A third version fails; retrying writes it again in place.
    app.send_json("POST", &at(&format!("{reply_id}/regenerate")), "").await;
    let failed = wait_for_version(&app, room_id, &reply_id, |m| m["status"] == "failed").await;
    assert_eq!(failed["alternative_index"], 2);
    let (status, body) = app.send_json("POST", &at(&format!("{reply_id}/retry")), "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let retried = wait_for_version(&app, room_id, &reply_id, |m| m["status"] == "complete").await;
    assert_eq!((retried["content"].as_str(), retried["alternatives"].as_i64()), (Some("Recovered."), Some(3)));
    let (status, body) = app.send_json("POST", &at(&format!("{reply_id}/retry")), "").await;
    assert_error(status, &body, 409, "CONFLICT");

    // Editing one's own message, and the refusals.
    let (status, edited) = app.send_json("PATCH", &at(&asked), r#"{"content": "Green tea?"}"#).await;
    assert_eq!((status, edited["content"].as_str()), (StatusCode::OK, Some("Green tea?")));
    assert!(edited["edited_at"].is_string(), "{edited}");
    let (status, body) = app.send_json("PATCH", &at(&asked), r#"{"content": ""}"#).await;
    assert_error(status, &body, 422, "VALIDATION_FAILED");
    let (status, body) = app.send_json("PATCH", &at(&asked), r#"{"text": "Green tea?"}"#).await;
    assert_error(status, &body, 400, "MALFORMED_JSON");
    assert!(body["error"]["message"].as_str().unwrap().contains("content"), "the field is named: {body}");
    let (status, body) = app.send_json("PATCH", &at(&asked), "{not json").await;
    assert_error(status, &body, 400, "MALFORMED_JSON");

    // Removing: it stays in place, empty and marked; agents no longer see it.
    let (status, removed) = app.send_json("DELETE", &at(&reply_id), "").await;
    assert_eq!(status, StatusCode::OK, "{removed}");
    assert!(removed["deleted_at"].is_string() && removed["content"] == "", "{removed}");
    let (status, body) = app.send_json("DELETE", &at(&reply_id), "").await;
    assert_eq!(
        (status, &body["deleted_at"]),
        (StatusCode::OK, &removed["deleted_at"]),
        "removing twice changes nothing"
    );
    // Nobody puts words in an agent's mouth.
    let (status, body) = app.send_json("PATCH", &at(&reply_id), r#"{"content": "back"}"#).await;
    assert_error(status, &body, 403, "FORBIDDEN");
    let listed = messages(&app, room_id).await;
    let ids: Vec<&str> = listed.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [asked.as_str(), reply_id.as_str()]);
    assert_eq!(listed[0]["content"], "Green tea?");
}

async fn a_reply_being_written_is_stopped_where_it_is(db: Db) {
    // Forty words, 50 ms apart: two seconds of writing to cut off.
    let words = (0..40).map(|i| format!("w{i}")).collect::<Vec<_>>().join(" ");
    let fake = FakeLlm::start(Reply::words(&words).with_token_delay(Duration::from_millis(50))).await;
    let base = fake.base_url();
    let app =
        TestApp::with_env(db, &[("OPENAI_BASE_URL", &base), ("OPENAI_API_KEY", "sk-x"), ("LLM_MAX_RETRIES", "0")])
            .await;
    let room = create_room(&app, "Quiet").await;
    let room_id = room["id"].as_str().unwrap();
    let body = json!({"name": "Ada", "model": "gpt-4o-mini", "system_prompt": "You are Ada.", "temperature": 0.2});
    app.send_json("POST", &format!("/api/rooms/{room_id}/agents"), &body.to_string()).await;
    let stop = || async {
        let request = Request::post(format!("/api/rooms/{room_id}/replies/stop")).body(Body::empty()).unwrap();
        app.send(request).await.status()
    };
    assert_eq!(stop().await, StatusCode::NO_CONTENT, "nothing to stop is no error");

    app.send_json("POST", &format!("/api/rooms/{room_id}/messages"), r#"{"content": "Talk to me."}"#).await;
    let writing = |m: &Value| m["sender_type"] == "agent" && m["status"] == "streaming";
    eventually(Duration::from_secs(10), "the reply to be written", || async {
        messages(&app, room_id).await.iter().any(writing)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(stop().await, StatusCode::NO_CONTENT);
    let reply_id = messages(&app, room_id).await.into_iter().find(|m| m["sender_type"] == "agent").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let stopped = wait_for_version(&app, room_id, &reply_id, |m| m["status"] == "stopped").await;
    let kept = stopped["content"].as_str().unwrap().split_whitespace().count();
    assert!((1..40).contains(&kept), "the words written so far are kept: {stopped}");

    // Retrying writes it again in place, and that too stops where it is.
    let at = format!("/api/rooms/{room_id}/messages/{reply_id}/retry");
    let (status, body) = app.send_json("POST", &at, "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    wait_for_version(&app, room_id, &reply_id, |m| m["status"] == "streaming" && m["content"] != "").await;
    assert_eq!(stop().await, StatusCode::NO_CONTENT);
    let again = wait_for_version(&app, room_id, &reply_id, |m| m["status"] == "stopped").await;
    assert!(again["content"].as_str().unwrap().split_whitespace().count() < 40, "{again}");
    // Nothing more is asked of the provider once stopped.
    let requests = fake.request_count();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!((fake.request_count(), requests), (2, 2));
    assert_eq!(messages(&app, room_id).await.len(), 2, "the question and its one reply");

    let (status, body) = app.send_json("POST", &format!("/api/rooms/{}/replies/stop", uuid::Uuid::now_v7()), "").await;
    assert_error(status, &body, 404, "NOT_FOUND");
}

/// Polls the room's messages until `id` matches `check`, and returns it.
async fn wait_for_version(app: &TestApp, room_id: &str, id: &str, check: impl Fn(&Value) -> bool) -> Value {
    let mut found = None;
    for _ in 0..500 {
        let listed = messages(app, room_id).await;
        if let Some(message) = listed.into_iter().find(|m| m["id"] == id && check(m)) {
            found = Some(message);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    found.unwrap_or_else(|| panic!("message {id} never reached the state asked for"))
}

async fn usage_is_reported_as_json_and_csv_and_goes_with_its_room(db: Db) {
    let fake = FakeLlm::start(Reply::words("Four words in reply.")).await;
    let base = fake.base_url();
    let app = TestApp::with_env(db, &[("OPENAI_BASE_URL", &base), ("OPENAI_API_KEY", "sk-x")]).await;
    let room = create_room(&app, "Costs, and more").await;
    let room_id = room["id"].as_str().unwrap();
    let body = json!({"name": "Ada", "model": "gpt-4o-mini", "system_prompt": "You are Ada.", "temperature": 0.2});
    let (_, ada) = app.send_json("POST", &format!("/api/rooms/{room_id}/agents"), &body.to_string()).await;
    for question in ["One?", "Two?"] {
        app.send_json("POST", &format!("/api/rooms/{room_id}/messages"), &json!({"content": question}).to_string())
            .await;
        let count = if question == "One?" { 1 } else { 2 };
        wait_for_agent_reply(&app, room_id, count).await;
    }
    let replies: Vec<Value> =
        messages(&app, room_id).await.into_iter().filter(|m| m["sender_type"] == "agent").collect();
    let input: i64 = replies.iter().map(|m| m["tokens_in"].as_i64().unwrap()).sum();
    let output: i64 = replies.iter().map(|m| m["tokens_out"].as_i64().unwrap()).sum();

    let (status, rows) = app.get_json("/api/usage?group_by=agent").await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    assert_eq!(rows[0]["key"], ada["id"]);
    assert_eq!(rows[0]["label"], "Ada (Costs, and more)");
    assert_eq!((rows[0]["input_tokens"].as_i64(), rows[0]["output_tokens"].as_i64()), (Some(input), Some(output)));
    // gpt-4o-mini at the built-in prices: $0.15 per million input tokens, $0.60 per million output.
    let cost = input as f64 * 0.15 / 1e6 + output as f64 * 0.60 / 1e6;
    assert!((rows[0]["cost"].as_f64().unwrap() - cost).abs() < 1e-12, "{rows} vs {cost}");
    let (_, by_model) = app.get_json("/api/usage?group_by=model").await;
    assert_eq!(by_model[0]["key"], "openai/gpt-4o-mini");

    let response = app.send(Request::get("/api/usage?group_by=room&format=csv").body(Body::empty()).unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment; filename=\"usage-by-room-"));
    let csv = common::body_text(response).await;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "room,key,input_tokens,output_tokens,cost");
    assert_eq!(lines[1], format!("\"Costs, and more\",{room_id},{input},{output},{cost:.6}"));

    for (query, status, field) in [
        ("group_by=week", 422, "group_by"),
        ("from=tomorrow", 422, "from"),
        ("from=2026-02-02&to=2026-02-01", 422, "to"),
        ("format=xml", 422, "format"),
    ] {
        let (got, body) = app.get_json(&format!("/api/usage?{query}")).await;
        assert_error(got, &body, status, "VALIDATION_FAILED");
        assert!(body["error"]["message"].as_str().unwrap().contains(field), "{query}: {body}");
    }
    let (_, none_yet) = app.get_json("/api/usage?from=2020-01-01&to=2020-01-31").await;
    assert_eq!(none_yet, json!([]));

    // Deleting the room takes its usage with it.
    let deleted = app.send(Request::delete(format!("/api/rooms/{room_id}")).body(Body::empty()).unwrap()).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let (_, after) = app.get_json("/api/usage?group_by=room").await;
    assert_eq!(after, json!([]));
    let (status, body) = app.get_json(&format!("/api/rooms/{room_id}/messages")).await;
    assert_error(status, &body, 404, "NOT_FOUND");
}

async fn rooms_are_searched_by_name_paged_and_ordered_by_activity(db: Db) {
    let app = TestApp::new(db).await;
    let alpha = create_room(&app, "Alpha tea").await;
    create_room(&app, "Beta coffee").await;
    let gamma = create_room(&app, "Gamma TEA").await;
    // Alpha is older but spoken in last: it leads the list.
    let alpha_id = alpha["id"].as_str().unwrap();
    app.send_json("POST", &format!("/api/rooms/{alpha_id}/messages"), r#"{"content": "Anyone?"}"#).await;

    let response = app.send(Request::get("/api/rooms?q=tea").body(Body::empty()).unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-total-count"], "2");
    let found: Value = serde_json::from_str(&common::body_text(response).await).unwrap();
    let names: Vec<&str> = found.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Alpha tea", "Gamma TEA"], "any case, the most recently active first");
    assert_eq!((found[0]["message_count"].as_i64(), found[1]["message_count"].as_i64()), (Some(1), Some(0)));
    assert!(found[0]["last_activity_at"].as_str().unwrap() > found[1]["last_activity_at"].as_str().unwrap());

    let (_, second) = app.get_json("/api/rooms?q=tea&per_page=1&page=2").await;
    assert_eq!(second.as_array().unwrap().len(), 1);
    assert_eq!(second[0]["id"], gamma["id"]);
    let (_, beyond) = app.get_json("/api/rooms?q=tea&per_page=1&page=3").await;
    assert_eq!(beyond, json!([]));
    let (_, all) = app.get_json("/api/rooms").await;
    assert_eq!(all.as_array().unwrap().len(), 3);
    for (query, field) in [("page=0", "page"), ("per_page=500", "per_page"), ("page=x", "page")] {
        let (status, body) = app.get_json(&format!("/api/rooms?{query}")).await;
        assert!(status.is_client_error(), "{query}: {status} {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(field), "{query}: {body}");
    }
    let (status, body) = app.get_json(&format!("/api/rooms?q={}", "x".repeat(300))).await;
    assert_error(status, &body, 422, "VALIDATION_FAILED");

    // The rooms page shows the same, with a search form and pages.
    let (status, page) = app.get("/rooms?q=tea").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Alpha tea") && page.contains("Gamma TEA") && !page.contains("Beta coffee"), "{page}");
    assert!(page.contains("1 message") && page.contains("Page 1 of 1 · 2 rooms"), "{page}");
}
