//! The one typed configuration, read once from the environment at start-up.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use thiserror::Error;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line, for machines (the default).
    Json,
    /// Coloured, multi-line output for people at a terminal.
    Pretty,
}

/// A value that must never appear in logs; `Debug` shows it redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A database URL whose password is hidden when printed.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_postgres(&self) -> bool {
        self.0.starts_with("postgres://") || self.0.starts_with("postgresql://")
    }

    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        let Some(scheme_end) = self.0.find("://") else { return self.0.clone() };
        let rest = &self.0[scheme_end + 3..];
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        match (authority.rfind('@'), authority.find(':')) {
            (Some(at), Some(colon)) if colon < at => {
                format!("{}{}:***{}", &self.0[..scheme_end + 3], &authority[..colon], &rest[at..])
            }
            _ => self.0.clone(),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// `LEPTOS_SITE_ADDR`: where the server listens.
    pub site_addr: SocketAddr,
    /// `LEPTOS_SITE_ROOT`: the folder holding the built browser bundle and static files.
    pub site_root: String,
    /// `DATABASE_URL`: `sqlite:...` (embedded) or `postgres://...`.
    pub database_url: DatabaseUrl,
    /// `DATABASE_MAX_CONNECTIONS`: the pool's upper bound.
    pub database_max_connections: u32,
    /// `RUST_LOG`: the tracing filter.
    pub log_filter: String,
    /// `LOG_FORMAT`: `json` or `pretty`.
    pub log_format: LogFormat,
    /// `SHUTDOWN_GRACE_SECONDS`: how long shutdown waits for work in flight.
    pub shutdown_grace: Duration,
    /// `SSE_KEEPALIVE_SECONDS`: how often an idle live stream sends a keep-alive comment.
    pub sse_keep_alive: Duration,
    /// `RUN_COOLDOWN_TURNS`: in auto mode, how many other turns an agent waits before speaking again.
    pub run_cooldown_turns: i64,
    /// Language-model providers and how agents use them.
    pub llm: LlmConfig,
    /// The control plane's gateway: its folder, time limits and rate limits (`GATEWAY_*`).
    pub gateway: gateway::GatewayConfig,
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
    pub prices: String,
    /// `DEMO_TOKEN_DELAY_MS`: the pace of the offline demo model.
    pub demo_token_delay: Duration,
}

pub const DEFAULT_OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
pub const DEFAULT_DASHSCOPE_BASE_URL: &str = "https://dashscope-intl.aliyuncs.com/compatible-mode/v1";
pub const DEFAULT_AZURE_API_VERSION: &str = "2024-10-21";

/// A variable that is set but cannot be used.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

