//! What keeps other sites from using a visitor's browser against the app, over real loopback
//! HTTP: cross-site refusal, content types, the host allowlist, CORS and the security headers.
//! None of it depends on the database, so these run on SQLite only.

mod common;

use common::{Db, TestApp};
use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};

const EVIL: &str = "https://evil.example";
const FORM: &str = "application/x-www-form-urlencoded";

/// An app on a loopback port, with a person signed in through the browser's way (a cookie).
struct Site {
    app: TestApp,
    base: String,
    cookie: String,
    client: Client,
}

impl Site {
    async fn new(vars: &[(&str, &str)]) -> Self {
        let app = TestApp::with_env(Db::Sqlite, vars).await;
        let base = app.spawn().await;
        let client = Client::new();
        let signup = json!({"email": "bea@example.com", "password": "correct horse battery", "name": "Bea"});
        let response = client
            .post(format!("{base}/api/auth/signup"))
            .header("sec-fetch-site", "same-origin")
            .json(&signup)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "sign-up");
        let cookie = response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        assert!(cookie.starts_with("ais_session="), "{cookie}");
        Site { app, base, cookie, client }
    }

    /// A request as the signed-in person's browser sends it, with the given fetch metadata.
    fn browser(&self, method: Method, path: &str, headers: &[(&str, &str)]) -> RequestBuilder {
        let mut request = self.client.request(method, format!("{}{path}", self.base)).header("cookie", &self.cookie);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request
    }

    /// The admin's script, with its API token.
    fn script(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base)).bearer_auth(&self.app.token)
    }

    async fn room_names(&self) -> Vec<String> {
        let rooms: Value = self.script(Method::GET, "/api/rooms").send().await.unwrap().json().await.unwrap();
        let mut names: Vec<String> =
            rooms.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().into()).collect();
        names.sort();
        names
    }
}

async fn error_of(response: Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("a JSON error body");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    (status, body["error"]["code"].as_str().unwrap().to_owned())
}

