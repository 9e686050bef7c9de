//! Shared helpers for the server's integration tests: a fresh database per test on either
//! backend, the router driven in-process, and a real server on a loopback port.
#![allow(dead_code)]

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
        let state = server::assemble(config, database.store.clone()).expect("test state");
        let router = server::app(state.clone());
        TestApp { state, router, _database: database, gateway_root }
    }

    pub async fn send(&self, request: Request<Body>) -> Response<Body> {
        self.router.clone().oneshot(request).await.expect("the router never fails")
    }

    pub async fn get(&self, uri: &str) -> (StatusCode, String) {
        let response = self.send(Request::get(uri).body(Body::empty()).unwrap()).await;
        let status = response.status();
        (status, body_text(response).await)
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
        tokio::spawn(async move {
            axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>())
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await
                .unwrap();
        });
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

/// A live-stream client over real HTTP: yields parsed SSE events.
pub async fn sse_connect(
    url: &str,
    last_event_id: Option<&str>,
) -> impl futures::Stream<Item = eventsource_stream::Event> + Unpin {
    use eventsource_stream::Eventsource;
    use futures::StreamExt;
    let mut request = reqwest::Client::new().get(url).header("accept", "text/event-stream");
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    let response = request.send().await.expect("connect to the stream");
    assert_eq!(response.status(), 200, "stream status");
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    Box::pin(response.bytes_stream().eventsource().map(|e| e.expect("a well-formed event")))
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
