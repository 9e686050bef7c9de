//! The service layer's configuration: language-model providers, auto-mode turn-taking, access
//! and the limits on spending, read once at start-up.

use std::time::Duration;

use settings::{ConfigError, Env, Secret};

use crate::llm::allowed::{AllowedModels, Providers};
use crate::llm::PriceTable;

/// What the service layer needs to know from the environment.
#[derive(Debug, Clone)]
pub struct ServicesConfig {
    /// Language-model providers and how agents use them.
    pub llm: LlmConfig,
    /// `RUN_COOLDOWN_TURNS`: in auto mode, how many other turns an agent waits before speaking again.
    pub run_cooldown_turns: i64,
    /// `RUN_LEASE_SECONDS`: with several instances, how long a run or a queued reply stays with an
    /// instance that stopped renewing its lease before another one takes it over.
    pub run_lease: Duration,
    /// Who may create an account and what guests may do.
    pub access: AccessConfig,
    /// What one person (or all guests together) may spend and how fast they may write.
    pub limits: LimitsConfig,
}

/// Limits on what people may use of the server, so an account cannot spend the operator's model
/// keys without bound. Zero turns a budget or a rate limit off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitsConfig {
    /// `RUNS_MAX_PER_USER`: auto-dialogue runs one person may have going at once.
    pub runs_per_user: i64,
    /// `MAX_AGENTS_PER_ROOM`: agents a room may hold, inactive ones included.
    pub agents_per_room: i64,
    /// `USER_DAILY_TOKENS`: tokens of paid generations one person may use per UTC day (0: no limit).
    pub user_daily_tokens: i64,
    /// `GUEST_DAILY_TOKENS`: the same for all guests together (0: no limit).
    pub guest_daily_tokens: i64,
    /// `WRITE_RATE_PER_MINUTE`: writes one person may make per minute (0: no limit).
    pub writes_per_minute: u32,
    /// `WRITE_RATE_PER_ADDRESS_PER_MINUTE`: writes from one client address per minute (0: no limit).
    pub writes_per_address_per_minute: u32,
}

impl LimitsConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            runs_per_user: env.number("RUNS_MAX_PER_USER", 3, 1..=10_000)?,
            agents_per_room: env.number("MAX_AGENTS_PER_ROOM", 50, 1..=10_000)?,
            user_daily_tokens: env.number("USER_DAILY_TOKENS", 200_000, 0..=i64::MAX)?,
            guest_daily_tokens: env.number("GUEST_DAILY_TOKENS", 50_000, 0..=i64::MAX)?,
            writes_per_minute: env.number("WRITE_RATE_PER_MINUTE", 60, 0..=1_000_000)?,
            writes_per_address_per_minute: env.number("WRITE_RATE_PER_ADDRESS_PER_MINUTE", 120, 0..=1_000_000)?,
        })
    }
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
    /// `LLM_REPLY_TIMEOUT_MS`: the longest a reply may stream from its first token on; a provider
    /// that never ends is cut there.
    pub reply_timeout: Duration,
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
    /// `LLM_ALLOWED_MODELS`: the models agents may use; by default derived from the providers.
    pub allowed_models: AllowedModels,
    /// `LLM_MAX_CONCURRENT`: generations from paid providers in flight at once, server-wide.
    pub max_concurrent: usize,
}

pub const DEFAULT_OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
pub const DEFAULT_DASHSCOPE_BASE_URL: &str = "https://dashscope-intl.aliyuncs.com/compatible-mode/v1";
pub const DEFAULT_AZURE_API_VERSION: &str = "2024-10-21";

