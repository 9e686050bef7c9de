//! Language models: which provider answers an agent, and the streaming client that asks it.
//!
//! Every real provider speaks the OpenAI chat-completions streaming protocol (OpenAI itself,
//! Azure OpenAI, Qwen through DashScope's compatible mode, and local servers such as Ollama,
//! llama.cpp or vLLM); they differ only in URL and authentication header. With nothing
//! configured, the offline demo model answers.

pub mod allowed;
mod demo;
mod openai;
pub mod pricing;

use std::collections::VecDeque;
use std::time::Duration;

use futures::stream::BoxStream;
use futures::StreamExt;
use serde::Serialize;
use thiserror::Error;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::config::{LlmConfig, DEFAULT_OPENAI_BASE_URL};
pub use allowed::AllowedModels;
pub use pricing::PriceTable;

/// Who serves a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    OpenAi,
    Azure,
    DashScope,
    Demo,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
            Provider::Azure => "azure",
            Provider::DashScope => "qwen",
            Provider::Demo => "demo",
        }
    }
}

/// An agent's model resolved to a provider and the model (or Azure deployment) name it knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRoute {
    pub provider: Provider,
    pub model: String,
}

impl ModelRoute {
    /// How the model is recorded on messages: `demo` for the demo model, otherwise as configured.
    pub fn label(&self) -> String {
        match self.provider {
            Provider::Demo => "demo".to_owned(),
            Provider::OpenAi => self.model.clone(),
            other => format!("{}:{}", other.as_str(), self.model),
        }
    }
}

/// A function the model may call, offered in the request's `tools`.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: &'static str,
    pub description: &'static str,
    /// The arguments' JSON Schema.
    pub parameters: serde_json::Value,
}

/// A call the model made: its id, the function's name and its arguments as the JSON text the
/// model wrote (which may not be valid JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// One turn of the conversation; it serializes to the OpenAI wire shape.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatMessage {
    pub role: &'static str,
    pub content: String,
    /// Calls an assistant turn made (sent as `tool_calls` in the OpenAI wire shape, omitted when empty).
    pub tool_calls: Vec<ToolCall>,
    /// For `role: "tool"`: which call this answers (omitted when None).
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    fn new(role: &'static str, content: impl Into<String>) -> Self {
        Self { role, content: content.into(), tool_calls: Vec::new(), tool_call_id: None }
    }
    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }
    /// An assistant turn that made calls, with whatever text it said alongside them.
    pub fn assistant_calls(content: impl Into<String>, calls: Vec<ToolCall>) -> Self {
        Self { tool_calls: calls, ..Self::new("assistant", content) }
    }
    /// What a call returned, answering the call with id `call_id`.
    pub fn tool_result(call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Self { tool_call_id: Some(call_id.into()), ..Self::new("tool", content) }
    }
}

impl Serialize for ChatMessage {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct WireMessage<'a> {
            role: &'a str,
            content: Option<&'a str>,
            #[serde(skip_serializing_if = "Vec::is_empty")]
            tool_calls: Vec<WireToolCall<'a>>,
            #[serde(skip_serializing_if = "Option::is_none")]
            tool_call_id: Option<&'a str>,
        }
        #[derive(Serialize)]
        struct WireToolCall<'a> {
            id: &'a str,
            #[serde(rename = "type")]
            kind: &'a str,
            function: WireFunction<'a>,
        }
        #[derive(Serialize)]
        struct WireFunction<'a> {
            name: &'a str,
            arguments: &'a str,
        }
        // A turn that only made calls sends `null`: some servers refuse an empty string there.
        let content = if self.content.is_empty() && !self.tool_calls.is_empty() { None } else { Some(&*self.content) };
        WireMessage {
            role: self.role,
            content,
            tool_calls: self
                .tool_calls
                .iter()
                .map(|call| WireToolCall {
                    id: &call.id,
                    kind: "function",
                    function: WireFunction { name: &call.name, arguments: &call.arguments },
                })
                .collect(),
            tool_call_id: self.tool_call_id.as_deref(),
        }
        .serialize(serializer)
    }
}

