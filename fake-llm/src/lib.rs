//! A stand-in for a paid language-model provider. It listens on a loopback port and speaks the
//! OpenAI chat-completions streaming protocol over real HTTP — `data: {chunk}` events of text and
//! tool calls, a usage chunk, `data: [DONE]` — following a script of replies, and records what it
//! was sent and whether the client hung up early.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{HeaderMap, Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// Request bodies larger than this are recorded as `null`.
const BODY_LIMIT: usize = 10 * 1024 * 1024;

type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// How one reply ends after its tokens.
#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    /// A `finish_reason`, the usage chunk (if any) and `[DONE]`.
    Done,
    /// Stops sending but keeps the connection open.
    Hang,
    /// Drops the connection abruptly.
    Break,
    /// Sends an `{"error": ...}` chunk and closes.
    ErrorChunk(String),
    /// Sends an event whose data is this text, which is not a chunk, and closes.
    Malformed(String),
    /// Never ends: the last token is sent again every `token_delay` (at least 1 ms) until the
    /// client hangs up.
    Endless,
}

/// One scripted answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Stream {
        tokens: Vec<String>,
        /// Function calls (name, arguments) streamed after the tokens, as OpenAI streams them.
        tool_calls: Vec<(String, Value)>,
        first_token_delay: Duration,
        token_delay: Duration,
        /// Prompt and completion tokens reported in the final chunk; `None` sends no usage.
        usage: Option<(i64, i64)>,
        ending: Ending,
        /// When set, nothing is sent until the gate opens.
        gate: Option<Gate>,
    },
    /// An HTTP error with a JSON body, optionally with `Retry-After`.
    Status { status: u16, message: String, retry_after: Option<u64> },
    /// Accepts the request and never answers.
    Hang,
}

impl Reply {
    /// A normal streamed reply of the given words (each followed by a space except the last).
    pub fn words(text: &str) -> Reply {
        let words: Vec<&str> = text.split(' ').collect();
        let last = words.len().saturating_sub(1);
        let tokens =
            words.iter().enumerate().map(|(i, w)| if i == last { (*w).to_owned() } else { format!("{w} ") }).collect();
        Reply::Stream {
            tokens,
            tool_calls: Vec::new(),
            first_token_delay: Duration::ZERO,
            token_delay: Duration::ZERO,
            usage: Some((17, words.len() as i64)),
            ending: Ending::Done,
            gate: None,
        }
    }

    /// A reply that only calls `name` with `arguments`, streamed the way OpenAI does: the call's id
    /// and name first, then its arguments' JSON text in about three pieces, then
    /// `finish_reason: "tool_calls"`, the usage chunk and `[DONE]`. Ids are `call_1`, `call_2`, …
    /// in the order the server sends calls.
    pub fn tool_call(name: &str, arguments: Value) -> Reply {
        Reply::Stream {
            tokens: Vec::new(),
            tool_calls: Vec::new(),
            first_token_delay: Duration::ZERO,
            token_delay: Duration::ZERO,
            usage: Some((17, 0)),
            ending: Ending::Done,
            gate: None,
        }
        .with_tool_call(name, arguments)
    }

    /// Adds a call after the reply's text (and after its other calls, at the next index).
    pub fn with_tool_call(mut self, name: &str, arguments: Value) -> Reply {
        if let Reply::Stream { tool_calls, usage, .. } = &mut self {
            if let Some((_, completion)) = usage {
                *completion += 1 + argument_pieces(&arguments).len() as i64;
            }
            tool_calls.push((name.to_owned(), arguments));
        }
        self
    }

    /// Holds the reply back until `gate` opens: the request is recorded and answered with
    /// headers at once, but no token is sent before then.
    pub fn held_by(mut self, held_by: &Gate) -> Reply {
        if let Reply::Stream { gate, .. } = &mut self {
            *gate = Some(held_by.clone());
        }
        self
    }