pub const DEFAULT_SITE_ADDR: &str = "127.0.0.1:3000";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/app.db?mode=rwc";

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());

        let site_addr = parse_or(&get, "LEPTOS_SITE_ADDR", DEFAULT_SITE_ADDR, |v| {
            v.parse::<SocketAddr>().map_err(|_| "expected host:port, e.g. 127.0.0.1:3000".to_owned())
        })?;

        let database_url = get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        let database_url = DatabaseUrl(database_url);
        if !(database_url.is_postgres() || database_url.0.starts_with("sqlite:")) {
            return Err(ConfigError {
                variable: "DATABASE_URL",
                problem: "expected a sqlite: or postgres:// URL".to_owned(),
            });
        }

        let database_max_connections = parse_or(&get, "DATABASE_MAX_CONNECTIONS", "10", |v| match v.parse::<u32>() {
            Ok(n) if (1..=1000).contains(&n) => Ok(n),
            _ => Err("expected a whole number from 1 to 1000".to_owned()),
        })?;

        let log_format = parse_or(&get, "LOG_FORMAT", "json", |v| match v.to_ascii_lowercase().as_str() {
            "json" => Ok(LogFormat::Json),
            "pretty" => Ok(LogFormat::Pretty),
            _ => Err("expected json or pretty".to_owned()),
        })?;

        let shutdown_grace = parse_or(&get, "SHUTDOWN_GRACE_SECONDS", "10", |v| {
            v.parse::<u64>().map(Duration::from_secs).map_err(|_| "expected a whole number of seconds".to_owned())
        })?;

        let millis = |variable: &'static str, default: &str| {
            parse_or(&get, variable, default, |v| match v.parse::<u64>() {
                Ok(n) if n >= 1 => Ok(Duration::from_millis(n)),
                _ => Err("expected a positive whole number of milliseconds".to_owned()),
            })
        };
        let llm = LlmConfig {
            openai_base_url: get("OPENAI_BASE_URL").map(|v| v.trim_end_matches('/').to_owned()),
            openai_api_key: get("OPENAI_API_KEY").map(Secret::new),
            azure_endpoint: get("AZURE_OPENAI_ENDPOINT").map(|v| v.trim_end_matches('/').to_owned()),
            azure_api_key: get("AZURE_OPENAI_API_KEY").map(Secret::new),
            azure_api_version: get("AZURE_OPENAI_API_VERSION").unwrap_or_else(|| DEFAULT_AZURE_API_VERSION.to_owned()),
            dashscope_api_key: get("DASHSCOPE_API_KEY").map(Secret::new),
            dashscope_base_url: get("DASHSCOPE_BASE_URL")
                .map(|v| v.trim_end_matches('/').to_owned())
                .unwrap_or_else(|| DEFAULT_DASHSCOPE_BASE_URL.to_owned()),
            connect_timeout: millis("LLM_CONNECT_TIMEOUT_MS", "10000")?,
            first_token_timeout: millis("LLM_FIRST_TOKEN_TIMEOUT_MS", "60000")?,
            idle_timeout: millis("LLM_IDLE_TIMEOUT_MS", "30000")?,
            max_retries: parse_or(&get, "LLM_MAX_RETRIES", "2", |v| match v.parse::<u32>() {
                Ok(n) if n <= 10 => Ok(n),
                _ => Err("expected a whole number from 0 to 10".to_owned()),
            })?,
            context_tokens: parse_or(&get, "LLM_CONTEXT_TOKENS", "4000", |v| match v.parse::<usize>() {
                Ok(n) if n >= 100 => Ok(n),
                _ => Err("expected a whole number of at least 100".to_owned()),
            })?,
            max_output_tokens: parse_or(&get, "LLM_MAX_OUTPUT_TOKENS", "1024", |v| match v.parse::<u32>() {
                Ok(n) if n >= 1 => Ok(n),
                _ => Err("expected a positive whole number".to_owned()),
            })?,
            prices: get("LLM_PRICES").unwrap_or_default(),
            demo_token_delay: parse_or(&get, "DEMO_TOKEN_DELAY_MS", "40", |v| {
                v.parse::<u64>()
                    .map(Duration::from_millis)
                    .map_err(|_| "expected a whole number of milliseconds".to_owned())
            })?,
        };

        let sse_keep_alive = parse_or(&get, "SSE_KEEPALIVE_SECONDS", "15", |v| match v.parse::<u64>() {
            Ok(n) if (1..=300).contains(&n) => Ok(Duration::from_secs(n)),
            _ => Err("expected a whole number of seconds from 1 to 300".to_owned()),
        })?;

        let run_cooldown_turns = parse_or(&get, "RUN_COOLDOWN_TURNS", "1", |v| match v.parse::<i64>() {
            Ok(n) if (0..=11).contains(&n) => Ok(n),
            _ => Err("expected a whole number from 0 to 11".to_owned()),
        })?;

        let gateway = gateway::GatewayConfig::from_lookup(&lookup)
            .map_err(|e| ConfigError { variable: e.variable, problem: e.problem })?;

        Ok(Config {
            gateway,
            llm,
            sse_keep_alive,
            run_cooldown_turns,
            site_addr,
            site_root: get("LEPTOS_SITE_ROOT").unwrap_or_else(|| "target/site".to_owned()),
            database_url,
            database_max_connections,
            log_filter: get("RUST_LOG").unwrap_or_else(|| "info".to_owned()),
            log_format,
            shutdown_grace,
        })
    }
}

