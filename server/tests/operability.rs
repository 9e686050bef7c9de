//! Health, readiness, metrics, request ids, the page shell and 404s, on both databases.

mod common;

use axum::body::Body;
use common::{assert_error, Db, TestApp};
use http::{Request, StatusCode};

on_both_databases!(
    liveness_is_always_ok,
    readiness_follows_the_database,
    metrics_count_requests_by_route_and_status,
    request_ids_are_kept_or_generated,
    the_shell_is_rendered_on_the_server,
    unknown_pages_get_a_real_404,
    unknown_api_paths_get_a_json_404,
    graceful_shutdown_ends_the_server,
);

async fn liveness_is_always_ok(db: Db) {
    let app = TestApp::new(db).await;
    let (status, body) = app.get_json("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
}

async fn readiness_follows_the_database(db: Db) {
    let app = TestApp::new(db).await;
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ready");
    assert_eq!(
        body["database"],
        match db {
            Db::Sqlite => "sqlite",
            Db::Postgres => "postgres",
        }
    );

    app.state.services.store.close().await;
    let (status, body) = app.get_json("/readyz").await;
    assert_error(status, &body, 503, "UNAVAILABLE");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(!message.contains("pool"), "internal error text leaked: {message}");

    // Liveness does not depend on the database.
    assert_eq!(app.get("/healthz").await.0, StatusCode::OK);
}

async fn metrics_count_requests_by_route_and_status(db: Db) {
    let app = TestApp::new(db).await;
    app.get("/healthz").await;
    app.get("/no/such/page").await;
    let (status, text) = app.get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("# TYPE http_requests_total counter"), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("http_requests_total{")
            && l.contains("route=\"/healthz\"")
            && l.contains("status=\"200\"")),
        "{text}"
    );
    assert!(text.contains("http_request_duration_seconds_bucket{"), "a latency histogram: {text}");
    assert!(text.lines().any(|l| l.contains("status=\"404\"")), "{text}");
}

async fn request_ids_are_kept_or_generated(db: Db) {
    let app = TestApp::new(db).await;
    let response =
        app.send(Request::get("/healthz").header("x-request-id", "trace-me-42").body(Body::empty()).unwrap()).await;
    assert_eq!(response.headers()["x-request-id"], "trace-me-42");

    let response = app.send(Request::get("/healthz").body(Body::empty()).unwrap()).await;
    let generated = response.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(generated).is_ok(), "a generated UUID, got {generated}");
}

async fn the_shell_is_rendered_on_the_server(db: Db) {
    let app = TestApp::new(db).await;
    let (status, html) = app.get("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"href="/rooms""#) && html.contains(">Rooms<"), "{html}");
    assert!(html.contains(r#"href="/control-plane""#) && html.contains(">Control plane<"), "{html}");
    assert!(html.contains(domain::VERSION), "the footer shows the version");
    assert!(html.contains("/pkg/ais-chatrooms.js"), "the hydration script is linked");
}

async fn unknown_pages_get_a_real_404(db: Db) {
    let app = TestApp::new(db).await;
    let (status, html) = app.get("/no/such/page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("Page not found"), "{html}");
    assert!(html.contains(r#"href="/rooms""#), "the 404 page keeps the navigation");
}

async fn unknown_api_paths_get_a_json_404(db: Db) {
    let app = TestApp::new(db).await;
    let (status, body) = app.get_json("/api/no-such-endpoint").await;
    assert_error(status, &body, 404, "NOT_FOUND");
}

async fn graceful_shutdown_ends_the_server(db: Db) {
    let app = TestApp::new(db).await;
    let base = app.spawn().await;
    let client = reqwest::Client::new();
    let response = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(body_text_len(response).await > 0);

    app.state.services.shutdown.cancel();
    // Once shut down, the port no longer accepts requests.
    let mut refused = false;
    for _ in 0..50 {
        if client.get(format!("{base}/healthz")).send().await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(refused, "the server stopped accepting connections after shutdown");
}

async fn body_text_len(response: reqwest::Response) -> usize {
    response.text().await.unwrap().len()
}
