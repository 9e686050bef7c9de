//! The model client against a fake OpenAI-compatible provider over real HTTP and SSE framing.

use std::time::Duration;

use fake_llm::{Ending, FakeLlm, Reply};
use services::config::LlmConfig;
use services::llm::{ChatMessage, ChatRequest, Chunk, LanguageModels, LlmError, ModelRoute, Provider, Usage};

fn models(vars: &[(&str, String)]) -> LanguageModels {
    let config = LlmConfig::from_env(&settings::Env::from_pairs(vars)).unwrap();
    LanguageModels::new(&config).unwrap()
}

fn openai(fake: &FakeLlm, extra: &[(&'static str, &str)]) -> LanguageModels {
    let mut vars = vec![("OPENAI_BASE_URL", fake.base_url()), ("OPENAI_API_KEY", "sk-test-key".to_owned())];
    vars.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    models(&vars)
}

fn request() -> ChatRequest {
    ChatRequest {
        messages: vec![ChatMessage::system("You are Ada."), ChatMessage::user("Guest: hello")],
        temperature: 0.3,
        max_tokens: 64,
        speaker_name: "Ada".into(),
        tools: Vec::new(),
        variant: 0,
    }
}

async fn collect(models: &LanguageModels, route: &ModelRoute) -> Result<(String, Option<Usage>), LlmError> {
    let mut stream = models.open(route, &request()).await?;
    let mut text = String::new();
    let mut usage = None;
    while let Some(chunk) = stream.next().await {
        match chunk? {
            Chunk::Text(t) => text.push_str(&t),
            Chunk::Usage(u) => usage = Some(u),
            Chunk::ToolCall(call) => panic!("no tools were offered, yet the model called {call:?}"),
        }
    }
    Ok((text, usage))
}

#[tokio::test]
async fn streams_tokens_and_reports_usage() {
    let fake = FakeLlm::start(Reply::words("Hello there, Guest!")).await;
    let models = openai(&fake, &[]);
    let route = models.route("gpt-4o-mini").unwrap();
    let (text, usage) = collect(&models, &route).await.unwrap();
    assert_eq!(text, "Hello there, Guest!");
    assert_eq!(usage, Some(Usage { prompt_tokens: 17, completion_tokens: 3 }));

    let sent = &fake.requests()[0];
    assert_eq!(sent.path_and_query, "/v1/chat/completions");
    assert_eq!(sent.headers["authorization"], "Bearer sk-test-key");
    assert_eq!(sent.body["model"], "gpt-4o-mini");
    assert_eq!(sent.body["stream"], true);
    assert_eq!(sent.body["stream_options"]["include_usage"], true);
    assert_eq!(sent.body["temperature"], 0.3);
    assert_eq!(sent.body["messages"][0]["role"], "system");
    assert_eq!(sent.body["messages"][0]["content"], "You are Ada.");
    assert_eq!(sent.body["messages"][1]["content"], "Guest: hello");
}

#[tokio::test]
async fn a_reply_without_usage_has_none() {
    let fake = FakeLlm::start(Reply::words("no usage here").without_usage()).await;
    let models = openai(&fake, &[]);
    let (text, usage) = collect(&models, &models.route("m").unwrap()).await.unwrap();
    assert_eq!(text, "no usage here");
    assert_eq!(usage, None);
}

#[tokio::test]
async fn azure_uses_the_deployment_url_and_api_key_header() {
    let fake = FakeLlm::start(Reply::words("from azure")).await;
    let models = models(&[
        ("AZURE_OPENAI_ENDPOINT", fake.endpoint()),
        ("AZURE_OPENAI_API_KEY", "az-key".to_owned()),
        ("AZURE_OPENAI_API_VERSION", "2024-06-01".to_owned()),
    ]);
    let route = models.route("azure:prod-gpt4o").unwrap();
    assert_eq!(route.provider, Provider::Azure);
    let (text, _) = collect(&models, &route).await.unwrap();
    assert_eq!(text, "from azure");
    let sent = &fake.requests()[0];
    assert_eq!(sent.path_and_query, "/openai/deployments/prod-gpt4o/chat/completions?api-version=2024-06-01");
    assert_eq!(sent.headers["api-key"], "az-key");
    assert!(sent.headers.get("authorization").is_none(), "Azure takes the key in api-key only");
}

#[tokio::test]
async fn qwen_goes_through_dashscope_compatible_mode() {
    let fake = FakeLlm::start(Reply::words("你好")).await;
    let models = models(&[("DASHSCOPE_API_KEY", "ds-key".to_owned()), ("DASHSCOPE_BASE_URL", fake.base_url())]);
    let (text, _) = collect(&models, &models.route("qwen:qwen-plus").unwrap()).await.unwrap();
    assert_eq!(text, "你好");
    let sent = &fake.requests()[0];
    assert_eq!(sent.body["model"], "qwen-plus");
    assert_eq!(sent.headers["authorization"], "Bearer ds-key");
}

#[tokio::test]
async fn client_errors_are_reported_with_the_providers_message_and_not_retried() {
    let fake =
        FakeLlm::start(Reply::Status { status: 401, message: "Incorrect API key provided".into(), retry_after: None })
            .await;
    let models = openai(&fake, &[]);
    let error = collect(&models, &models.route("m").unwrap()).await.unwrap_err();
    assert_eq!(error.to_string(), "The provider answered HTTP 401: Incorrect API key provided");
    assert_eq!(fake.request_count(), 1);
    assert!(!error.to_string().contains("sk-test-key"));
}

#[tokio::test]
async fn transient_errors_are_retried_with_backoff_before_the_first_token() {
    let fake = FakeLlm::start(Reply::words("finally")).await;
    fake.script([
        Reply::Status { status: 503, message: "overloaded".into(), retry_after: None },
        Reply::Status { status: 429, message: "slow down".into(), retry_after: Some(0) },
    ]);
    let models = openai(&fake, &[("LLM_MAX_RETRIES", "2")]);
    let (text, _) = collect(&models, &models.route("m").unwrap()).await.unwrap();
    assert_eq!(text, "finally");
    assert_eq!(fake.request_count(), 3);
}

#[tokio::test]
async fn retries_stop_at_the_limit() {
    let fake = FakeLlm::start(Reply::Status { status: 500, message: "boom".into(), retry_after: None }).await;
    let models = openai(&fake, &[("LLM_MAX_RETRIES", "1")]);
    let error = collect(&models, &models.route("m").unwrap()).await.unwrap_err();
    assert!(matches!(error, LlmError::Status { status: 500, .. }));
    assert_eq!(fake.request_count(), 2);
}

#[tokio::test]
async fn a_provider_that_never_answers_hits_the_first_token_timeout() {
    let fake = FakeLlm::start(Reply::Hang).await;
    let models = openai(&fake, &[("LLM_FIRST_TOKEN_TIMEOUT_MS", "300"), ("LLM_MAX_RETRIES", "1")]);
    // Without the timeout this would wait forever; the bound only keeps a broken build from hanging.
    let error = tokio::time::timeout(Duration::from_secs(30), collect(&models, &models.route("m").unwrap()))
        .await
        .expect("the first-token timeout ended the wait")
        .unwrap_err();
    assert!(matches!(error, LlmError::FirstTokenTimeout(_)), "{error:?}");
    let requests = fake.requests();
    assert_eq!(requests.len(), 2, "retried once");
    // The retry came only after the first request had waited out its timeout.
    assert!(requests[1].received_at - requests[0].received_at >= Duration::from_millis(300));
    assert!(fake.wait_for_hang_ups(2, Duration::from_secs(10)).await, "both abandoned requests were closed");
}

#[tokio::test]
async fn a_pause_between_tokens_hits_the_idle_timeout_and_keeps_the_text() {
    let fake = FakeLlm::start(Reply::words("partial words then").ending(Ending::Hang)).await;
    let models = openai(&fake, &[("LLM_IDLE_TIMEOUT_MS", "300")]);
    let mut stream = models.open(&models.route("m").unwrap(), &request()).await.unwrap();
    let mut text = String::new();
    // Without the idle timeout this would wait forever; the bound only keeps a broken build from hanging.
    let reading = async {
        loop {
            match stream.next().await {
                Some(Ok(Chunk::Text(t))) => text.push_str(&t),
                Some(Ok(Chunk::Usage(_) | Chunk::ToolCall(_))) => {}
                Some(Err(error)) => break error,
                None => panic!("the stream should fail, not end"),
            }
        }
    };
    let error = tokio::time::timeout(Duration::from_secs(30), reading).await.expect("the idle timeout ended the wait");
    assert_eq!(text, "partial words then");
    assert!(matches!(error, LlmError::IdleTimeout(_)), "{error:?}");
    assert_eq!(fake.request_count(), 1, "no retry after the first token");
}

#[tokio::test]
async fn a_broken_connection_midway_is_a_stream_error() {
    let fake = FakeLlm::start(Reply::words("cut off here").ending(Ending::Break)).await;
    let models = openai(&fake, &[]);
    let error = collect(&models, &models.route("m").unwrap()).await.unwrap_err();
    assert!(matches!(error, LlmError::Stream(_)), "{error:?}");
}

#[tokio::test]
async fn an_error_chunk_midway_is_reported() {
    let fake = FakeLlm::start(Reply::words("so far").ending(Ending::ErrorChunk("model overloaded".into()))).await;
    let models = openai(&fake, &[]);
    let error = collect(&models, &models.route("m").unwrap()).await.unwrap_err();
    assert_eq!(error, LlmError::Upstream("model overloaded".into()));
}

#[tokio::test]
async fn an_unreachable_provider_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let models =
        models(&[("OPENAI_BASE_URL", format!("http://127.0.0.1:{port}/v1")), ("LLM_MAX_RETRIES", "0".to_owned())]);
    let error = collect(&models, &models.route("m").unwrap()).await.unwrap_err();
    assert!(matches!(error, LlmError::Connect(_)), "{error:?}");
}

#[tokio::test]
async fn dropping_a_stream_closes_the_provider_connection() {
    let fake =
        FakeLlm::start(Reply::words("one two three four five six").with_token_delay(Duration::from_millis(100))).await;
    let models = openai(&fake, &[]);
    let mut stream = models.open(&models.route("m").unwrap(), &request()).await.unwrap();
    assert!(matches!(stream.next().await, Some(Ok(Chunk::Text(_)))));
    drop(stream);
    assert!(fake.wait_for_hang_ups(1, Duration::from_secs(10)).await, "the fake provider saw the client hang up");
}