#[derive(Debug, Clone)]
pub struct ChatRequest {
    pub messages: Vec<ChatMessage>,
    pub temperature: f64,
    pub max_tokens: u32,
    /// Who is speaking, for the demo model's replies.
    pub speaker_name: String,
    /// Functions the model may call; none leaves `tools` out of the request.
    pub tools: Vec<ToolSpec>,
    /// Which version of a reply this is (0, then 1, 2, … as it is regenerated): the demo model
    /// words each one differently, as a real model would. Providers are not sent it.
    pub variant: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
}

/// A piece of a streamed reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Chunk {
    Text(String),
    Usage(Usage),
    /// A whole call, once the provider has finished streaming it.
    ToolCall(ToolCall),
}

/// Why asking a model failed. The messages are shown to people, so they never contain keys.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum LlmError {
    #[error("{provider} is not configured: set {variables}.")]
    NotConfigured { provider: &'static str, variables: &'static str },
    #[error("Could not connect to the provider: {0}.")]
    Connect(String),
    #[error("The provider sent no reply within {0} s.")]
    FirstTokenTimeout(u64),
    #[error("The provider stopped sending for more than {0} s.")]
    IdleTimeout(u64),
    #[error("The provider answered HTTP {status}: {detail}")]
    Status { status: u16, detail: String, retry_after: Option<Duration> },
    #[error("The provider's stream broke off: {0}.")]
    Stream(String),
    #[error("The provider reported an error: {0}")]
    Upstream(String),
    /// The provider went on sending well past the reply's `max_tokens`.
    #[error("The provider kept sending past the {0} tokens asked for; the reply was cut there.")]
    TooLong(u32),
    /// The reply was still streaming when `LLM_REPLY_TIMEOUT_MS` ran out.
    #[error("The reply was still streaming after {0} s; it was cut there.")]
    ReplyTimeout(u64),
    /// The agent's model is off the server's list (it may have been allowed when the agent was made).
    #[error("The model {model} is not allowed on this server (allowed: {allowed}); an owner of the room can give the agent another.")]
    NotAllowed { model: String, allowed: String },
}

