//! Shared helpers for the server's integration tests: a fresh database per test on either
//! backend, the router driven in-process, and a real server on a loopback port.
#![allow(dead_code)]

pub mod process;

use axum::body::Body;
use axum::Router;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use server::{AppState, Config};
use settings::Env;
use storage::testing::TestDatabase;
use tower::ServiceExt;

pub struct TestApp {
    pub state: AppState,
    pub router: Router,
    _database: TestDatabase,
    /// The control plane's folder for this test.
    pub gateway_root: tempfile::TempDir,
    /// A personal API token of the first account, an admin named [`ADMIN_NAME`]; requests
    /// carry it unless they name another caller.
    pub token: String,
}

/// The name of the admin every test app starts with.
pub const ADMIN_NAME: &str = "Ada Admin";

/// A personal API token for a new account on `services`, with the given global role.
pub async fn person(services: &services::Services, name: &str, role: domain::accounts::Role) -> String {
    let signup = domain::accounts::Signup {
        email: format!("{}@example.com", name.to_lowercase().replace(' ', ".")),
        password: "correct horse battery".into(),
        name: name.into(),
    };
    let user = services::accounts::signup(services, signup).await.expect("an account");
    if user.role != role {
        services.store.set_user_role(user.id, role).await.expect("a role");
    }
    let principal = services::Principal { role, ..services::Principal::from(&user) };
    let actor = services::Actor::Person(principal);
    let token = services::accounts::create_token(services, &actor, domain::accounts::NewToken { name: "tests".into() })
        .await
        .expect("a token");
    token.secret
}

#[derive(Clone, Copy, Debug)]
pub enum Db {
    Sqlite,
    Postgres,
}

impl TestApp {
    pub async fn new(db: Db) -> Self {
        Self::with_env(db, &[]).await
    }

    /// An app on a fresh database, with extra configuration variables.
    pub async fn with_env(db: Db, vars: &[(&str, &str)]) -> Self {
        let mut app = Self::without_accounts_with_env(db, vars).await;
        app.token = person(&app.state.services, ADMIN_NAME, domain::accounts::Role::Admin).await;
        app
    }

    /// An app on a fresh database where nobody has an account yet; requests go as guests until
    /// one is made.
    pub async fn without_accounts(db: Db) -> Self {
        Self::without_accounts_with_env(db, &[]).await
    }

    async fn without_accounts_with_env(db: Db, vars: &[(&str, &str)]) -> Self {
        let database = match db {
            Db::Sqlite => storage::testing::fresh_sqlite().await,
            Db::Postgres => storage::testing::fresh_postgres().await,
        };
        let gateway_root = tempfile::tempdir().expect("a temporary control-plane folder");
        let mut all: Vec<(String, String)> = vec![
            ("DATABASE_URL".into(), database.url.clone()),
            ("LEPTOS_SITE_ADDR".into(), "127.0.0.1:0".into()),
            ("GATEWAY_ROOT".into(), gateway_root.path().display().to_string()),
        ];
        all.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let config = Config::from_env(&Env::from_pairs(&all)).expect("test configuration");
        let state = server::assemble(config, database.store.clone()).await.expect("test state");
        // No rate-limit allowance refills while a test runs, however slowly it runs.
        state.services.rate_clock.pause();
        let router = server::app(state.clone());
        TestApp { state, router, _database: database, gateway_root, token: String::new() }
    }

    /// Sends the request as the app's admin unless it already says who it comes from.
    pub async fn send(&self, mut request: Request<Body>) -> Response<Body> {
        let unsigned = !request.headers().contains_key("authorization") && !request.headers().contains_key("cookie");
        if unsigned && !self.token.is_empty() {
            request.headers_mut().insert("authorization", format!("Bearer {}", self.token).parse().unwrap());
        }
        self.send_as_is(request).await
    }

    /// Sends the request exactly as it is, so without credentials it comes from a guest.
    pub async fn send_as_is(&self, request: Request<Body>) -> Response<Body> {
        self.router.clone().oneshot(request).await.expect("the router never fails")
    }

    pub async fn get(&self, uri: &str) -> (StatusCode, String) {
        let response = self.send(Request::get(uri).body(Body::empty()).unwrap()).await;
        let status = response.status();
        (status, body_text(response).await)
    }

    /// Opens a page as a browser does (asking for HTML), with `headers` such as
    /// `("cookie", "ais_session=…")` or `("authorization", "Bearer …")`; without, as a guest.
    pub async fn browse(&self, uri: &str, headers: &[(&str, &str)]) -> (StatusCode, http::HeaderMap, String) {
        let mut request = Request::get(uri).header("accept", "text/html,application/xhtml+xml");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self.send_as_is(request.body(Body::empty()).unwrap()).await;
        let (status, headers) = (response.status(), response.headers().clone());
        (status, headers, body_text(response).await)
    }

