//! The service layer's configuration: language-model providers and auto-mode turn-taking,
//! read once at start-up.

use std::time::Duration;

use settings::{ConfigError, Env, Secret};

use crate::llm::PriceTable;

/// What the service layer needs to know from the environment.
#[derive(Debug, Clone)]
pub struct ServicesConfig {
    /// Language-model providers and how agents use them.
    pub llm: LlmConfig,
    /// `RUN_COOLDOWN_TURNS`: in auto mode, how many other turns an agent waits before speaking again.
    pub run_cooldown_turns: i64,
    /// Who may create an account and what guests may do.
    pub access: AccessConfig,
}

/// `SIGNUP`: who may create an account. The first account may always be created; it becomes
/// the admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignupPolicy {
    /// Anyone.
    Open,
    /// Only addresses an admin invited.
    Invite,
    /// Nobody but the first account.
    Closed,
}

/// `GUEST_ACCESS`: what people who are not signed in may do in `demo` rooms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestAccess {
    Off,
    Read,
    Send,
}

#[derive(Debug, Clone)]
pub struct AccessConfig {
    pub signup: SignupPolicy,
    pub guests: GuestAccess,
}

impl AccessConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let signup = env.parse_or("SIGNUP", "open", |v| match v.to_ascii_lowercase().as_str() {
            "open" => Ok(SignupPolicy::Open),
            "invite" => Ok(SignupPolicy::Invite),
            "closed" => Ok(SignupPolicy::Closed),
            _ => Err("expected open, invite or closed".to_owned()),
        })?;
        let guests = env.parse_or("GUEST_ACCESS", "read", |v| match v.to_ascii_lowercase().as_str() {
            "off" => Ok(GuestAccess::Off),
            "read" => Ok(GuestAccess::Read),
            "send" => Ok(GuestAccess::Send),
            _ => Err("expected off, read or send".to_owned()),
        })?;
        Ok(Self { signup, guests })
    }
}

/// Where agents' replies come from and the limits on asking for them.
#[derive(Debug, Clone)]
pub struct LlmConfig {
    /// `OPENAI_BASE_URL`, when set explicitly (OpenAI itself, or a local Ollama/llama.cpp/vLLM server).
    pub openai_base_url: Option<String>,
    /// `OPENAI_API_KEY`.
    pub openai_api_key: Option<Secret>,
    /// `AZURE_OPENAI_ENDPOINT`, e.g. `https://my-resource.openai.azure.com`.
    pub azure_endpoint: Option<String>,
    /// `AZURE_OPENAI_API_KEY`.
    pub azure_api_key: Option<Secret>,
    /// `AZURE_OPENAI_API_VERSION`.
    pub azure_api_version: String,
    /// `DASHSCOPE_API_KEY`: Qwen models through DashScope's OpenAI-compatible mode.
    pub dashscope_api_key: Option<Secret>,
    /// `DASHSCOPE_BASE_URL`.
    pub dashscope_base_url: String,
    /// `LLM_CONNECT_TIMEOUT_MS`.
    pub connect_timeout: Duration,
    /// `LLM_FIRST_TOKEN_TIMEOUT_MS`: from sending the request to the first token.
    pub first_token_timeout: Duration,
    /// `LLM_IDLE_TIMEOUT_MS`: the longest pause allowed between two tokens.
    pub idle_timeout: Duration,
    /// `LLM_MAX_RETRIES`: attempts after the first, only before any token arrived.
    pub max_retries: u32,
    /// `LLM_CONTEXT_TOKENS`: how much room history (estimated tokens) goes with each request.
    pub context_tokens: usize,
    /// `LLM_MAX_OUTPUT_TOKENS`: the longest reply asked for.
    pub max_output_tokens: u32,
    /// `LLM_PRICES`: `model=input/output;...` in US dollars per million tokens, added to the built-in table.
    pub prices: PriceTable,
    /// `DEMO_TOKEN_DELAY_MS`: the pace of the offline demo model.
    pub demo_token_delay: Duration,
}

pub const DEFAULT_OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
pub const DEFAULT_DASHSCOPE_BASE_URL: &str = "https://dashscope-intl.aliyuncs.com/compatible-mode/v1";
pub const DEFAULT_AZURE_API_VERSION: &str = "2024-10-21";

impl ServicesConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            llm: LlmConfig::from_env(env)?,
            run_cooldown_turns: env.number("RUN_COOLDOWN_TURNS", 1, 0..=11)?,
            access: AccessConfig::from_env(env)?,
        })
    }
}

impl Default for ServicesConfig {
    /// Every default: the offline demo model and nothing else.
    fn default() -> Self {
        Self::from_env(&Env::from_lookup(|_| None)).unwrap_or_else(|_| unreachable!("the defaults are valid"))
    }
}

