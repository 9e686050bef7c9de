//! The control plane served by the whole application: its routes, its folder, and its page.

mod common;

use axum::body::Body;
use common::{assert_error, body_text, person, Db, TestApp};
use domain::accounts::Role;
use http::{Request, StatusCode};
use serde_json::{json, Value};

on_both_databases!(
    preview_confirm_and_watch_through_the_app,
    the_panel_is_rendered_on_the_server,
    a_session_belongs_to_the_person_who_opened_it_and_every_line_names_them,
    guests_and_plain_users_are_refused_before_anything_is_logged,
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

/// A request with a JSON body from the holder of `token`, or from a guest without one.
fn request(method: &str, uri: &str, token: Option<&str>, body: Option<&Value>) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    match body {
        Some(body) => builder.header("content-type", "application/json").body(Body::from(body.to_string())),
        None => builder.body(Body::empty()),
    }
    .unwrap()
}

async fn answer(app: &TestApp, request: Request<Body>) -> (StatusCode, Value) {
    let response = app.send_as_is(request).await;
    let status = response.status();
    (status, serde_json::from_str(&body_text(response).await).unwrap())
}

async fn user_id(app: &TestApp, token: &str) -> String {
    let (status, me) = answer(app, request("GET", "/api/auth/me", Some(token), None)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    me["id"].as_str().unwrap().to_owned()
}

fn telemetry_lines(app: &TestApp) -> Vec<Value> {
    let path = app.gateway_root.path().join("observability/telemetry/gateway.jsonl");
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

async fn a_session_belongs_to_the_person_who_opened_it_and_every_line_names_them(db: Db) {
    let app = TestApp::new(db).await;
    let otto = common::person(&app.state.services, "Otto Operator", Role::Operator).await;
    let (ada_id, otto_id) = (user_id(&app, &app.token).await, user_id(&app, &otto).await);
    let session = uuid::Uuid::new_v4().to_string();
    let preview_body = json!({"raw_input": "liam check status", "channel": "web", "session_id": session});

    let (status, preview) =
        answer(&app, request("POST", "/api/v1/chat/preview", Some(&app.token), Some(&preview_body))).await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    let confirm_body = json!({"preview_id": preview["preview_id"], "session_id": session});

    // Otto is an operator too, and knows the session and the preview: it is still Ada's.
    let (status, body) = answer(&app, request("POST", "/api/v1/chat/preview", Some(&otto), Some(&preview_body))).await;
    assert_error(status, &body, 403, "SESSION_MISMATCH");
    let (status, body) = answer(&app, request("POST", "/api/v1/chat/confirm", Some(&otto), Some(&confirm_body))).await;
    assert_error(status, &body, 403, "SESSION_MISMATCH");
    let inbox = app.gateway_root.path().join("interface/inbox");
    assert_eq!(std::fs::read_dir(&inbox).unwrap().count(), 0, "nothing was written for Otto");

    let (status, confirmed) =
        answer(&app, request("POST", "/api/v1/chat/confirm", Some(&app.token), Some(&confirm_body))).await;
    assert_eq!(status, StatusCode::OK, "{confirmed}");
    let task_id = confirmed["task_id"].as_str().unwrap();
    let watch = format!("/api/v1/chat/watch/{task_id}?session_id={session}");
    let tasks = format!("/api/v1/chat/tasks?session_id={session}");
    for uri in [&watch, &tasks] {
        let (status, body) = answer(&app, request("GET", uri, Some(&otto), None)).await;
        assert_error(status, &body, 403, "SESSION_MISMATCH");
        let (status, body) = answer(&app, request("GET", uri, Some(&app.token), None)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    // The task file is still authored by the gateway, whoever asked for it.
    let task_file = std::fs::read_to_string(app.gateway_root.path().join(confirmed["path_written"].as_str().unwrap()));
    // Task files quote every string (YAML 1.1 and 1.2 readers agree on them).
    assert!(task_file.unwrap().lines().any(|line| line == r#""author": "gmx""#));

    let name = |id: &str| match id {
        id if id == ada_id => "ada",
        id if id == otto_id => "otto",
        _ => "someone else",
    };
    let people: Vec<&str> = telemetry_lines(&app).iter().map(|line| name(line["user_id"].as_str().unwrap())).collect();
    assert_eq!(people, ["ada", "otto", "otto", "ada", "otto", "ada", "otto", "ada"]);
    let report = gateway::verify_file(&app.gateway_root.path().join("observability/telemetry/gateway.jsonl")).unwrap();
    assert_eq!(report.lines, 8);
}

async fn guests_and_plain_users_are_refused_before_anything_is_logged(db: Db) {
    let app = TestApp::new(db).await;
    let ursula = common::person(&app.state.services, "Ursula User", Role::User).await;
    let session = uuid::Uuid::new_v4().to_string();
    let preview_body = json!({"raw_input": "liam check status", "channel": "web", "session_id": session});
    let confirm_body = json!({"preview_id": uuid::Uuid::new_v4(), "session_id": session});
    for (token, expected) in [(None, 401), (Some(ursula.as_str()), 403)] {
        let calls = [
            request("POST", "/api/v1/chat/preview", token, Some(&preview_body)),
            request("POST", "/api/v1/chat/confirm", token, Some(&confirm_body)),
            request("GET", &format!("/api/v1/chat/tasks?session_id={session}"), token, None),
            request(
                "GET",
                &format!("/api/v1/chat/watch/task_20260202T100000_0123456789ab?session_id={session}"),
                token,
                None,
            ),
        ];
        // Not even a malformed body is logged, as it would be for an operator.
        let mut malformed = Request::post("/api/v1/chat/preview").header("content-type", "application/json");
        if let Some(token) = token {
            malformed = malformed.header("authorization", format!("Bearer {token}"));
        }
        for call in calls.into_iter().chain([malformed.body(Body::from("{")).unwrap()]) {
            let (status, body) = answer(&app, call).await;
            assert_eq!(status.as_u16(), expected, "{body}");
        }
    }
    assert!(telemetry_lines(&app).is_empty(), "no line for a refused caller: {:?}", telemetry_lines(&app));
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
