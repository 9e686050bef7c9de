//! The OpenAI chat-completions streaming protocol: the request body and the server-sent events
//! of the reply (`data: {chunk}` lines ending with `data: [DONE]`).

use std::collections::VecDeque;

use eventsource_stream::Eventsource;
use futures::stream::BoxStream;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::{ChatMessage, ChatRequest, Chunk, LlmError, ToolCall, Usage};
use settings::Secret;

pub struct Endpoint {
    pub url: String,
    pub auth: Option<Auth>,
}

pub enum Auth {
    /// `Authorization: Bearer <key>` (OpenAI, DashScope, most local servers).
    Bearer(Secret),
    /// `api-key: <key>` (Azure OpenAI).
    ApiKey(Secret),
}

#[derive(Serialize)]
struct RequestBody<'a> {
    model: &'a str,
    messages: &'a [ChatMessage],
    temperature: f64,
    max_tokens: u32,
    stream: bool,
    stream_options: StreamOptions,
    // Left out when empty: some local servers refuse an empty list.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
struct WireTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireToolFunction<'a>,
}

#[derive(Serialize)]
struct WireToolFunction<'a> {
    name: &'a str,
    description: &'a str,
    parameters: &'a serde_json::Value,
}

impl<'a> RequestBody<'a> {
    fn new(model: &'a str, request: &'a ChatRequest) -> Self {
        let tools = request
            .tools
            .iter()
            .map(|tool| WireTool {
                kind: "function",
                function: WireToolFunction {
                    name: tool.name,
                    description: tool.description,
                    parameters: &tool.parameters,
                },
            })
            .collect();
        RequestBody {
            model,
            messages: &request.messages,
            temperature: request.temperature,
            max_tokens: request.max_tokens,
            stream: true,
            stream_options: StreamOptions { include_usage: true },
            tools,
        }
    }
}

#[derive(Deserialize)]
struct StreamChunk {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<WireError>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolCallDelta>>,
}

/// A piece of a streamed call: the first usually carries the id and name, later ones more
/// of the arguments.
#[derive(Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: Option<u32>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Deserialize, Default)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    /// Text to append; a few servers send the arguments as a JSON object instead.
    #[serde(default)]
    arguments: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: i64,
    #[serde(default)]
    completion_tokens: i64,
}

#[derive(Deserialize)]
struct WireError {
    #[serde(default)]
    message: String,
}

/// Sends a streaming chat request and returns its chunks. HTTP errors come back as
/// [`LlmError::Status`] with a short excerpt of the provider's explanation.
pub async fn stream_chat(
    http: &reqwest::Client,
    endpoint: Endpoint,
    model: &str,
    request: &ChatRequest,
) -> Result<BoxStream<'static, Result<Chunk, LlmError>>, LlmError> {
    let body = RequestBody::new(model, request);
    let mut builder = http.post(&endpoint.url).header("accept", "text/event-stream").json(&body);
    builder = match &endpoint.auth {
        Some(Auth::Bearer(key)) => builder.bearer_auth(key.expose()),
        Some(Auth::ApiKey(key)) => builder.header("api-key", key.expose()),
        None => builder,
    };
    let response = builder.send().await.map_err(|e| LlmError::Connect(describe(&e)))?;
    let status = response.status();
    if !status.is_success() {
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(std::time::Duration::from_secs);
        let text = response.text().await.unwrap_or_default();
        return Err(LlmError::Status { status: status.as_u16(), detail: error_detail(&text), retry_after });
    }

    let events = response
        .bytes_stream()
        .eventsource()
        .map(|event| event.map(|event| event.data).map_err(|error| LlmError::Stream(error.to_string())))
        .boxed();
    Ok(read_reply(events))
}

