//! The control plane served by the whole application: its routes, its folder, and its page.

mod common;

use common::{assert_error, person, Db, TestApp};
use domain::accounts::Role;
use http::StatusCode;
use serde_json::json;

on_both_databases!(
    preview_confirm_and_watch_through_the_app,
    the_panel_is_rendered_on_the_server,
    the_panel_is_for_operators_and_admins_only,
);

async fn preview_confirm_and_watch_through_the_app(db: Db) {
    let app = TestApp::new(db).await;
    let session = uuid::Uuid::new_v4().to_string();
    let body = json!({"raw_input": "lisa run backup_db", "channel": "web", "session_id": session});
    let (status, preview) = app.send_json("POST", "/api/v1/chat/preview", &body.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["normalized_task"]["risk"], "high");
    assert_eq!(preview["normalized_task"]["lane"], "approval");
    assert_eq!(preview["requires_confirm"], true);
    let pending = app.gateway_root.path().join("interface/pending_approval");
    assert_eq!(std::fs::read_dir(&pending).map(|d| d.count()).unwrap_or(0), 0, "a preview writes nothing");

    let confirm = json!({"preview_id": preview["preview_id"], "session_id": session});
    let (status, confirmed) = app.send_json("POST", "/api/v1/chat/confirm", &confirm.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{confirmed}");
    let task_id = confirmed["task_id"].as_str().unwrap();
    assert!(app.gateway_root.path().join(confirmed["path_written"].as_str().unwrap()).is_file());

    let (status, watched) = app.get_json(&format!("/api/v1/chat/watch/{task_id}?session_id={session}")).await;
    assert_eq!(status, StatusCode::OK, "{watched}");
    assert_eq!(watched["state"], "pending_approval");

    let (status, replay) = app.send_json("POST", "/api/v1/chat/confirm", &confirm.to_string()).await;
    assert_eq!(status.as_u16(), 409, "{replay}");
    let other = uuid::Uuid::new_v4().to_string();
    let (status, body) = app.get_json(&format!("/api/v1/chat/watch/{task_id}?session_id={other}")).await;
    assert_error(status, &body, 404, "TASK_NOT_FOUND");
}

async fn the_panel_is_rendered_on_the_server(db: Db) {
    let app = TestApp::new(db).await;
    let (status, html) = app.get("/control-plane").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"<label for="cp-command">Command</label>"#), "{html}");
    assert!(html.contains(">Preview<"), "{html}");
    assert!(html.contains(r#"<label for="cp-channel">Channel</label>"#), "{html}");
}

async fn the_panel_is_for_operators_and_admins_only(db: Db) {
    let app = TestApp::new(db).await;
    let user = format!("Bearer {}", person(&app.state.services, "Una User", Role::User).await);
    let (status, _, html) = app.browse("/control-plane", &[("authorization", &user)]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
    assert!(html.contains("Only operators and admins may do this."), "{html}");
    assert!(!html.contains("cp-command"), "no panel: {html}");
    let session = uuid::Uuid::new_v4().to_string();
    let body = json!({"raw_input": "liam check status", "channel": "web", "session_id": session}).to_string();
    let request = http::Request::post("/api/fn/control-plane/preview")
        .header("content-type", "application/json")
        .header("authorization", &user)
        .body(axum::body::Body::from(body))
        .unwrap();
    assert_eq!(app.send_as_is(request).await.status(), StatusCode::FORBIDDEN, "nor its server functions");

    let operator = format!("Bearer {}", person(&app.state.services, "Otto Operator", Role::Operator).await);
    let (status, _, html) = app.browse("/control-plane", &[("authorization", &operator)]).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("cp-command"), "{html}");

    let (status, headers, _) = app.browse("/control-plane", &[]).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(headers["location"], "/signin?next=/control-plane");
}