impl LlmError {
    /// Whether trying again could help (only ever before the first token).
    fn is_retryable(&self) -> bool {
        match self {
            LlmError::Connect(_) | LlmError::FirstTokenTimeout(_) | LlmError::Stream(_) => true,
            LlmError::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

/// A reply being streamed. Pauses longer than the idle timeout end it with an error.
pub struct ReplyStream {
    buffered: VecDeque<Chunk>,
    source: BoxStream<'static, Result<Chunk, LlmError>>,
    idle_timeout: Duration,
}

impl ReplyStream {
    pub async fn next(&mut self) -> Option<Result<Chunk, LlmError>> {
        if let Some(chunk) = self.buffered.pop_front() {
            return Some(Ok(chunk));
        }
        match tokio::time::timeout(self.idle_timeout, self.source.next()).await {
            Ok(item) => item,
            Err(_) => Some(Err(LlmError::IdleTimeout(self.idle_timeout.as_secs().max(1)))),
        }
    }
}

/// The HTTP client for providers could not be built (its TLS backend failed to start).
#[derive(Debug, Error)]
#[error("cannot build the HTTP client for model providers: {0}")]
pub struct HttpClientError(#[from] reqwest::Error);

/// The providers this server can use.
pub struct LanguageModels {
    http: reqwest::Client,
    config: LlmConfig,
    /// One permit per paid generation in flight (`LLM_MAX_CONCURRENT`).
    in_flight: Semaphore,
}

impl LanguageModels {
    pub fn new(config: &LlmConfig) -> Result<Self, HttpClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("ais-chatrooms/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http, config: config.clone(), in_flight: Semaphore::new(config.max_concurrent) })
    }

    /// Waits for a free slot among the `LLM_MAX_CONCURRENT` paid generations; held until dropped.
    pub async fn generation_permit(&self) -> SemaphorePermit<'_> {
        match self.in_flight.acquire().await {
            Ok(permit) => permit,
            // The semaphore lives as long as `self` and is never closed.
            Err(_) => unreachable!("the generation semaphore is never closed"),
        }
    }

    /// How many more paid generations could start now (for tests and metrics).
    pub fn free_generation_slots(&self) -> usize {
        self.in_flight.available_permits()
    }

    pub fn allowed_models(&self) -> &AllowedModels {
        &self.config.allowed_models
    }

    /// Whether agents may use `agent_model`. It is judged as resolved — `demo`, a bare name for
    /// the OpenAI-compatible endpoint (an `openai:` prefix dropped), `azure:<deployment>`,
    /// `qwen:<model>` — so one model cannot pass under another spelling; a model whose provider
    /// is not configured is judged as written.
    pub fn is_allowed(&self, agent_model: &str) -> bool {
        let resolved = self.route(agent_model).map(|route| route.label()).unwrap_or_else(|_| agent_model.to_owned());
        self.config.allowed_models.allows(&resolved)
    }

    /// Resolves an agent's model like [`route`](Self::route), refusing models off the list.
    pub fn resolve(&self, agent_model: &str) -> Result<ModelRoute, LlmError> {
        let route = self.route(agent_model)?;
        if !self.config.allowed_models.allows(&route.label()) {
            return Err(LlmError::NotAllowed { model: route.label(), allowed: self.config.allowed_models.to_string() });
        }
        Ok(route)
    }

    fn openai_configured(&self) -> bool {
        self.config.openai_base_url.is_some() || self.config.openai_api_key.is_some()
    }

    /// True when no provider is configured, so every agent answers with the demo model.
    pub fn demo_only(&self) -> bool {
        !self.openai_configured() && self.config.azure_endpoint.is_none() && self.config.dashscope_api_key.is_none()
    }

    pub fn prices(&self) -> &PriceTable {
        &self.config.prices
    }

    /// Resolves an agent's model: `azure:<deployment>`, `qwen:<model>`, `openai:<model>`,
    /// `demo`, or a bare name (the OpenAI-compatible endpoint when configured, else the demo).
    pub fn route(&self, agent_model: &str) -> Result<ModelRoute, LlmError> {
        let route = |provider, model: &str| Ok(ModelRoute { provider, model: model.to_owned() });
        match agent_model.split_once(':') {
            Some(("demo", _)) => route(Provider::Demo, "demo"),
            Some(("azure", deployment)) => {
                if self.config.azure_endpoint.is_none() || self.config.azure_api_key.is_none() {
                    return Err(LlmError::NotConfigured {
                        provider: "Azure OpenAI",
                        variables: "AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_API_KEY",
                    });
                }
                route(Provider::Azure, deployment)
            }
            Some(("qwen" | "dashscope", model)) => {
                if self.config.dashscope_api_key.is_none() {
                    return Err(LlmError::NotConfigured {
                        provider: "Qwen (DashScope)",
                        variables: "DASHSCOPE_API_KEY",
                    });
                }
                route(Provider::DashScope, model)
            }
            Some(("openai", model)) => {
                if !self.openai_configured() {
                    return Err(LlmError::NotConfigured {
                        provider: "The OpenAI-compatible endpoint",
                        variables: "OPENAI_API_KEY or OPENAI_BASE_URL",
                    });
                }
                route(Provider::OpenAi, model)
            }
            _ if agent_model == "demo" => route(Provider::Demo, "demo"),
            _ if self.openai_configured() => route(Provider::OpenAi, agent_model),
            _ => route(Provider::Demo, "demo"),
        }
    }

    /// Starts a reply and returns once the first token has arrived (or the reply ended empty).
    /// Failures before the first token are retried with backoff; after it, never.
    pub async fn open(&self, route: &ModelRoute, request: &ChatRequest) -> Result<ReplyStream, LlmError> {
        if route.provider == Provider::Demo {
            return Ok(ReplyStream {
                buffered: VecDeque::new(),
                source: demo::stream(request, self.config.demo_token_delay),
                idle_timeout: self.config.idle_timeout.max(self.config.demo_token_delay * 4),
            });
        }
        let mut attempt = 0;
        loop {
            let timeout = self.config.first_token_timeout;
            let outcome = match tokio::time::timeout(timeout, self.first_chunk(route, request)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(LlmError::FirstTokenTimeout(timeout.as_secs().max(1))),
            };
            match outcome {
                Ok((buffered, source)) => {
                    return Ok(ReplyStream { buffered, source, idle_timeout: self.config.idle_timeout });
                }
                Err(error) if error.is_retryable() && attempt < self.config.max_retries => {
                    let delay = backoff(attempt, &error);
                    tracing::warn!(provider = route.provider.as_str(), attempt, error = %error, ?delay, "retrying the model request");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Sends the request and reads until the first text or tool call (usage-only chunks are kept).
    async fn first_chunk(
        &self,
        route: &ModelRoute,
        request: &ChatRequest,
    ) -> Result<(VecDeque<Chunk>, BoxStream<'static, Result<Chunk, LlmError>>), LlmError> {
        let endpoint = self.endpoint(route)?;
        let mut source = openai::stream_chat(&self.http, endpoint, &route.model, request).await?;
        let mut buffered = VecDeque::new();
        while let Some(item) = source.next().await {
            let chunk = item?;
            // A reply that only calls a tool has no text: its call is its first token.
            let is_answer = matches!(chunk, Chunk::Text(_) | Chunk::ToolCall(_));
            buffered.push_back(chunk);
            if is_answer {
                break;
            }
        }
        Ok((buffered, source))
    }

    fn endpoint(&self, route: &ModelRoute) -> Result<openai::Endpoint, LlmError> {
        let config = &self.config;
        Ok(match route.provider {
            Provider::OpenAi => openai::Endpoint {
                url: format!(
                    "{}/chat/completions",
                    config.openai_base_url.as_deref().unwrap_or(DEFAULT_OPENAI_BASE_URL)
                ),
                auth: config.openai_api_key.as_ref().map(|k| openai::Auth::Bearer(k.clone())),
            },
            Provider::DashScope => openai::Endpoint {
                url: format!("{}/chat/completions", config.dashscope_base_url),
                auth: config.dashscope_api_key.as_ref().map(|k| openai::Auth::Bearer(k.clone())),
            },
            Provider::Azure => {
                let (Some(endpoint), Some(key)) = (&config.azure_endpoint, &config.azure_api_key) else {
                    return Err(LlmError::NotConfigured {
                        provider: "Azure OpenAI",
                        variables: "AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_API_KEY",
                    });
                };
                openai::Endpoint {
                    url: format!(
                        "{endpoint}/openai/deployments/{}/chat/completions?api-version={}",
                        percent_encode_segment(&route.model),
                        config.azure_api_version
                    ),
                    auth: Some(openai::Auth::ApiKey(key.clone())),
                }
            }
            // `open` serves the demo model itself; it never needs an endpoint.
            Provider::Demo => return Err(LlmError::Upstream("the demo model has no endpoint".to_owned())),
        })
    }
}

/// Exponential backoff with jitter; a provider's own `Retry-After` wins when it is short.
fn backoff(attempt: u32, error: &LlmError) -> Duration {
    if let LlmError::Status { retry_after: Some(wait), .. } = error {
        if *wait <= Duration::from_secs(10) {
            return *wait;
        }
    }
    let base = Duration::from_millis(250) * 2u32.pow(attempt.min(6));
    base + Duration::from_millis(rand::random_range(0..100))
}

/// Characters that stay as they are in a URL path segment (RFC 3986 "unreserved").
const PATH_SEGMENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

fn percent_encode_segment(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, PATH_SEGMENT).to_string()
}

/// A rough token count (about four characters per token) for when a provider reports none.
pub fn estimate_tokens(text: &str) -> i64 {
    (text.chars().count() as i64 + 3) / 4
}

#[cfg(test)]
mod tests {
    use super::*;

    fn models(vars: &[(&str, &str)]) -> LanguageModels {
        let config = LlmConfig::from_env(&settings::Env::from_pairs(vars)).unwrap();
        LanguageModels::new(&config).unwrap()
    }

    #[test]
    fn without_providers_everything_is_the_demo_model() {
        let models = models(&[]);
        assert!(models.demo_only());
        assert_eq!(models.route("gpt-4o-mini").unwrap().provider, Provider::Demo);
        assert_eq!(models.route("demo").unwrap().label(), "demo");
        assert!(matches!(models.route("azure:gpt-4o"), Err(LlmError::NotConfigured { .. })));
        assert!(matches!(models.route("qwen:qwen-plus"), Err(LlmError::NotConfigured { .. })));
        // Every bare name is the demo model here, so the default list ("demo") allows it.
        assert!(models.is_allowed("gpt-4o-mini") && models.resolve("gpt-4o-mini").is_ok());
        assert!(!models.is_allowed("azure:gpt-4o"));
    }

    #[test]
    fn models_are_judged_as_resolved() {
        let models = models(&[("OPENAI_API_KEY", "k"), ("LLM_ALLOWED_MODELS", "demo,gpt-4o-mini,qwen:*")]);
        assert!(models.is_allowed("gpt-4o-mini") && models.is_allowed("openai:gpt-4o-mini"));
        assert!(!models.is_allowed("gpt-4o") && !models.is_allowed("openai:gpt-4o"));
        // Qwen is not configured: the name is judged as written, and the turn would say why it fails.
        assert!(models.is_allowed("qwen:qwen-plus"));
        assert!(matches!(models.resolve("qwen:qwen-plus"), Err(LlmError::NotConfigured { .. })));
        let refused = models.resolve("gpt-4o").unwrap_err();
        assert_eq!(refused, LlmError::NotAllowed { model: "gpt-4o".into(), allowed: "demo,gpt-4o-mini,qwen:*".into() });
        assert!(refused.to_string().contains("gpt-4o-mini"), "{refused}");
    }

    #[test]
    fn prefixes_pick_providers() {
        let models = models(&[
            ("OPENAI_API_KEY", "k"),
            ("AZURE_OPENAI_ENDPOINT", "https://x.openai.azure.com"),
            ("AZURE_OPENAI_API_KEY", "k"),
            ("DASHSCOPE_API_KEY", "k"),
        ]);
        assert!(!models.demo_only());
        assert_eq!(
            models.route("gpt-4o-mini").unwrap(),
            ModelRoute { provider: Provider::OpenAi, model: "gpt-4o-mini".into() }
        );
        assert_eq!(
            models.route("azure:my-gpt4o").unwrap(),
            ModelRoute { provider: Provider::Azure, model: "my-gpt4o".into() }
        );
        assert_eq!(models.route("qwen:qwen-plus").unwrap().label(), "qwen:qwen-plus");
        assert_eq!(models.route("demo").unwrap().provider, Provider::Demo);
        // Model names with colons (Ollama tags) go to the OpenAI-compatible endpoint whole.
        assert_eq!(
            models.route("llama3.1:8b").unwrap(),
            ModelRoute { provider: Provider::OpenAi, model: "llama3.1:8b".into() }
        );
    }

    #[test]
    fn azure_urls_name_the_deployment_and_version() {
        let models = models(&[("AZURE_OPENAI_ENDPOINT", "https://x.openai.azure.com/"), ("AZURE_OPENAI_API_KEY", "k")]);
        let endpoint = models.endpoint(&models.route("azure:gpt 4o").unwrap()).unwrap();
        assert_eq!(
            endpoint.url,
            "https://x.openai.azure.com/openai/deployments/gpt%204o/chat/completions?api-version=2024-10-21"
        );
    }

    #[test]
    fn only_transient_failures_are_retried() {
        assert!(LlmError::Status { status: 503, detail: String::new(), retry_after: None }.is_retryable());
        assert!(LlmError::Status { status: 429, detail: String::new(), retry_after: None }.is_retryable());
        assert!(!LlmError::Status { status: 401, detail: String::new(), retry_after: None }.is_retryable());
        assert!(LlmError::FirstTokenTimeout(1).is_retryable());
        assert!(!LlmError::IdleTimeout(1).is_retryable());
        let wait = backoff(
            0,
            &LlmError::Status { status: 429, detail: String::new(), retry_after: Some(Duration::from_secs(2)) },
        );
        assert_eq!(wait, Duration::from_secs(2));
        assert!(backoff(2, &LlmError::Connect(String::new())) >= Duration::from_millis(1000));
    }

    #[tokio::test]
    async fn a_call_streamed_over_http_is_assembled_and_its_result_goes_back() {
        use fake_llm::{FakeLlm, Reply};
        use serde_json::json;

        let fake =
            FakeLlm::start(Reply::words("On it.").with_tool_call("propose_task", json!({"title": "Brew tea"}))).await;
        fake.script([Reply::tool_call("propose_task", json!({"title": "Brew tea"}))]);
        let base_url = fake.base_url();
        let models = models(&[("OPENAI_BASE_URL", &base_url), ("LLM_MAX_RETRIES", "0")]);
        let route = models.route("gpt-4o-mini").unwrap();
        let parameters = json!({"type": "object", "properties": {"title": {"type": "string"}}});
        let mut request = ChatRequest {
            messages: vec![ChatMessage::user("Guest: make tea")],
            temperature: 0.2,
            max_tokens: 64,
            speaker_name: "Ada".into(),
            tools: vec![ToolSpec { name: "propose_task", description: "Propose a task.", parameters }],
            variant: 0,
        };
        let read_all = |mut reply: ReplyStream| async move {
            let mut chunks = Vec::new();
            while let Some(chunk) = reply.next().await {
                chunks.push(chunk.unwrap());
            }
            chunks
        };

        // A reply that is only a call opens like any other: the call is its first token.
        let only_call = read_all(models.open(&route, &request).await.unwrap()).await;
        let made =
            ToolCall { id: "call_1".into(), name: "propose_task".into(), arguments: r#"{"title":"Brew tea"}"#.into() };
        assert_eq!(
            only_call,
            vec![Chunk::ToolCall(made.clone()), Chunk::Usage(Usage { prompt_tokens: 17, completion_tokens: 4 })]
        );
        let sent = &fake.requests()[0].body;
        assert_eq!(sent["tools"][0]["type"], "function");
        assert_eq!(sent["tools"][0]["function"]["name"], "propose_task");

        request.messages.push(ChatMessage::assistant_calls("", vec![made]));
        request.messages.push(ChatMessage::tool_result("call_1", "Proposed."));
        let text_then_call = read_all(models.open(&route, &request).await.unwrap()).await;
        assert_eq!(
            text_then_call[..3],
            [
                Chunk::Text("On ".into()),
                Chunk::Text("it.".into()),
                Chunk::ToolCall(ToolCall {
                    id: "call_2".into(),
                    name: "propose_task".into(),
                    arguments: r#"{"title":"Brew tea"}"#.into()
                }),
            ]
        );
        let sent = &fake.requests()[1].body["messages"];
        assert_eq!(sent[1]["content"], serde_json::Value::Null);
        assert_eq!(sent[1]["tool_calls"][0]["id"], "call_1");
        assert_eq!(sent[2], json!({"role": "tool", "tool_call_id": "call_1", "content": "Proposed."}));
    }

    #[test]
    fn token_estimates_round_up() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("abcd"), 1);
        assert_eq!(estimate_tokens("abcde"), 2);
    }
}
