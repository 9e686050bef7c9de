//! Shared helpers for the gateway's integration tests: a gateway on a temporary root, driven
//! through its router in-process or served on a loopback port.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::middleware::Next;
use axum::Router;
use gateway::{Gateway, GatewayConfig, ManualClock, Operator, RateLimit};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tempfile::TempDir;
use tower::ServiceExt;

pub struct TestGateway {
    /// A temporary folder, the root unless the configuration names another.
    pub dir: TempDir,
    /// The gateway's (canonical) root.
    pub root: PathBuf,
    pub gateway: Arc<Gateway>,
    /// The gateway's routes behind a stand-in for the server's sign-in: every request comes from
    /// [`OPERATOR`], or from the person its [`OPERATOR_HEADER`] names.
    pub router: Router,
    /// The gateway's routes as they are, with nobody signed in.
    pub bare_router: Router,
    /// The gateway's clock: it stands still until a test advances it, so lifetimes and rate
    /// limits do not depend on how fast the test runs.
    pub clock: Arc<ManualClock>,
}

/// Every folder (as `None`) and file (with its bytes) under a root, by relative path.
pub type Tree = BTreeMap<String, Option<Vec<u8>>>;

/// The gateway's own log, which every request appends to.
pub const GATEWAY_LOG: &str = "observability/telemetry/gateway.jsonl";

/// The person requests come from unless they name another.
pub const OPERATOR: uuid::Uuid = uuid::Uuid::from_u128(0x0ada);
/// Names the person a test request comes from: the server decides this by signing people in.
pub const OPERATOR_HEADER: &str = "x-test-operator";