fn room(name: &str) -> String {
    json!({"name": name, "visibility": "public"}).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_changing_requests_a_browser_sends_for_another_site_are_refused() {
    let site = Site::new(&[]).await;
    let own_origin = site.base.clone();
    let json = (CONTENT_TYPE.as_str(), "application/json");

    // The signed-in person's cookie rides along, but the browser says another site asked.
    for headers in [
        vec![json, ("sec-fetch-site", "cross-site"), ("origin", EVIL)],
        vec![json, ("sec-fetch-site", "same-site"), ("origin", "https://sibling.127.0.0.1.nip.example")],
        // An older browser without fetch metadata: the Origin decides.
        vec![json, ("origin", EVIL)],
        vec![json, ("origin", "null")],
    ] {
        let response = site.browser(Method::POST, "/api/rooms", &headers).body(room("Forged")).send().await.unwrap();
        assert_eq!(error_of(response).await, (403, "CROSS_SITE".to_owned()), "{headers:?}");
    }
    for method in [Method::PUT, Method::PATCH, Method::DELETE] {
        let response = site
            .browser(
                method.clone(),
                "/api/tokens/00000000-0000-4000-8000-000000000000",
                &[("sec-fetch-site", "cross-site")],
            )
            .send()
            .await
            .unwrap();
        assert_eq!(error_of(response).await, (403, "CROSS_SITE".to_owned()), "{method}");
    }
    // A form another site posts to a server function, and a forged sign-out.
    let forged_form = site
        .browser(Method::POST, "/api/fn/rooms/create", &[(CONTENT_TYPE.as_str(), FORM), ("origin", EVIL)])
        .body("name=Forged+form")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(forged_form).await, (403, "CROSS_SITE".to_owned()));
    let logout =
        site.browser(Method::POST, "/api/auth/logout", &[("sec-fetch-site", "cross-site")]).send().await.unwrap();
    assert_eq!(error_of(logout).await, (403, "CROSS_SITE".to_owned()));
    assert!(site.room_names().await.is_empty(), "nothing was created");

    // The app's own pages: by fetch metadata, or by Origin alone.
    let own =
        [vec![json, ("sec-fetch-site", "same-origin"), ("origin", &own_origin)], vec![json, ("origin", &own_origin)]];
    for (index, headers) in own.iter().enumerate() {
        let response =
            site.browser(Method::POST, "/api/rooms", headers).body(room(&format!("Own {index}"))).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "{headers:?}");
    }
    let form = site
        .browser(
            Method::POST,
            "/api/fn/rooms/create",
            &[(CONTENT_TYPE.as_str(), FORM), ("sec-fetch-site", "same-origin")],
        )
        .body("name=Own+form")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::OK, "{}", form.text().await.unwrap());
    // Reading is never refused for where it comes from; the session survived the forged sign-out.
    let me = site.browser(Method::GET, "/api/auth/me", &[("sec-fetch-site", "cross-site")]).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK);

    // A script with a token is not a browser acting for another site.
    let scripted = site
        .script(Method::POST, "/api/rooms")
        .header("sec-fetch-site", "cross-site")
        .header("origin", EVIL)
        .header(CONTENT_TYPE, "application/json")
        .body(room("Scripted"))
        .send()
        .await
        .unwrap();
    assert_eq!(scripted.status(), StatusCode::CREATED);
    assert_eq!(site.room_names().await, ["Own 0", "Own 1", "Own form", "Scripted"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_control_plane_call_is_refused_before_the_gateway_logs_anything() {
    let site = Site::new(&[]).await;
    let bea = site.app.state.services.store.find_user_by_email("bea@example.com").await.unwrap().unwrap();
    site.app.state.services.store.set_user_role(bea.id, domain::accounts::Role::Operator).await.unwrap();
    let preview = json!({"raw_input": "liam check status", "channel": "web", "session_id": uuid::Uuid::new_v4()});
    let forged = site
        .browser(Method::POST, "/api/v1/chat/preview", &[("sec-fetch-site", "cross-site"), ("origin", EVIL)])
        .json(&preview)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(forged).await, (403, "CROSS_SITE".to_owned()));
    let telemetry = site.app.gateway_root.path().join("observability/telemetry/gateway.jsonl");
    assert_eq!(std::fs::read_to_string(&telemetry).unwrap_or_default(), "", "no line for a forged call");

    let own = site.browser(Method::POST, "/api/v1/chat/preview", &[("sec-fetch-site", "same-origin")]).json(&preview);
    let own = own.send().await.unwrap();
    assert_eq!(own.status(), StatusCode::OK, "{}", own.text().await.unwrap());
    let lines = std::fs::read_to_string(&telemetry).unwrap();
    let line: Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert_eq!(line["user_id"], bea.id.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_endpoints_take_only_json_and_form_server_functions_keep_taking_forms() {
    let site = Site::new(&[]).await;
    let own = ("sec-fetch-site", "same-origin");
    let created = site
        .browser(Method::POST, "/api/rooms", &[own, (CONTENT_TYPE.as_str(), "application/json")])
        .body(room("Typed"))
        .send()
        .await
        .unwrap();
    let room_id = created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let message = json!({"room_id": room_id, "content": "hello"}).to_string();

    for content_type in ["text/plain", FORM, "multipart/form-data; boundary=x"] {
        let rest = site
            .browser(Method::POST, "/api/rooms", &[own, (CONTENT_TYPE.as_str(), content_type)])
            .body(room("Untyped"))
            .send()
            .await
            .unwrap();
        assert_eq!(error_of(rest).await, (415, "MALFORMED_JSON".to_owned()), "REST, {content_type}");
        let server_fn = site
            .browser(Method::POST, "/api/fn/rooms/post", &[own, (CONTENT_TYPE.as_str(), content_type)])
            .body(message.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(error_of(server_fn).await, (415, "MALFORMED_JSON".to_owned()), "server fn, {content_type}");
        let control_plane = site
            .script(Method::POST, "/api/v1/chat/preview")
            .header(CONTENT_TYPE, content_type)
            .body(json!({"raw_input": "show inbox", "channel": "web", "session_id": uuid::Uuid::new_v4()}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(error_of(control_plane).await, (415, "MALFORMED_JSON".to_owned()), "control plane, {content_type}");
    }
    let untyped = site.browser(Method::POST, "/api/fn/rooms/post", &[own]).body(message.clone()).send().await.unwrap();
    assert_eq!(error_of(untyped).await, (415, "MALFORMED_JSON".to_owned()));
    let json_to_a_form_function = site
        .browser(Method::POST, "/api/fn/rooms/create", &[own, (CONTENT_TYPE.as_str(), "application/json")])
        .body(r#"{"name": "Json"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(json_to_a_form_function).await.0, 415);
    assert_eq!(site.room_names().await, ["Typed"]);

    // Each server function in its own encoding works.
    let sent = site
        .browser(Method::POST, "/api/fn/rooms/post", &[own, (CONTENT_TYPE.as_str(), "application/json")])
        .body(message)
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::OK, "{}", sent.text().await.unwrap());
    let form = site
        .browser(
            Method::POST,
            "/api/fn/rooms/create",
            &[own, (CONTENT_TYPE.as_str(), "application/x-www-form-urlencoded; charset=UTF-8")],
        )
        .body("name=Form")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::OK, "{}", form.text().await.unwrap());
    assert_eq!(site.room_names().await, ["Form", "Typed"]);
}

#[test]
fn every_server_function_declares_its_encoding() {
    // Registering happens when the app is linked in; building the app's routes makes sure.
    let listed: std::collections::HashSet<&str> =
        app::server_fns::argument_content_types().into_iter().map(|(path, _)| path).collect();
    let registered: Vec<(&str, http::Method)> = leptos::server_fn::axum::server_fn_paths().collect();
    assert!(!registered.is_empty());
    for (path, _) in registered {
        assert!(listed.contains(path), "{path} is missing from app::server_fns::argument_content_types");
    }
}

async fn get_with_host(client: &Client, base: &str, path: &str, host: &str) -> Response {
    client.get(format!("{base}{path}")).header("host", host).send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_allowed_hosts_are_answered() {
    let app = TestApp::new(Db::Sqlite).await;
    let base = app.spawn().await;
    let port = base.rsplit(':').next().unwrap();
    let client = Client::new();
    for host in ["evil.example".to_owned(), format!("rebound.evil.example:{port}"), format!("10.1.2.3:{port}")] {
        for path in ["/", "/api/rooms", "/metrics", "/pkg/ais-chatrooms.js"] {
            let response = get_with_host(&client, &base, path, &host).await;
            assert_eq!(error_of(response).await, (421, "HOST_NOT_ALLOWED".to_owned()), "{host}{path}");
        }
        // Probes answer under any name: load balancers address them by IP.
        for probe in ["/healthz", "/readyz"] {
            assert_eq!(get_with_host(&client, &base, probe, &host).await.status(), StatusCode::OK, "{probe}");
        }
    }
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}"), "LOCALHOST".to_owned()] {
        assert_eq!(get_with_host(&client, &base, "/", &host).await.status(), StatusCode::OK, "{host}");
    }

    let app = TestApp::with_env(Db::Sqlite, &[("ALLOWED_HOSTS", "chat.example.com,.internal.example")]).await;
    let base = app.spawn().await;
    for (host, allowed) in [("chat.example.com", true), ("a.internal.example", true), ("localhost", false)] {
        let status = get_with_host(&client, &base, "/healthz", host).await.status();
        assert_eq!(status, StatusCode::OK);
        let status = get_with_host(&client, &base, "/api/auth/me", host).await.status();
        assert_eq!(status != StatusCode::MISDIRECTED_REQUEST, allowed, "{host}: {status}");
    }
}

fn cors_headers(headers: &HeaderMap) -> Vec<String> {
    headers.keys().filter(|name| name.as_str().starts_with("access-control-")).map(|name| name.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_is_off_by_default_and_on_for_listed_origins() {
    let dash = "https://dash.example.com";
    let preflight = |site: &Site, origin: &str| {
        site.client
            .request(Method::OPTIONS, format!("{}/api/rooms", site.base))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
    };

    let closed = Site::new(&[]).await;
    let response = preflight(&closed, dash).send().await.unwrap();
    assert!(cors_headers(response.headers()).is_empty(), "{:?}", response.headers());
    let read = closed.browser(Method::GET, "/api/rooms", &[("origin", dash), ("sec-fetch-site", "cross-site")]);
    assert!(cors_headers(read.send().await.unwrap().headers()).is_empty());

    let open = Site::new(&[("CORS_ALLOWED_ORIGINS", dash)]).await;
    let response = preflight(&open, dash).send().await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let headers = response.headers();
    assert_eq!(headers["access-control-allow-origin"], dash);
    assert_eq!(headers["access-control-allow-credentials"], "true");
    assert!(headers["access-control-allow-methods"].to_str().unwrap().contains("POST"));
    assert!(headers["access-control-allow-headers"].to_str().unwrap().contains("content-type"));

    // The listed site's page posts with the visitor's cookie, and may read the answer.
    let posted = open
        .browser(Method::POST, "/api/rooms", &[("origin", dash), ("sec-fetch-site", "cross-site")])
        .header(CONTENT_TYPE, "application/json")
        .body(room("From the dashboard"))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::CREATED);
    assert_eq!(posted.headers()["access-control-allow-origin"], dash);
    assert_eq!(posted.headers()["access-control-allow-credentials"], "true");

    // Any other site gets no CORS headers and no writes; nor may the listed one call the pages'
    // own server functions.
    let response = preflight(&open, EVIL).send().await.unwrap();
    assert!(!response.headers().contains_key("access-control-allow-origin"));
    let forged = open
        .browser(Method::POST, "/api/rooms", &[("origin", EVIL), ("sec-fetch-site", "cross-site")])
        .header(CONTENT_TYPE, "application/json")
        .body(room("Forged"))
        .send()
        .await
        .unwrap();
    assert!(!forged.headers().contains_key("access-control-allow-origin"));
    assert_eq!(error_of(forged).await, (403, "CROSS_SITE".to_owned()));
    let server_fn = open
        .browser(Method::POST, "/api/fn/rooms/create", &[("origin", dash), ("sec-fetch-site", "cross-site")])
        .header(CONTENT_TYPE, FORM)
        .body("name=Sideways")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(server_fn).await, (403, "CROSS_SITE".to_owned()));
    assert_eq!(open.room_names().await, ["From the dashboard"]);
}

/// The script nonce a Content-Security-Policy allows.
fn nonce_of(csp: &str) -> String {
    let start = csp.find("'nonce-").expect("a nonce") + "'nonce-".len();
    csp[start..].split('\'').next().unwrap().to_owned()
}

fn assert_security_headers(what: &str, headers: &HeaderMap) {
    let csp = headers.get("content-security-policy").unwrap_or_else(|| panic!("{what}: no CSP")).to_str().unwrap();
    for directive in ["default-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"] {
        assert!(csp.contains(directive), "{what}: {csp}");
    }
    assert!(!csp.contains("'unsafe-inline'") && !csp.contains("'unsafe-eval'"), "{what}: {csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(headers["referrer-policy"], "same-origin", "{what}");
    assert_eq!(headers["x-frame-options"], "DENY", "{what}");
    assert!(headers.contains_key("permissions-policy"), "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_the_security_headers_and_pages_use_their_nonce() {
    let site = Site::new(&[]).await;
    let room_id = {
        let created = site.script(Method::POST, "/api/rooms").json(&json!({"name": "Headers"})).send().await.unwrap();
        created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
    };
    let mut nonces = Vec::new();
    for path in ["/", "/rooms", &format!("/rooms/{room_id}"), "/control-plane", "/no-such-page"] {
        let response = site.browser(Method::GET, path, &[]).send().await.unwrap();
        let headers = response.headers().clone();
        assert_security_headers(path, &headers);
        assert!(!headers.contains_key("strict-transport-security"), "not over plain http");
        let nonce = nonce_of(headers["content-security-policy"].to_str().unwrap());
        let html = response.text().await.unwrap();
        // Every inline script of the page carries the response's nonce, and no other.
        let scripts = html.matches("<script").count();
        assert!(scripts > 0, "{path}: the hydration script");
        assert_eq!(html.matches(&format!("<script type=\"module\" nonce=\"{nonce}\"")).count(), 1, "{path}: {html}");
        assert_eq!(html.matches(&format!("nonce=\"{nonce}\"")).count(), html.matches("nonce=\"").count(), "{path}");
        assert!(!html.contains(" style=\""), "{path}: no inline style attributes");
        nonces.push(nonce);
    }
    nonces.sort();
    nonces.dedup();
    assert_eq!(nonces.len(), 5, "a new nonce for every response");

    // The API, its errors, probes and static files carry them too.
    let api = site.script(Method::GET, "/api/rooms").send().await.unwrap();
    assert_security_headers("/api/rooms", api.headers());
    let missing = site.script(Method::GET, "/api/nothing-here").send().await.unwrap();
    assert_security_headers("/api/nothing-here", missing.headers());
    let refused = site.browser(Method::POST, "/api/rooms", &[("sec-fetch-site", "cross-site")]).send().await.unwrap();
    assert_security_headers("a refusal", refused.headers());
    let probe = site.client.get(format!("{}/healthz", site.base)).send().await.unwrap();
    assert_security_headers("/healthz", probe.headers());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_https_address_adds_strict_transport_security() {
    let app = TestApp::with_env(Db::Sqlite, &[("PUBLIC_URL", "https://chat.example.com")]).await;
    let base = app.spawn().await;
    let response = Client::new().get(format!("{base}/")).send().await.unwrap();
    assert_eq!(response.headers()["strict-transport-security"], "max-age=31536000");
    assert_security_headers("/", response.headers());
}
