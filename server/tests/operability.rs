//! Health, readiness, metrics, request ids, the page shell and 404s, on both databases.

mod common;

use axum::body::Body;
use common::{assert_error, eventually, Db, TestApp};
use http::{Request, StatusCode};

on_both_databases!(
    liveness_is_always_ok,
    readiness_follows_the_database,
    metrics_count_requests_by_route_and_status,
    request_ids_are_kept_or_generated,
    unknown_methods_share_one_metrics_label,
    the_shell_is_rendered_on_the_server,
    the_bundle_is_linked_by_content_and_kept_for_good,
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

/// The recorder is process-wide: the two databases' metrics tests take turns with it.
static METRICS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One series of a counter (or a histogram's `_count`) in Prometheus' text format; 0 when it
/// has not been recorded yet.
fn series_value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut wanted: Vec<String> = labels.iter().map(|(key, value)| format!("{key}=\"{value}\"")).collect();
    wanted.sort();
    text.lines()
        .filter_map(|line| line.strip_prefix(name)?.strip_prefix('{')?.split_once("} "))
        .find(|(series, _)| {
            let mut found: Vec<&str> = series.split(',').collect();
            found.sort();
            found == wanted
        })
        .map_or(0.0, |(_, value)| value.trim().parse().expect("a number"))
}

async fn metrics_count_requests_by_route_and_status(db: Db) {
    let _turn = METRICS.lock().await;
    let app = TestApp::new(db).await;
    // No other test in this process looks up a room, so this series moves only here.
    let missing_room = [("method", "GET"), ("route", "/api/rooms/{room_id}"), ("status", "404")];
    let healthy = [("method", "GET"), ("route", "/healthz"), ("status", "200")];
    let (_, before) = app.get("/metrics").await;
    for _ in 0..3 {
        let (status, _) = app.get(&format!("/api/rooms/{}", uuid::Uuid::now_v7())).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    app.get("/healthz").await;
    let (status, after) = app.get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(after.contains("# TYPE http_requests_total counter"), "{after}");
    let delta =
        |name: &str, labels: &[(&str, &str)]| series_value(&after, name, labels) - series_value(&before, name, labels);
    // Counted by route template, never by the raw path with its id.
    assert_eq!(delta("http_requests_total", &missing_room), 3.0, "{after}");
    assert_eq!(delta("http_request_duration_seconds_count", &missing_room), 3.0, "one timing per request: {after}");
    // Other tests may check health at the same time, so at least this one request is counted.
    assert!(delta("http_requests_total", &healthy) >= 1.0, "{after}");
}

async fn request_ids_are_kept_or_generated(db: Db) {
    let app = TestApp::new(db).await;
    let response =
        app.send(Request::get("/healthz").header("x-request-id", "trace-me-42").body(Body::empty()).unwrap()).await;
    assert_eq!(response.headers()["x-request-id"], "trace-me-42");

    let response = app.send(Request::get("/healthz").body(Body::empty()).unwrap()).await;
    let generated = response.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(generated).is_ok(), "a generated UUID, got {generated}");

    // A client-chosen id that is too long or carries other characters is replaced, not echoed.
    for hostile in ["x".repeat(65), "a b".to_owned(), "<script>".to_owned(), "tab\there".to_owned()] {
        let request = Request::get("/healthz").header("x-request-id", hostile.as_str()).body(Body::empty()).unwrap();
        let response = app.send(request).await;
        let echoed = response.headers()["x-request-id"].to_str().unwrap();
        assert!(uuid::Uuid::parse_str(echoed).is_ok(), "{hostile:?} was replaced by a generated id, got {echoed}");
    }
}

async fn unknown_methods_share_one_metrics_label(db: Db) {
    let _turn = METRICS.lock().await;
    let app = TestApp::new(db).await;
    let (_, before) = app.get("/metrics").await;
    for method in ["BREW", "PROPFIND", "X-ANYTHING-1", "X-ANYTHING-2"] {
        let request = Request::builder().method(method).uri("/healthz").body(Body::empty()).unwrap();
        app.send(request).await;
    }
    let (_, after) = app.get("/metrics").await;
    for method in ["BREW", "PROPFIND", "X-ANYTHING-1"] {
        assert!(!after.contains(&format!("method=\"{method}\"")), "{method} became a series: {after}");
    }
    let other = [("method", "OTHER"), ("route", "/healthz"), ("status", "405")];
    let delta =
        series_value(&after, "http_requests_total", &other) - series_value(&before, "http_requests_total", &other);
    assert_eq!(delta, 4.0, "{after}");
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

/// A release build names the bundle's files after their content and lists the hashes in a file
/// beside the binary: pages link those names, and they are cached for a year; plain names are
/// revalidated.
async fn the_bundle_is_linked_by_content_and_kept_for_good(db: Db) {
    let site = tempfile::tempdir().expect("a site folder");
    let pkg = site.path().join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    let (js, wasm, css) = ("Js4Pq_0-aaaaaaaaaaaaaa", "Wasm7Rs-bbbbbbbbbbbbbb", "Css2Tu_ccccccccccccccc");
    for (hash, extension) in [(js, "js"), (wasm, "wasm"), (css, "css")] {
        std::fs::write(pkg.join(format!("ais-chatrooms.{hash}.{extension}")), extension).unwrap();
    }
    std::fs::write(pkg.join("ais-chatrooms.js"), "an unhashed build").unwrap();
    let hash_file = site.path().join("hash.txt");
    std::fs::write(&hash_file, format!("js: {js}\nwasm: {wasm}\ncss: {css}\n")).unwrap();
    let site_root = site.path().display().to_string();
    let hash_file = hash_file.display().to_string();
    let app = TestApp::with_env(db, &[("LEPTOS_SITE_ROOT", &site_root), ("LEPTOS_HASH_FILE_NAME", &hash_file)]).await;

    let (status, html) = app.get("/").await;
    assert_eq!(status, StatusCode::OK);
    for linked in [
        format!("/pkg/ais-chatrooms.{js}.js"),
        format!("/pkg/ais-chatrooms.{wasm}.wasm"),
        format!(r#"<link rel="stylesheet" id="leptos" href="/pkg/ais-chatrooms.{css}.css""#),
    ] {
        assert!(html.contains(&linked), "{linked} in {html}");
    }
    assert!(!html.contains("/pkg/ais-chatrooms.js"), "no plain name is linked: {html}");

    let cache_control = |path: String| {
        let app = &app;
        async move {
            let response = app.send(Request::get(&path).body(Body::empty()).unwrap()).await;
            let value = response.headers().get("cache-control").map(|v| v.to_str().unwrap().to_owned());
            (response.status(), value)
        }
    };
    for (hash, extension) in [(js, "js"), (wasm, "wasm"), (css, "css")] {
        let (status, policy) = cache_control(format!("/pkg/ais-chatrooms.{hash}.{extension}")).await;
        assert_eq!(status, StatusCode::OK, "{extension}");
        assert_eq!(policy.as_deref(), Some("public, max-age=31536000, immutable"), "{extension}");
    }
    let (status, policy) = cache_control("/pkg/ais-chatrooms.js".into()).await;
    assert_eq!((status, policy.as_deref()), (StatusCode::OK, Some("public, no-cache")));
    let (status, policy) = cache_control("/pkg/ais-chatrooms.Gone000000000000000000.js".into()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(policy.as_deref() != Some("public, max-age=31536000, immutable"), "a missing file is not kept: {policy:?}");
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
    eventually(std::time::Duration::from_secs(10), "the server to stop accepting connections", || async {
        client.get(format!("{base}/healthz")).send().await.is_err()
    })
    .await;
}

async fn body_text_len(response: reqwest::Response) -> usize {
    response.text().await.unwrap().len()
}