/// Turns the events' data into chunks: text and usage as they come, each tool call once it is
/// whole. The reply ends at `[DONE]` (even if the connection stays open), at the end of the
/// stream, or after the first error.
fn read_reply(events: BoxStream<'static, Result<String, LlmError>>) -> BoxStream<'static, Result<Chunk, LlmError>> {
    struct State {
        events: BoxStream<'static, Result<String, LlmError>>,
        reader: ReplyReader,
        ready: VecDeque<Result<Chunk, LlmError>>,
        ended: bool,
    }
    let state = State { events, reader: ReplyReader::default(), ready: VecDeque::new(), ended: false };
    futures::stream::unfold(state, |mut state| async move {
        loop {
            if let Some(item) = state.ready.pop_front() {
                return Some((item, state));
            }
            if state.ended {
                return None;
            }
            let read = match state.events.next().await {
                Some(Ok(data)) => state.reader.read(&data),
                Some(Err(error)) => Err(error),
                None => Ok(Parsed::Done),
            };
            match read {
                Ok(Parsed::Chunks(chunks)) => state.ready.extend(chunks.into_iter().map(Ok)),
                Ok(Parsed::Done) => {
                    // Calls whose choice never said it finished are whole by now.
                    state.ready.extend(state.reader.finish().into_iter().map(Ok));
                    state.ended = true;
                }
                Err(error) => {
                    state.ready.push_back(Err(error));
                    state.ended = true;
                }
            }
        }
    })
    .boxed()
}

/// Most calls one reply may make, and most bytes one call may take: a runaway model must not
/// fill memory.
const MAX_TOOL_CALLS: usize = 8;
const MAX_TOOL_CALL_BYTES: usize = 64 * 1024;

enum Parsed {
    Chunks(Vec<Chunk>),
    Done,
}

/// A call still being streamed.
struct PartialCall {
    index: u32,
    /// Its place among the reply's calls, from 1: names a call whose server sent no id.
    ordinal: usize,
    id: String,
    name: String,
    arguments: String,
}

/// Reads a reply's events one by one, assembling the tool calls spread over them.
#[derive(Default)]
struct ReplyReader {
    pending: Vec<PartialCall>,
    calls_started: usize,
}

impl ReplyReader {
    fn read(&mut self, data: &str) -> Result<Parsed, LlmError> {
        let data = data.trim();
        if data.is_empty() {
            return Ok(Parsed::Chunks(Vec::new()));
        }
        if data == "[DONE]" {
            return Ok(Parsed::Done);
        }
        let chunk: StreamChunk =
            serde_json::from_str(data).map_err(|error| LlmError::Stream(format!("unreadable chunk ({error})")))?;
        if let Some(error) = chunk.error {
            return Err(LlmError::Upstream(truncate(&error.message, 300)));
        }
        let mut out = Vec::new();
        for choice in chunk.choices {
            if let Some(delta) = choice.delta {
                if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                    out.push(Chunk::Text(text));
                }
                for piece in delta.tool_calls.unwrap_or_default() {
                    self.add(piece)?;
                }
            }
            if choice.finish_reason.is_some() {
                out.extend(self.finish());
            }
        }
        if let Some(usage) = chunk.usage {
            out.push(Chunk::Usage(Usage {
                prompt_tokens: usage.prompt_tokens,
                completion_tokens: usage.completion_tokens,
            }));
        }
        Ok(Parsed::Chunks(out))
    }

    fn add(&mut self, piece: ToolCallDelta) -> Result<(), LlmError> {
        // Servers that leave out `index` have only one call in flight at a time.
        let index = piece.index.unwrap_or(0);
        let id = piece.id.filter(|id| !id.is_empty());
        let function = piece.function.unwrap_or_default();
        // A piece goes on the latest call at its index unless it names another id: some servers
        // repeat the id on every piece, and some send parallel calls all at one index.
        let latest = self.pending.iter().rposition(|call| call.index == index);
        let at = match latest {
            Some(at) if id.as_ref().is_none_or(|id| self.pending[at].id.is_empty() || self.pending[at].id == *id) => at,
            _ => {
                if self.calls_started == MAX_TOOL_CALLS {
                    return Err(LlmError::Stream(format!(
                        "the model made more than {MAX_TOOL_CALLS} tool calls in one reply"
                    )));
                }
                self.calls_started += 1;
                self.pending.push(PartialCall {
                    index,
                    ordinal: self.calls_started,
                    id: String::new(),
                    name: String::new(),
                    arguments: String::new(),
                });
                self.pending.len() - 1
            }
        };
        let call = &mut self.pending[at];
        if let Some(id) = id {
            call.id = id;
        }
        if let Some(name) = function.name.filter(|name| !name.is_empty()) {
            // The name comes whole; servers that repeat it on every piece must not double it.
            if call.name.is_empty() {
                call.name = name;
            }
        }
        let arguments = match function.arguments {
            None | Some(serde_json::Value::Null) => String::new(),
            Some(serde_json::Value::String(text)) => text,
            Some(object) => object.to_string(),
        };
        if call.id.len() + call.name.len() + call.arguments.len() + arguments.len() > MAX_TOOL_CALL_BYTES {
            return Err(LlmError::Stream(format!(
                "a tool call ran past {} KiB of arguments",
                MAX_TOOL_CALL_BYTES / 1024
            )));
        }
        call.arguments.push_str(&arguments);
        Ok(())
    }

    /// The calls assembled so far, as chunks; calls without a function name are dropped.
    fn finish(&mut self) -> Vec<Chunk> {
        self.pending
            .drain(..)
            .filter(|call| !call.name.is_empty())
            .map(|call| {
                Chunk::ToolCall(ToolCall {
                    id: if call.id.is_empty() { format!("call_{}", call.ordinal) } else { call.id },
                    name: call.name,
                    arguments: call.arguments,
                })
            })
            .collect()
    }
}