    pub fn with_token_delay(mut self, delay: Duration) -> Reply {
        if let Reply::Stream { token_delay, .. } = &mut self {
            *token_delay = delay;
        }
        self
    }

    pub fn with_first_token_delay(mut self, delay: Duration) -> Reply {
        if let Reply::Stream { first_token_delay, .. } = &mut self {
            *first_token_delay = delay;
        }
        self
    }

    pub fn without_usage(mut self) -> Reply {
        if let Reply::Stream { usage, .. } = &mut self {
            *usage = None;
        }
        self
    }

    pub fn ending(mut self, how: Ending) -> Reply {
        if let Reply::Stream { ending, .. } = &mut self {
            *ending = how;
        }
        self
    }
}

/// Holds back the replies made with [`Reply::held_by`] until it is opened, so a test can keep
/// generations in flight for exactly as long as it needs instead of guessing with delays. Once
/// open it stays open.
#[derive(Debug, Clone)]
pub struct Gate(Arc<tokio::sync::watch::Sender<bool>>);

impl Gate {
    pub fn new() -> Gate {
        Gate(Arc::new(tokio::sync::watch::Sender::new(false)))
    }

    /// Lets every reply held by this gate go on.
    pub fn open(&self) {
        self.0.send_replace(true);
    }

    pub fn is_open(&self) -> bool {
        *self.0.borrow()
    }

    async fn opened(&self) {
        let mut open = self.0.subscribe();
        // The sender lives in `self`, so the wait ends only when the gate opens.
        let _ = open.wait_for(|open| *open).await;
    }
}

impl Default for Gate {
    fn default() -> Gate {
        Gate::new()
    }
}

impl PartialEq for Gate {
    fn eq(&self, other: &Gate) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// A request as the fake provider received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: Value,
    pub received_at: Instant,
    /// When the first content or tool-call chunk was handed to the connection.
    pub first_token_sent_at: Option<Instant>,
    /// When each content or tool-call chunk was handed to the connection, in order.
    pub tokens_sent_at: Vec<Instant>,
    /// When the reply's last chunk (`[DONE]`) was handed to the connection.
    pub finished_at: Option<Instant>,
}

struct Shared {
    script: Mutex<VecDeque<Reply>>,
    fallback: Mutex<Reply>,
    recorded: Mutex<Vec<Recorded>>,
    /// Replies whose client went away before the reply was complete.
    hung_up: AtomicUsize,
    completed: AtomicUsize,
    /// Numbers the calls' ids across replies, as a real provider's ids never repeat.
    tool_calls_sent: AtomicUsize,
}

/// The running fake provider. Dropping it stops the server.
pub struct FakeLlm {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    _server: Server,
}