fn parse_or<T>(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<T, ConfigError> {
    let value = get(variable).unwrap_or_else(|| default.to_owned());
    parse(&value).map_err(|problem| ConfigError { variable, problem: format!("{problem} (got {value:?})") })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_serve_locally_on_an_embedded_database() {
        let config = config(&[]).unwrap();
        assert_eq!(config.site_addr, "127.0.0.1:3000".parse().unwrap());
        assert_eq!(config.database_url.expose(), "sqlite://data/app.db?mode=rwc");
        assert!(!config.database_url.is_postgres());
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.log_filter, "info");
        assert_eq!(config.database_max_connections, 10);
        assert_eq!(config.shutdown_grace, Duration::from_secs(10));
        assert_eq!(config.site_root, "target/site");
    }

    #[test]
    fn every_variable_is_read() {
        let config = config(&[
            ("LEPTOS_SITE_ADDR", "0.0.0.0:8080"),
            ("DATABASE_URL", "postgres://app:hunter2@db:5432/chat"),
            ("DATABASE_MAX_CONNECTIONS", "25"),
            ("RUST_LOG", "debug,sqlx=warn"),
            ("LOG_FORMAT", "Pretty"),
            ("SHUTDOWN_GRACE_SECONDS", "3"),
            ("LEPTOS_SITE_ROOT", "/srv/site"),
        ])
        .unwrap();
        assert_eq!(config.site_addr, "0.0.0.0:8080".parse().unwrap());
        assert!(config.database_url.is_postgres());
        assert_eq!(config.database_max_connections, 25);
        assert_eq!(config.log_filter, "debug,sqlx=warn");
        assert_eq!(config.log_format, LogFormat::Pretty);
        assert_eq!(config.shutdown_grace, Duration::from_secs(3));
        assert_eq!(config.site_root, "/srv/site");
    }

    #[test]
    fn empty_values_fall_back_to_defaults() {
        let config = config(&[("LOG_FORMAT", "  "), ("DATABASE_URL", "")]).unwrap();
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.database_url.expose(), DEFAULT_DATABASE_URL);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = config(&[("LEPTOS_SITE_ADDR", "localhost")]).unwrap_err();
        assert_eq!(err.variable, "LEPTOS_SITE_ADDR");
        assert!(err.problem.contains("localhost"));
        assert_eq!(config(&[("LOG_FORMAT", "xml")]).unwrap_err().variable, "LOG_FORMAT");
        assert_eq!(config(&[("DATABASE_URL", "mysql://x")]).unwrap_err().variable, "DATABASE_URL");
        assert_eq!(config(&[("DATABASE_MAX_CONNECTIONS", "0")]).unwrap_err().variable, "DATABASE_MAX_CONNECTIONS");
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
        ])
        .unwrap();
        assert_eq!(settings.llm.openai_base_url.as_deref(), Some("http://127.0.0.1:11434/v1"));
        assert_eq!(settings.llm.first_token_timeout, Duration::from_millis(1500));
        assert_eq!(settings.llm.max_retries, 0);
        assert_eq!(settings.llm.azure_api_version, DEFAULT_AZURE_API_VERSION);
        let printed = format!("{settings:?}");
        for secret in ["sk-secret-1", "az-secret-2", "ds-secret-3"] {
            assert!(!printed.contains(secret), "{secret} leaked: {printed}");
        }
        assert_eq!(config(&[("LLM_IDLE_TIMEOUT_MS", "0")]).unwrap_err().variable, "LLM_IDLE_TIMEOUT_MS");
    }

    #[test]
    fn debug_output_hides_the_database_password() {
        let config = config(&[("DATABASE_URL", "postgres://app:hunter2@db:5432/chat")]).unwrap();
        let printed = format!("{config:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("postgres://app:***@db:5432/chat"), "{printed}");
        assert_eq!(format!("{:?}", Secret::new("sk-123")), "Secret(***)");
    }
}