/// The provider's own error message when it sent the usual `{"error": {"message"}}`, else a
/// short excerpt of the body.
fn error_detail(body: &str) -> String {
    #[derive(Deserialize)]
    struct Envelope {
        error: WireError,
    }
    match serde_json::from_str::<Envelope>(body) {
        Ok(envelope) if !envelope.error.message.is_empty() => truncate(&envelope.error.message, 300),
        _ if body.trim().is_empty() => "no details".to_owned(),
        _ => truncate(body.trim(), 300),
    }
}

fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(max_chars).collect::<String>())
    }
}

/// A connection error in plain words, without the URL's query (which may name a deployment).
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "the connection timed out".to_owned()
    } else if error.is_connect() {
        "the connection was refused or could not be established".to_owned()
    } else {
        let mut text = error.to_string();
        if let Some(url) = error.url() {
            text = text.replace(url.as_str(), "the provider");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::super::ToolSpec;
    use super::*;

    /// The chunks a reply made of these events' data yields.
    async fn read(events: &[&str]) -> Vec<Result<Chunk, LlmError>> {
        let events: Vec<Result<String, LlmError>> = events.iter().map(|data| Ok((*data).to_owned())).collect();
        read_reply(futures::stream::iter(events).boxed()).collect().await
    }

    async fn read_ok(events: &[&str]) -> Vec<Chunk> {
        read(events).await.into_iter().map(|item| item.expect("no error")).collect()
    }

    fn call(id: &str, name: &str, arguments: &str) -> Chunk {
        Chunk::ToolCall(ToolCall { id: id.into(), name: name.into(), arguments: arguments.into() })
    }

    fn delta(delta: Value) -> String {
        json!({"choices": [{"index": 0, "delta": delta, "finish_reason": null}]}).to_string()
    }

    /// One piece of a call, alone in its delta.
    fn call_piece(piece: Value) -> String {
        delta(json!({"tool_calls": [piece]}))
    }

    fn finished(reason: &str) -> String {
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}).to_string()
    }

    const USAGE: &str = r#"{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}}"#;

    #[tokio::test]
    async fn chunks_yield_text_and_usage() {
        let chunks = read_ok(&[r#"{"choices":[{"index":0,"delta":{"content":"Hel"}}]}"#, USAGE, "[DONE]"]).await;
        assert_eq!(
            chunks,
            vec![Chunk::Text("Hel".into()), Chunk::Usage(Usage { prompt_tokens: 12, completion_tokens: 5 })]
        );
    }

    #[tokio::test]
    async fn done_ends_the_reply_and_errors_end_it_too() {
        let after_done = read_ok(&["[DONE]", r#"{"choices":[{"delta":{"content":"late"}}]}"#]).await;
        assert!(after_done.is_empty());
        let unreadable = read(&["{not json", r#"{"choices":[{"delta":{"content":"late"}}]}"#]).await;
        assert!(matches!(unreadable.as_slice(), [Err(LlmError::Stream(_))]), "{unreadable:?}");
        let upstream = read(&[r#"{"error":{"message":"overloaded"}}"#]).await;
        assert_eq!(upstream, vec![Err(LlmError::Upstream("overloaded".into()))]);
    }

    #[tokio::test]
    async fn a_call_split_over_several_deltas_is_assembled_into_one() {
        let chunks = read_ok(&[
            &delta(json!({"role": "assistant", "content": null, "tool_calls": [
                {"index": 0, "id": "call_abc", "type": "function", "function": {"name": "propose_task", "arguments": ""}}
            ]})),
            &call_piece(json!({"index": 0, "function": {"arguments": "{\"tit"}})),
            &call_piece(json!({"index": 0, "function": {"arguments": "le\": \"Te"}})),
            &call_piece(json!({"index": 0, "function": {"arguments": "a\"}"}})),
            &finished("tool_calls"),
            USAGE,
            "[DONE]",
        ])
        .await;
        assert_eq!(
            chunks,
            vec![
                call("call_abc", "propose_task", r#"{"title": "Tea"}"#),
                Chunk::Usage(Usage { prompt_tokens: 12, completion_tokens: 5 }),
            ]
        );
    }

    #[tokio::test]
    async fn a_whole_call_in_one_delta_is_one_call() {
        let whole = json!({"choices": [{"index": 0, "finish_reason": "stop", "delta": {"tool_calls": [
            {"index": 0, "id": "call_1", "type": "function", "function": {"name": "propose_task", "arguments": "{\"title\":\"Tea\"}"}}
        ]}}]});
        let chunks = read_ok(&[&whole.to_string(), "[DONE]"]).await;
        assert_eq!(chunks, vec![call("call_1", "propose_task", r#"{"title":"Tea"}"#)]);
    }

    #[tokio::test]
    async fn pieces_without_an_index_belong_to_call_zero_and_repeated_ids_do_not_split_it() {
        let chunks = read_ok(&[
            &call_piece(
                json!({"id": "call_9", "type": "function", "function": {"name": "look_up", "arguments": "{\"q\":"}}),
            ),
            &call_piece(
                json!({"id": "call_9", "type": "function", "function": {"name": "look_up", "arguments": "\"tea\"}"}}),
            ),
            &finished("tool_calls"),
            "[DONE]",
        ])
        .await;
        assert_eq!(chunks, vec![call("call_9", "look_up", r#"{"q":"tea"}"#)]);
    }

    #[tokio::test]
    async fn parallel_calls_are_assembled_apart_in_order() {
        let chunks = read_ok(&[
            &call_piece(json!({"index": 0, "id": "call_a", "function": {"name": "first", "arguments": ""}})),
            &call_piece(json!({"index": 1, "id": "call_b", "function": {"name": "second", "arguments": "{\"n\":"}})),
            &call_piece(json!({"index": 0, "function": {"arguments": "{}"}})),
            &call_piece(json!({"index": 1, "function": {"arguments": "2}"}})),
            &finished("tool_calls"),
            "[DONE]",
        ])
        .await;
        assert_eq!(chunks, vec![call("call_a", "first", "{}"), call("call_b", "second", r#"{"n":2}"#)]);
    }

    #[tokio::test]
    async fn parallel_calls_at_one_index_are_told_apart_by_their_ids() {
        let chunks = read_ok(&[
            &call_piece(json!({"id": "call_a", "function": {"name": "first", "arguments": "{}"}})),
            &call_piece(json!({"id": "call_b", "function": {"name": "second", "arguments": {"n": 2}}})),
            "[DONE]",
        ])
        .await;
        assert_eq!(chunks, vec![call("call_a", "first", "{}"), call("call_b", "second", r#"{"n":2}"#)]);
    }

    #[tokio::test]
    async fn text_comes_as_it_arrives_and_the_call_when_it_finishes() {
        let chunks = read_ok(&[
            &delta(json!({"role": "assistant", "content": "I'll add "})),
            &delta(json!({"content": "that."})),
            &call_piece(json!({"index": 0, "id": "call_1", "function": {"name": "propose_task", "arguments": "{}"}})),
            &finished("tool_calls"),
            "[DONE]",
        ])
        .await;
        assert_eq!(
            chunks,
            vec![Chunk::Text("I'll add ".into()), Chunk::Text("that.".into()), call("call_1", "propose_task", "{}")]
        );
    }

    #[tokio::test]
    async fn calls_without_a_finish_reason_come_at_done_or_at_the_end() {
        let first = call_piece(json!({"index": 0, "function": {"name": "propose_task", "arguments": "{}"}}));
        // Without an id from the server the call is still named, so its result can answer it.
        assert_eq!(read_ok(&[&first, "[DONE]"]).await, vec![call("call_1", "propose_task", "{}")]);
        assert_eq!(read_ok(&[&first]).await, vec![call("call_1", "propose_task", "{}")]);
    }

    #[tokio::test]
    async fn calls_without_a_name_are_dropped() {
        let nameless = call_piece(json!({"index": 0, "id": "call_1", "function": {"arguments": "{}"}}));
        assert_eq!(read_ok(&[&nameless, &finished("tool_calls"), "[DONE]"]).await, vec![]);
    }

    #[tokio::test]
    async fn over_long_arguments_are_refused() {
        let start =
            call_piece(json!({"index": 0, "id": "call_1", "function": {"name": "propose_task", "arguments": ""}}));
        let piece = call_piece(json!({"index": 0, "function": {"arguments": "x".repeat(16 * 1024)}}));
        let mut events = vec![start.as_str()];
        events.extend(std::iter::repeat_n(piece.as_str(), 5));
        events.push("[DONE]");
        let chunks = read(&events).await;
        let Some(Err(LlmError::Stream(message))) = chunks.last() else { panic!("refused: {chunks:?}") };
        assert!(message.contains("64 KiB"), "{message}");
        assert_eq!(chunks.len(), 1, "nothing of the call was yielded");
    }

    #[tokio::test]
    async fn too_many_calls_are_refused() {
        let calls: Vec<String> = (0..9)
            .map(|i| {
                call_piece(json!({"index": i, "id": format!("call_{i}"), "function": {"name": "f", "arguments": "{}"}}))
            })
            .collect();
        let events: Vec<&str> = calls.iter().map(String::as_str).collect();
        let chunks = read(&events).await;
        assert!(matches!(chunks.as_slice(), [Err(LlmError::Stream(m))] if m.contains("more than 8")), "{chunks:?}");
        assert_eq!(read_ok(&events[..8]).await.len(), 8);
    }

    fn request(tools: Vec<ToolSpec>) -> ChatRequest {
        ChatRequest {
            messages: vec![ChatMessage::user("Guest: hello")],
            temperature: 0.5,
            max_tokens: 100,
            speaker_name: "Ada".into(),
            tools,
            variant: 0,
        }
    }

    #[test]
    fn the_request_offers_tools_only_when_there_are_some() {
        let without = serde_json::to_value(RequestBody::new("m", &request(Vec::new()))).unwrap();
        assert!(without.get("tools").is_none(), "{without}");

        let parameters = json!({"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]});
        let tool = ToolSpec { name: "propose_task", description: "Propose a task.", parameters: parameters.clone() };
        let with = serde_json::to_value(RequestBody::new("m", &request(vec![tool]))).unwrap();
        assert_eq!(
            with["tools"],
            json!([{
                "type": "function",
                "function": {"name": "propose_task", "description": "Propose a task.", "parameters": parameters}
            }])
        );
        assert_eq!(with["messages"], json!([{"role": "user", "content": "Guest: hello"}]));
    }

    #[test]
    fn calls_and_their_results_serialize_to_the_openai_wire_shape() {
        let made =
            ToolCall { id: "call_1".into(), name: "propose_task".into(), arguments: r#"{"title":"Tea"}"#.into() };
        let assistant = serde_json::to_value(ChatMessage::assistant_calls("", vec![made.clone()])).unwrap();
        assert_eq!(
            assistant,
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "propose_task", "arguments": "{\"title\":\"Tea\"}"}}
            ]})
        );
        let with_text = serde_json::to_value(ChatMessage::assistant_calls("On it.", vec![made])).unwrap();
        assert_eq!(with_text["content"], "On it.");
        let result = serde_json::to_value(ChatMessage::tool_result("call_1", "Task proposed.")).unwrap();
        assert_eq!(result, json!({"role": "tool", "tool_call_id": "call_1", "content": "Task proposed."}));
        let plain = serde_json::to_value(ChatMessage::assistant("")).unwrap();
        assert_eq!(plain, json!({"role": "assistant", "content": ""}));
    }

    #[test]
    fn error_bodies_are_summarised() {
        assert_eq!(error_detail(r#"{"error":{"message":"Invalid API key","type":"x"}}"#), "Invalid API key");
        assert_eq!(error_detail(""), "no details");
        assert_eq!(error_detail(&"x".repeat(400)).chars().count(), 301);
    }
}