impl ServicesConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            llm: LlmConfig::from_env(env)?,
            run_cooldown_turns: env.number("RUN_COOLDOWN_TURNS", 1, 0..=11)?,
            run_lease: env.seconds("RUN_LEASE_SECONDS", 10, 2..=600)?,
            access: AccessConfig::from_env(env)?,
            limits: LimitsConfig::from_env(env)?,
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
        let openai_base_url = env.base_url("OPENAI_BASE_URL");
        let openai_api_key = env.secret("OPENAI_API_KEY");
        let azure_endpoint = env.base_url("AZURE_OPENAI_ENDPOINT");
        let azure_api_key = env.secret("AZURE_OPENAI_API_KEY");
        let dashscope_api_key = env.secret("DASHSCOPE_API_KEY");
        let providers = Providers {
            openai: openai_base_url.is_some() || openai_api_key.is_some(),
            openai_key: openai_api_key.is_some(),
            azure: azure_endpoint.is_some() && azure_api_key.is_some(),
            dashscope: dashscope_api_key.is_some(),
        };
        let default_models = AllowedModels::defaults(providers).to_string();
        Ok(Self {
            allowed_models: env.parse_or("LLM_ALLOWED_MODELS", &default_models, AllowedModels::parse)?,
            max_concurrent: env.number("LLM_MAX_CONCURRENT", 32, 1..=10_000)?,
            openai_base_url,
            openai_api_key,
            azure_endpoint,
            azure_api_key,
            azure_api_version: env.text_or("AZURE_OPENAI_API_VERSION", DEFAULT_AZURE_API_VERSION),
            dashscope_api_key,
            dashscope_base_url: env
                .base_url("DASHSCOPE_BASE_URL")
                .unwrap_or_else(|| DEFAULT_DASHSCOPE_BASE_URL.to_owned()),
            connect_timeout: env.millis("LLM_CONNECT_TIMEOUT_MS", 10_000, 1..=u64::from(u32::MAX))?,
            first_token_timeout: env.millis("LLM_FIRST_TOKEN_TIMEOUT_MS", 60_000, 1..=u64::from(u32::MAX))?,
            idle_timeout: env.millis("LLM_IDLE_TIMEOUT_MS", 30_000, 1..=u64::from(u32::MAX))?,
            reply_timeout: env.millis("LLM_REPLY_TIMEOUT_MS", 300_000, 1..=u64::from(u32::MAX))?,
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
        assert_eq!(config.run_lease, Duration::from_secs(10));
        assert_eq!(config.access.signup, SignupPolicy::Open);
        assert_eq!(config.access.guests, GuestAccess::Read);
        assert_eq!(config.llm.openai_base_url, None);
        assert_eq!(config.llm.max_retries, 2);
        assert_eq!(config.llm.context_tokens, 4000);
        assert_eq!(config.llm.demo_token_delay, Duration::from_millis(40));
        assert_eq!(config.llm.prices.cost("gpt-4o-mini", "gpt-4o-mini", 1_000_000, 0), Some(0.15));
        assert_eq!(config.llm.allowed_models.to_string(), "demo");
        assert_eq!(config.llm.max_concurrent, 32);
        assert_eq!(
            config.limits,
            LimitsConfig {
                runs_per_user: 3,
                agents_per_room: 50,
                user_daily_tokens: 200_000,
                guest_daily_tokens: 50_000,
                writes_per_minute: 60,
                writes_per_address_per_minute: 120,
            }
        );
    }

    #[test]
    fn limits_are_read_and_zero_turns_budgets_and_rates_off() {
        let config = config(&[
            ("OPENAI_API_KEY", "k"),
            ("LLM_ALLOWED_MODELS", "demo, gpt-4o-mini"),
            ("LLM_MAX_CONCURRENT", "4"),
            ("RUNS_MAX_PER_USER", "1"),
            ("MAX_AGENTS_PER_ROOM", "20"),
            ("USER_DAILY_TOKENS", "0"),
            ("GUEST_DAILY_TOKENS", "10"),
            ("WRITE_RATE_PER_MINUTE", "0"),
            ("WRITE_RATE_PER_ADDRESS_PER_MINUTE", "7"),
        ])
        .unwrap();
        assert_eq!(config.llm.allowed_models.to_string(), "demo,gpt-4o-mini");
        assert_eq!(config.llm.max_concurrent, 4);
        assert_eq!((config.limits.runs_per_user, config.limits.agents_per_room), (1, 20));
        assert_eq!((config.limits.user_daily_tokens, config.limits.guest_daily_tokens), (0, 10));
        assert_eq!((config.limits.writes_per_minute, config.limits.writes_per_address_per_minute), (0, 7));
    }

    #[test]
    fn the_default_model_list_follows_the_providers() {
        let models = |vars: &[(&str, &str)]| config(vars).unwrap().llm.allowed_models.to_string();
        assert_eq!(models(&[("OPENAI_API_KEY", "k")]), "demo,gpt-4o-mini,gpt-4o,gpt-4.1*,o4-mini");
        assert_eq!(models(&[("OPENAI_BASE_URL", "http://127.0.0.1:11434/v1")]), "demo,*");
        assert_eq!(
            models(&[("AZURE_OPENAI_ENDPOINT", "https://x.openai.azure.com"), ("AZURE_OPENAI_API_KEY", "k")]),
            "demo,azure:*"
        );
        assert_eq!(models(&[("AZURE_OPENAI_ENDPOINT", "https://x.openai.azure.com")]), "demo");
        assert_eq!(models(&[("DASHSCOPE_API_KEY", "k")]), "demo,qwen:*");
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
        for variable in [
            "LLM_MAX_CONCURRENT",
            "RUNS_MAX_PER_USER",
            "MAX_AGENTS_PER_ROOM",
            "USER_DAILY_TOKENS",
            "GUEST_DAILY_TOKENS",
            "WRITE_RATE_PER_MINUTE",
            "WRITE_RATE_PER_ADDRESS_PER_MINUTE",
        ] {
            assert_eq!(config(&[(variable, "-1")]).unwrap_err().variable, variable);
        }
        assert_eq!(config(&[("LLM_MAX_CONCURRENT", "0")]).unwrap_err().variable, "LLM_MAX_CONCURRENT");
        assert_eq!(config(&[("LLM_ALLOWED_MODELS", ",")]).unwrap_err().variable, "LLM_ALLOWED_MODELS");
        let prices = config(&[("LLM_PRICES", "gpt=1")]).unwrap_err();
        assert_eq!(prices.variable, "LLM_PRICES");
        assert!(prices.problem.contains("gpt=1"), "{prices}");
    }
}
