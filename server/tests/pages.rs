//! Server-rendered pages of the rooms product, read as HTML without a browser.

mod common;

use common::{Db, TestApp};
use http::StatusCode;
use serde_json::json;

on_both_databases!(
    the_rooms_page_lists_rooms_and_offers_the_form,
    a_room_page_renders_its_history_safely,
    a_missing_room_is_a_404_page,
);

async fn the_rooms_page_lists_rooms_and_offers_the_form(db: Db) {
    let app = TestApp::new(db).await;
    app.send_json("POST", "/api/rooms", r#"{"name": "Design review"}"#).await;
    let (status, html) = app.get("/rooms").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(">Design review</a>"), "{html}");
    assert!(html.contains(r#"<label for="room-name">Room name</label>"#), "{html}");
    assert!(html.contains(">Create room</button>") || html.contains(">Create room\n"), "{html}");
}

async fn a_room_page_renders_its_history_safely(db: Db) {
    let app = TestApp::new(db).await;
    let (_, room) = app.send_json("POST", "/api/rooms", r#"{"name": "Renders"}"#).await;
    let room_id = room["id"].as_str().unwrap();
    let hostile = "Look: <script>window.hacked=1</script> [x](javascript:alert(1)) and **bold**";
    app.send_json("POST", &format!("/api/rooms/{room_id}/messages"), &json!({"content": hostile}).to_string()).await;
    let (status, html) = app.get(&format!("/rooms/{room_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<h1>Renders</h1>"), "{html}");
    assert!(html.contains("<strong>bold</strong>"), "Markdown is rendered: {html}");
    assert!(!html.contains("<script>window.hacked"), "raw HTML never reaches the page");
    assert!(html.contains("&lt;script&gt;window.hacked"), "it is shown as text");
    assert!(!html.contains("href=\"javascript:"), "script links are dropped");
    assert!(html.contains(r#"for="new-agent-name""#) && html.contains(">Agent name<"), "the agent form is there");
    assert!(html.contains(">Send<"), "the composer is there");
}

async fn a_missing_room_is_a_404_page(db: Db) {
    let app = TestApp::new(db).await;
    let (status, html) = app.get(&format!("/rooms/{}", uuid::Uuid::now_v7())).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{html}");
    assert!(html.contains("Room not found"));
    let (status, _) = app.get("/rooms/not-a-room").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Made-up room ids leave nothing behind: no live-event channel is made for a room that does
    // not exist, through the page, its stream or its API.
    for _ in 0..50 {
        let made_up = uuid::Uuid::now_v7();
        assert_eq!(app.get(&format!("/rooms/{made_up}")).await.0, StatusCode::NOT_FOUND);
        assert_eq!(app.get(&format!("/api/rooms/{made_up}/stream")).await.0, StatusCode::NOT_FOUND);
        assert_eq!(app.get(&format!("/api/rooms/{made_up}/messages")).await.0, StatusCode::NOT_FOUND);
    }
    assert_eq!(app.state.services.events.room_count(), 0);
}