impl FakeLlm {
    /// Starts on a free loopback port; requests beyond the script get `fallback`.
    pub async fn start(fallback: Reply) -> FakeLlm {
        let shared = Arc::new(Shared {
            script: Mutex::new(VecDeque::new()),
            fallback: Mutex::new(fallback),
            recorded: Mutex::new(Vec::new()),
            hung_up: AtomicUsize::new(0),
            completed: AtomicUsize::new(0),
            tool_calls_sent: AtomicUsize::new(0),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let addr = listener.local_addr().expect("a local address");
        let server = Server(tokio::spawn(serve(listener, shared.clone())));
        FakeLlm { addr, shared, _server: server }
    }

    /// The base URL to configure as `OPENAI_BASE_URL` (ends in `/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The endpoint to configure as `AZURE_OPENAI_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues replies for the next requests, in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.shared.script.lock().unwrap().extend(replies);
    }

    pub fn set_fallback(&self, reply: Reply) {
        *self.shared.fallback.lock().unwrap() = reply;
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.recorded.lock().unwrap().clone()
    }

    pub fn request_count(&self) -> usize {
        self.shared.recorded.lock().unwrap().len()
    }

    /// How many replies were cut short because the client closed the connection.
    pub fn hung_up(&self) -> usize {
        self.shared.hung_up.load(Ordering::SeqCst)
    }

    pub fn completed(&self) -> usize {
        self.shared.completed.load(Ordering::SeqCst)
    }

    /// Waits until `count` replies were cut short by the client, or the timeout passes.
    pub async fn wait_for_hang_ups(&self, count: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.hung_up() >= count {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.hung_up() >= count
    }
}

/// The accept loop. Connections live in a set owned by this task, so aborting the task closes them too.
async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Usually out of file descriptors under load; give connections time to close.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // Each chunk should leave as soon as it is written, as a real provider's tokens do.
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        connections.spawn(async move {
            let service = service_fn(move |request| answer(shared.clone(), request));
            // Without half-close support (the default), a client closing its end drops the pending reply,
            // which is how hang-ups are noticed.
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
        while connections.try_join_next().is_some() {}
    }
}

/// Aborts the server when the `FakeLlm` is dropped.
struct Server(JoinHandle<()>);

impl Drop for Server {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn answer(shared: Arc<Shared>, request: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    // Every path below the root is an endpoint (OpenAI's `/v1/...`, Azure's deployments), POST only.
    if request.uri().path() == "/" {
        return Ok(full(StatusCode::NOT_FOUND, ""));
    }
    if request.method() != Method::POST {
        let mut response = full(StatusCode::METHOD_NOT_ALLOWED, "");
        response.headers_mut().insert(ALLOW, HeaderValue::from_static("POST"));
        return Ok(response);
    }
    let received_at = Instant::now();
    let path_and_query = request.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default();
    let headers = request.headers().clone();
    let body = match Limited::new(request.into_body(), BODY_LIMIT).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let model = body.get("model").and_then(Value::as_str).unwrap_or("fake").to_owned();
    let index = {
        let mut recorded = shared.recorded.lock().unwrap();
        recorded.push(Recorded {
            path_and_query,
            headers,
            body,
            received_at,
            first_token_sent_at: None,
            tokens_sent_at: Vec::new(),
            finished_at: None,
        });
        recorded.len() - 1
    };
    let reply = shared.script.lock().unwrap().pop_front().unwrap_or_else(|| shared.fallback.lock().unwrap().clone());

    match reply {
        Reply::Status { status, message, retry_after } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = json!({"error": {"message": message, "type": "fake_error"}}).to_string();
            let mut response = full(status, body);
            response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            if let Some(seconds) = retry_after {
                response.headers_mut().insert(RETRY_AFTER, seconds.into());
            }
            Ok(response)
        }
        Reply::Hang => {
            // Never answer; the guard counts the client giving up.
            let _guard = HangUpGuard { shared: shared.clone(), finished: false };
            match std::future::pending::<Infallible>().await {}
        }
        Reply::Stream { tokens, tool_calls, first_token_delay, token_delay, usage, ending, gate } => {
            let mut deltas: Vec<Value> =
                tokens.iter().map(|token| json!({"role": "assistant", "content": token})).collect();
            for (index, (name, arguments)) in tool_calls.iter().enumerate() {
                let id = format!("call_{}", shared.tool_calls_sent.fetch_add(1, Ordering::SeqCst) + 1);
                let opens_reply = deltas.is_empty();
                deltas.extend(tool_call_deltas(index, &id, name, arguments, opens_reply));
            }
            let finish_reason = if tool_calls.is_empty() { "stop" } else { "tool_calls" };
            let stream = async_stream::stream! {
                let mut guard = HangUpGuard { shared: shared.clone(), finished: false };
                if let Some(gate) = &gate {
                    gate.opened().await;
                }
                tokio::time::sleep(first_token_delay).await;
                for (i, delta) in deltas.into_iter().enumerate() {
                    if i > 0 {
                        tokio::time::sleep(token_delay).await;
                    }
                    if let Some(r) = guard.shared.recorded.lock().unwrap().get_mut(index) {
                        let now = Instant::now();
                        r.first_token_sent_at.get_or_insert(now);
                        r.tokens_sent_at.push(now);
                    }
                    let chunk = json!({
                        "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model,
                        "choices": [{"index": 0, "delta": delta, "finish_reason": null}]
                    });
                    yield Ok::<_, std::io::Error>(sse(&chunk.to_string()));
                }
                match ending {
                    Ending::Done => {
                        let finish = json!({
                            "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model,
                            "choices": [{"index": 0, "delta": {}, "finish_reason": finish_reason}]
                        });
                        yield Ok(sse(&finish.to_string()));
                        if let Some((prompt, completion)) = usage {
                            let usage = json!({
                                "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model,
                                "choices": [],
                                "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
                            });
                            yield Ok(sse(&usage.to_string()));
                        }
                        if let Some(r) = guard.shared.recorded.lock().unwrap().get_mut(index) {
                            r.finished_at = Some(Instant::now());
                        }
                        yield Ok(sse("[DONE]"));
                        guard.finished = true;
                        guard.shared.completed.fetch_add(1, Ordering::SeqCst);
                    }
                    Ending::Hang => {
                        std::future::pending::<()>().await;
                    }
                    Ending::Break => {
                        // Let what was sent reach the client before the connection drops.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        guard.finished = true;
                        yield Err(std::io::Error::other("connection dropped on purpose"));
                    }
                    Ending::ErrorChunk(message) => {
                        yield Ok(sse(&json!({"error": {"message": message, "type": "server_error"}}).to_string()));
                        guard.finished = true;
                    }
                    Ending::Malformed(data) => {
                        yield Ok(sse(&data));
                        guard.finished = true;
                    }
                    Ending::Endless => {
                        let token = tokens.last().cloned().unwrap_or_else(|| "and ".to_owned());
                        let chunk = json!({
                            "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model,
                            "choices": [{"index": 0, "delta": {"content": token}, "finish_reason": null}]
                        })
                        .to_string();
                        loop {
                            tokio::time::sleep(token_delay.max(Duration::from_millis(1))).await;
                            yield Ok(sse(&chunk));
                        }
                    }
                }
            };
            let mut response = Response::new(StreamBody::new(stream).boxed_unsync());
            response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
            response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            Ok(response)
        }
    }
}

/// The deltas that stream one call: its id and name with empty arguments, then the arguments'
/// JSON text piece by piece. The reply's first delta also says who is speaking, as OpenAI's does.
fn tool_call_deltas(index: usize, id: &str, name: &str, arguments: &Value, opens_reply: bool) -> Vec<Value> {
    let mut first = json!({
        "tool_calls": [{"index": index, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}]
    });
    if opens_reply {
        first["role"] = json!("assistant");
        first["content"] = Value::Null;
    }
    let pieces = argument_pieces(arguments)
        .into_iter()
        .map(|piece| json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}));
    std::iter::once(first).chain(pieces).collect()
}

/// The arguments' JSON text in about three pieces, split between characters.
fn argument_pieces(arguments: &Value) -> Vec<String> {
    let chars: Vec<char> = arguments.to_string().chars().collect();
    chars.chunks(chars.len().div_ceil(3).max(1)).map(|piece| piece.iter().collect()).collect()
}

/// One SSE event as a body frame.
fn sse(data: &str) -> Frame<Bytes> {
    Frame::data(Bytes::from(format!("data: {data}\n\n")))
}

/// A response with the whole body at once.
fn full(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()).map_err(|never| match never {}).boxed_unsync());
    *response.status_mut() = status;
    response
}

/// Counts a reply as hung up when it is dropped before it finished.
struct HangUpGuard {
    shared: Arc<Shared>,
    finished: bool,
}

impl Drop for HangUpGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.shared.hung_up.fetch_add(1, Ordering::SeqCst);
        }
    }
}