/// Puts the request's person where the server's authorization would.
async fn as_operator(mut request: Request<Body>, next: Next) -> axum::response::Response {
    let named = request.headers().get(OPERATOR_HEADER).and_then(|value| value.to_str().ok());
    let user_id = named.map_or(OPERATOR, |value| value.parse().expect("a user id in the test header"));
    request.extensions_mut().insert(Operator::new(user_id));
    next.run(request).await
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

/// Limits high enough that tests which do not test them never meet them.
pub fn relaxed(root: &Path) -> GatewayConfig {
    GatewayConfig {
        session_rate: RateLimit::new(100_000, 100_000),
        address_rate: RateLimit::new(100_000, 100_000),
        ..GatewayConfig::with_root(root)
    }
}

impl TestGateway {
    pub fn new() -> Self {
        Self::with(relaxed)
    }

    /// A gateway whose configuration `configure` builds from the temporary root.
    pub fn with(configure: impl FnOnce(&Path) -> GatewayConfig) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let clock = Arc::new(ManualClock::new());
        let gateway = Arc::new(Gateway::with_clock(configure(dir.path()), clock.clone()).expect("a gateway"));
        let bare_router = gateway::router::<Arc<Gateway>>().with_state(gateway.clone());
        let router = bare_router.clone().layer(axum::middleware::from_fn(as_operator));
        let root = gateway.root().to_owned();
        Self { dir, root, gateway, router, bare_router, clock }
    }

    pub fn root(&self) -> PathBuf {
        self.root.clone()
    }

    pub fn telemetry_path(&self) -> PathBuf {
        self.root.join(GATEWAY_LOG)
    }

    pub fn telemetry_lines(&self) -> Vec<Value> {
        read_json_lines(&self.telemetry_path())
    }

    /// Files in a folder under the root, by name. The gateway makes its folders at start-up, so a
    /// missing one is a failure, not an empty folder.
    pub fn files_in(&self, relative: &str) -> Vec<String> {
        let entries = std::fs::read_dir(self.root.join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"));
        let mut names: Vec<String> = entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    /// Everything under the root now.
    pub fn tree(&self) -> Tree {
        tree(&self.root)
    }

    /// Asserts that nothing under the root was created, changed or removed since `before`, except
    /// lines appended to the gateway's log.
    pub fn assert_nothing_written_since(&self, before: &Tree) {
        let (mut before, mut after) = (before.clone(), self.tree());
        let logged_before = before.remove(GATEWAY_LOG).flatten().unwrap_or_default();
        let logged_after = after.remove(GATEWAY_LOG).flatten().unwrap_or_default();
        assert!(logged_after.starts_with(&logged_before), "the gateway's log was rewritten, not appended to");
        let changed: BTreeSet<&String> =
            before.keys().chain(after.keys()).filter(|path| before.get(*path) != after.get(*path)).collect();
        assert!(changed.is_empty(), "written under the root: {changed:?}");
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        into_reply(self.router.clone().oneshot(request).await.expect("the router never fails")).await
    }

    /// Sends the request as `user`.
    pub async fn send_as(&self, user: uuid::Uuid, mut request: Request<Body>) -> Reply {
        request.headers_mut().insert(OPERATOR_HEADER, user.to_string().parse().unwrap());
        self.send(request).await
    }

    /// Sends a request as if from `client`.
    pub async fn send_from(&self, client: SocketAddr, request: Request<Body>) -> Reply {
        let router = self.router.clone().layer(MockConnectInfo(client));
        into_reply(router.oneshot(request).await.expect("the router never fails")).await
    }

    pub async fn post(&self, uri: &str, body: Value) -> Reply {
        self.send(json_request(uri, &body.to_string())).await
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.send(Request::get(uri).body(Body::empty()).unwrap()).await
    }

    pub async fn preview(&self, session: &str, raw_input: &str) -> Reply {
        self.post("/api/v1/chat/preview", json!({"raw_input": raw_input, "channel": "terminal", "session_id": session}))
            .await
    }

    /// Previews and asserts success; returns the preview.
    pub async fn preview_ok(&self, session: &str, raw_input: &str) -> Value {
        let reply = self.preview(session, raw_input).await;
        assert_eq!(reply.status, StatusCode::OK, "preview of {raw_input:?}: {}", reply.body);
        reply.body
    }

    pub async fn confirm(&self, session: &str, preview_id: &str) -> Reply {
        self.post("/api/v1/chat/confirm", json!({"preview_id": preview_id, "session_id": session})).await
    }

    pub async fn watch(&self, session: &str, task_id: &str) -> Reply {
        self.get(&format!("/api/v1/chat/watch/{task_id}?session_id={session}")).await
    }

    /// Previews and confirms; returns the confirm's body.
    pub async fn create_task(&self, session: &str, raw_input: &str) -> Value {
        let preview = self.preview_ok(session, raw_input).await;
        let reply = self.confirm(session, preview["preview_id"].as_str().unwrap()).await;
        assert_eq!(reply.status, StatusCode::OK, "confirm of {raw_input:?}: {}", reply.body);
        reply.body
    }

    /// Serves the router on a free loopback port with client addresses; returns the base URL.
    pub async fn spawn(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let router = self.router.clone();
        tokio::spawn(async move {
            axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
        });
        format!("http://{address}")
    }

    /// Appends an execution-plane event, as the execution plane would.
    pub fn report(&self, file: &str, line: Value) {
        use std::io::Write;
        let path = self.root.join("observability/telemetry").join(file);
        let mut handle = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
        writeln!(handle, "{line}").unwrap();
    }
}

pub fn json_request(uri: &str, body: &str) -> Request<Body> {
    Request::post(uri).header("content-type", "application/json").body(Body::from(body.to_owned())).unwrap()
}

async fn into_reply(response: http::Response<Body>) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.expect("read the body").to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("non-JSON answer ({e}): {}", String::from_utf8_lossy(&bytes)));
    Reply { status, headers, body }
}

pub fn read_json_lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().map(|line| serde_json::from_str(line).expect("a JSON line")).collect()
}

pub fn session() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Asserts the API's error shape, status and code.
pub fn assert_error(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status.as_u16(), status, "unexpected status; body: {}", reply.body);
    assert_eq!(reply.body["error"]["code"], code, "unexpected code; body: {}", reply.body);
    let message = reply.body["error"]["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "a human message; body: {}", reply.body);
}

/// Every folder and file under `root`.
pub fn tree(root: &Path) -> Tree {
    fn walk(root: &Path, dir: &Path, out: &mut Tree) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            let relative = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                out.insert(relative, None);
                walk(root, &path, out);
            } else {
                out.insert(relative, Some(std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = Tree::new();
    walk(root, root, &mut out);
    out
}
