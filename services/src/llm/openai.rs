//! The OpenAI chat-completions streaming protocol: the request body and the server-sent events
//! of the reply (`data: {chunk}` lines ending with `data: [DONE]`).

use eventsource_stream::Eventsource;
use futures::stream::BoxStream;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::{ChatMessage, ChatRequest, Chunk, LlmError, Usage};
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
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
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
}

#[derive(Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
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
    let body = RequestBody {
        model,
        messages: &request.messages,
        temperature: request.temperature,
        max_tokens: request.max_tokens,
        stream: true,
        stream_options: StreamOptions { include_usage: true },
    };
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

    let events = response.bytes_stream().eventsource();
    let chunks = events
        .map(|event| match event {
            Ok(event) => parse_event(&event.data),
            Err(error) => Some(Err(LlmError::Stream(error.to_string()))),
        })
        // `[DONE]` ends the reply even if the connection stays open.
        .take_while(|item| futures::future::ready(!matches!(item, Some(Ok(Parsed::Done)))))
        .filter_map(|item| async move {
            match item {
                Some(Ok(Parsed::Chunks(chunks))) => {
                    Some(futures::stream::iter(chunks.into_iter().map(Ok).collect::<Vec<_>>()))
                }
                Some(Ok(Parsed::Done)) | None => None,
                Some(Err(error)) => Some(futures::stream::iter(vec![Err(error)])),
            }
        })
        .flatten();
    Ok(chunks.boxed())
}

enum Parsed {
    Chunks(Vec<Chunk>),
    Done,
}

fn parse_event(data: &str) -> Option<Result<Parsed, LlmError>> {
    let data = data.trim();
    if data.is_empty() {
        return None;
    }
    if data == "[DONE]" {
        return Some(Ok(Parsed::Done));
    }
    let chunk: StreamChunk = match serde_json::from_str(data) {
        Ok(chunk) => chunk,
        Err(error) => return Some(Err(LlmError::Stream(format!("unreadable chunk ({error})")))),
    };
    if let Some(error) = chunk.error {
        return Some(Err(LlmError::Upstream(truncate(&error.message, 300))));
    }
    let mut out = Vec::new();
    for choice in chunk.choices {
        if let Some(text) = choice.delta.and_then(|d| d.content).filter(|t| !t.is_empty()) {
            out.push(Chunk::Text(text));
        }
    }
    if let Some(usage) = chunk.usage {
        out.push(Chunk::Usage(Usage {
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
        }));
    }
    Some(Ok(Parsed::Chunks(out)))
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
    use super::*;

    #[test]
    fn chunks_yield_text_and_usage() {
        let Some(Ok(Parsed::Chunks(chunks))) = parse_event(r#"{"choices":[{"index":0,"delta":{"content":"Hel"}}]}"#)
        else {
            panic!("chunks")
        };
        assert_eq!(chunks, vec![Chunk::Text("Hel".into())]);
        let Some(Ok(Parsed::Chunks(chunks))) =
            parse_event(r#"{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}}"#)
        else {
            panic!("chunks")
        };
        assert_eq!(chunks, vec![Chunk::Usage(Usage { prompt_tokens: 12, completion_tokens: 5 })]);
        assert!(matches!(parse_event("[DONE]"), Some(Ok(Parsed::Done))));
        assert!(matches!(parse_event("{not json"), Some(Err(LlmError::Stream(_)))));
        assert!(
            matches!(parse_event(r#"{"error":{"message":"overloaded"}}"#), Some(Err(LlmError::Upstream(m))) if m == "overloaded")
        );
    }

    #[test]
    fn error_bodies_are_summarised() {
        assert_eq!(error_detail(r#"{"error":{"message":"Invalid API key","type":"x"}}"#), "Invalid API key");
        assert_eq!(error_detail(""), "no details");
        assert_eq!(error_detail(&"x".repeat(400)).chars().count(), 301);
    }
}