impl LlmConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            openai_base_url: env.base_url("OPENAI_BASE_URL"),
            openai_api_key: env.secret("OPENAI_API_KEY"),
            azure_endpoint: env.base_url("AZURE_OPENAI_ENDPOINT"),
            azure_api_key: env.secret("AZURE_OPENAI_API_KEY"),
            azure_api_version: env.text_or("AZURE_OPENAI_API_VERSION", DEFAULT_AZURE_API_VERSION),
            dashscope_api_key: env.secret("DASHSCOPE_API_KEY"),
            dashscope_base_url: env
                .base_url("DASHSCOPE_BASE_URL")
                .unwrap_or_else(|| DEFAULT_DASHSCOPE_BASE_URL.to_owned()),
            connect_timeout: env.millis("LLM_CONNECT_TIMEOUT_MS", 10_000, 1..=u64::from(u32::MAX))?,
            first_token_timeout: env.millis("LLM_FIRST_TOKEN_TIMEOUT_MS", 60_000, 1..=u64::from(u32::MAX))?,
            idle_timeout: env.millis("LLM_IDLE_TIMEOUT_MS", 30_000, 1..=u64::from(u32::MAX))?,
            max_retries: env.number("LLM_MAX_RETRIES", 2, 0..=10)?,
            context_tokens: env.number("LLM_CONTEXT_TOKENS", 4000, 100..=10_000_000)?,
            max_output_tokens: env.number("LLM_MAX_OUTPUT_TOKENS", 1024, 1..=10_000_000)?,
            prices: env.parse_or("LLM_PRICES", "", PriceTable::with_overrides)?,
            demo_token_delay: env.millis("DEMO_TOKEN_DELAY_MS", 40, 0..=60_000)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<ServicesConfig, ConfigError> {
        ServicesConfig::from_env(&Env::from_pairs(vars))
    }

    #[test]
    fn defaults_use_the_demo_model() {
        let config = config(&[]).unwrap();
        assert_eq!(config.run_cooldown_turns, 1);
        assert_eq!(config.access.signup, SignupPolicy::Open);
        assert_eq!(config.access.guests, GuestAccess::Read);
        assert_eq!(config.llm.openai_base_url, None);
        assert_eq!(config.llm.max_retries, 2);
        assert_eq!(config.llm.context_tokens, 4000);
        assert_eq!(config.llm.demo_token_delay, Duration::from_millis(40));
        assert_eq!(config.llm.prices.cost("gpt-4o-mini", "gpt-4o-mini", 1_000_000, 0), Some(0.15));
    }

    #[test]
    fn provider_settings_are_read_and_keys_redacted() {
        let settings = config(&[
            ("OPENAI_BASE_URL", "http://127.0.0.1:11434/v1/"),
            ("OPENAI_API_KEY", "sk-secret-1"),
            ("AZURE_OPENAI_ENDPOINT", "https://res.openai.azure.com"),
            ("AZURE_OPENAI_API_KEY", "az-secret-2"),
            ("DASHSCOPE_API_KEY", "ds-secret-3"),
            ("LLM_FIRST_TOKEN_TIMEOUT_MS", "1500"),
            ("LLM_MAX_RETRIES", "0"),
            ("RUN_COOLDOWN_TURNS", "3"),
        ])
        .unwrap();
        assert_eq!(settings.llm.openai_base_url.as_deref(), Some("http://127.0.0.1:11434/v1"));
        assert_eq!(settings.llm.first_token_timeout, Duration::from_millis(1500));
        assert_eq!(settings.llm.max_retries, 0);
        assert_eq!(settings.llm.azure_api_version, DEFAULT_AZURE_API_VERSION);
        assert_eq!(settings.run_cooldown_turns, 3);
        let printed = format!("{settings:?}");
        for secret in ["sk-secret-1", "az-secret-2", "ds-secret-3"] {
            assert!(!printed.contains(secret), "{secret} leaked: {printed}");
        }
    }

    #[test]
    fn bad_values_name_the_variable() {
        assert_eq!(config(&[("LLM_IDLE_TIMEOUT_MS", "0")]).unwrap_err().variable, "LLM_IDLE_TIMEOUT_MS");
        assert_eq!(config(&[("RUN_COOLDOWN_TURNS", "12")]).unwrap_err().variable, "RUN_COOLDOWN_TURNS");
        assert_eq!(config(&[("LLM_CONTEXT_TOKENS", "99")]).unwrap_err().variable, "LLM_CONTEXT_TOKENS");
        assert_eq!(config(&[("SIGNUP", "maybe")]).unwrap_err().variable, "SIGNUP");
        assert_eq!(config(&[("GUEST_ACCESS", "all")]).unwrap_err().variable, "GUEST_ACCESS");
        let prices = config(&[("LLM_PRICES", "gpt=1")]).unwrap_err();
        assert_eq!(prices.variable, "LLM_PRICES");
        assert!(prices.problem.contains("gpt=1"), "{prices}");
    }
}