    /// Posts a form as a browser does without JavaScript.
    pub async fn post_form(
        &self,
        uri: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> (StatusCode, http::HeaderMap, String) {
        let body = form.iter().map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v))).collect::<Vec<_>>().join("&");
        let mut request = Request::post(uri)
            .header("accept", "text/html,application/xhtml+xml")
            .header("content-type", "application/x-www-form-urlencoded");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self.send_as_is(request.body(Body::from(body)).unwrap()).await;
        let (status, headers) = (response.status(), response.headers().clone());
        (status, headers, body_text(response).await)
    }

    pub async fn get_json(&self, uri: &str) -> (StatusCode, Value) {
        let (status, text) = self.get(uri).await;
        (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("{uri} answered non-JSON ({e}): {text}")))
    }

    pub async fn send_json(&self, method: &str, uri: &str, body: &str) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap();
        let response = self.send(request).await;
        let status = response.status();
        let text = body_text(response).await;
        (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("{uri} answered non-JSON ({e}): {text}")))
    }

    /// Serves the app on a free loopback port; returns its base URL.
    pub async fn spawn(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = self.router.clone();
        let shutdown = self.state.services.shutdown.clone();
        let (limits, grace) = (self.state.config.connection_limits, self.state.config.shutdown_grace);
        // Served as the server binary serves: the same connection limits and timeouts.
        tokio::spawn(server::serving::serve_connections(listener, router, limits, shutdown, grace));
        format!("http://{addr}")
    }
}

/// Waits until `check` holds, polling every 20 ms, or panics after `timeout`.
pub async fn eventually<F, Fut>(timeout: std::time::Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        if std::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A live-stream client over real HTTP, signed in with `token`: yields parsed SSE events.
pub async fn sse_connect(
    token: &str,
    url: &str,
    last_event_id: Option<&str>,
) -> impl futures::Stream<Item = eventsource_stream::Event> + Unpin {
    use futures::StreamExt;
    sse_connect_fallible(token, url, last_event_id).await.map(|e| e.expect("a well-formed event"))
}

/// [`sse_connect`], yielding the transport's failures (a server killed mid-stream) as errors.
pub async fn sse_connect_fallible(
    token: &str,
    url: &str,
    last_event_id: Option<&str>,
) -> impl futures::Stream<Item = Result<eventsource_stream::Event, String>> + Unpin {
    use eventsource_stream::Eventsource;
    use futures::StreamExt;
    let mut request = reqwest::Client::new().get(url).header("accept", "text/event-stream").bearer_auth(token);
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    let response = request.send().await.expect("connect to the stream");
    assert_eq!(response.status(), 200, "stream status");
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    Box::pin(response.bytes_stream().eventsource().map(|e| e.map_err(|error| error.to_string())))
}

/// Creates an account on a server reached over HTTP, as a browser would (the session cookie),
/// then a personal API token with that session; returns the token.
pub async fn sign_up_over_http(base: &str, name: &str) -> String {
    let client = reqwest::Client::new();
    let email = format!("{}@example.com", name.to_lowercase().replace(' ', "."));
    let signup = serde_json::json!({"email": email, "password": "correct horse battery", "name": name});
    let response = client.post(format!("{base}/api/auth/signup")).json(&signup).send().await.unwrap();
    assert_eq!(response.status(), 201, "sign-up");
    let cookie = response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let token: Value = client
        .post(format!("{base}/api/tokens"))
        .header("cookie", cookie)
        .json(&serde_json::json!({"name": "tests"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    token["secret"].as_str().expect("a token").to_owned()
}

/// An HTTP client that sends `token` with every request.
pub fn client_with_token(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
    reqwest::Client::builder().default_headers(headers).build().unwrap()
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The `name=value` of the cookie `name` a response sets, ready for a `cookie` header.
pub fn set_cookie(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|pair| pair.starts_with(&format!("{name}=")) && pair.len() > name.len() + 1)
        .map(str::to_owned)
}

pub async fn body_text(response: Response<Body>) -> String {
    let bytes = response.into_body().collect().await.expect("read the body").to_bytes();
    String::from_utf8(bytes.to_vec()).expect("a UTF-8 body")
}

/// Asserts the API's error shape and code.
pub fn assert_error(status: StatusCode, body: &Value, expected_status: u16, code: &str) {
    assert_eq!(status.as_u16(), expected_status, "unexpected status; body: {body}");
    assert_eq!(body["error"]["code"], code, "unexpected code; body: {body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "a human message; body: {body}");
}

/// Declares each test twice: on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both_databases {
    ($($test:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() { super::$test($crate::common::Db::Sqlite).await; }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() { super::$test($crate::common::Db::Postgres).await; }
            )+
        }
    };
}
