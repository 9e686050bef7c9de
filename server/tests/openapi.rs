//! The published contract: `GET /api/openapi.json` is an OpenAPI 3.1 document of every REST
//! route, built from the handlers themselves, and `/api/docs` browses it with files compiled into
//! the server. That no route escapes the document is checked in `authorization_matrix.rs`, which
//! takes its list of routes from this document.

mod common;

use common::{Db, TestApp};
use http::StatusCode;
use serde_json::Value;

on_both_databases!(the_document_describes_every_route, the_page_browses_it_without_fetching_anything);

async fn the_document_describes_every_route(db: Db) {
    let app = TestApp::new(db).await;
    let (status, document) = app.get_json("/api/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().unwrap();
    for (method, path) in [
        ("get", "/api/rooms"),
        ("post", "/api/rooms/{room_id}/messages"),
        ("get", "/api/rooms/{room_id}/stream"),
        ("post", "/api/auth/signup"),
        ("delete", "/api/tokens/{token_id}"),
        ("post", "/api/v1/chat/preview"),
        ("get", "/api/v1/chat/watch/{task_id}"),
        ("delete", "/api/v1/chat/session/{session_id}"),
        ("get", "/api/v1/chat/telemetry/anchor"),
        ("get", "/readyz"),
        ("get", "/metrics"),
    ] {
        assert!(paths.get(path).and_then(|item| item.get(method)).is_some(), "{method} {path} is described");
    }
    // The document is the same one the code builds.
    let built = serde_json::to_value(server::http::contract()).unwrap();
    assert_eq!(document["paths"], built["paths"]);

    // Every operation says what it answers on success and how it refuses, and every schema it
    // names is in the document.
    let schemas = document["components"]["schemas"].as_object().unwrap();
    let text = document.to_string();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(schemas.contains_key(name), "{name} is referenced but not described");
    }
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap_or_else(|| panic!("{method} {path}"));
            assert!(responses.keys().any(|status| status.starts_with('2')), "{method} {path} has a success");
            if path.starts_with("/api/") {
                let refusal = &responses["422"]["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(refusal, "#/components/schemas/ErrorBody", "{method} {path} describes its refusals");
            }
        }
    }
    // The wire spellings of enums are the ones the API sends.
    assert_eq!(schemas["Role"]["enum"], serde_json::json!(["admin", "operator", "user"]));
    assert!(schemas["ErrorCode"]["enum"].as_array().unwrap().contains(&Value::from("STORAGE_UNAVAILABLE")));
    // Two ways to sign in.
    let schemes = document["components"]["securitySchemes"].as_object().unwrap();
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["session_cookie"]["in"], "cookie");
}

async fn the_page_browses_it_without_fetching_anything(db: Db) {
    let app = TestApp::new(db).await;
    let (status, page) = app.get("/api/docs/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("swagger-ui"), "{page}");
    // Every script and stylesheet the page loads is served by this server.
    for asset in ["swagger-ui.css", "swagger-ui-bundle.js", "swagger-initializer.js"] {
        assert!(page.contains(asset), "{asset} in {page}");
        let (status, body) = app.get(&format!("/api/docs/{asset}")).await;
        assert_eq!(status, StatusCode::OK, "{asset}");
        assert!(body.len() > 100, "{asset} has content");
    }
    assert!(!page.contains("http://") && !page.contains("https://"), "nothing is loaded from elsewhere: {page}");
    // Its own policy: inline styles (the page's script sets them), scripts only from here.
    let (_, headers, _) = app.browse("/api/docs/", &[]).await;
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("script-src 'self';") && policy.contains("style-src 'self' 'unsafe-inline'"), "{policy}");
    let (_, headers, _) = app.browse("/rooms", &[]).await;
    assert!(!headers["content-security-policy"].to_str().unwrap().contains("unsafe-inline"), "only the docs page");
    let (_, initializer) = app.get("/api/docs/swagger-initializer.js").await;
    assert!(initializer.contains("/api/openapi.json"), "{initializer}");
    // The accessible set-up: the base layout, no deep links, and the page's own colours.
    assert!(initializer.contains("\"deepLinking\": false") && initializer.contains("BaseLayout"), "{initializer}");
    assert!(page.contains("index.css"), "{page}");
    let (status, headers, css) = app.browse("/api/docs/index.css", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/css; charset=utf-8");
    assert!(css.contains(".opblock.opblock-get .opblock-summary-method { background: #0b5cad; }"), "{css}");
}
