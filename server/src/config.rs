//! The one typed configuration of the whole server, read once from the environment at start-up:
//! where to listen and store, how to log and shut down, and the service layer's and the control
//! plane's own sections.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use gateway::GatewayConfig;
use services::ServicesConfig;
use settings::{ConfigError, Env};

use crate::http::client_address::TrustedProxies;

pub const DEFAULT_SITE_ADDR: &str = "127.0.0.1:3000";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/app.db?mode=rwc";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line, for machines (the default).
    Json,
    /// Coloured, multi-line output for people at a terminal.
    Pretty,
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

    /// The URL with any password — in the authority or as a `password=` query parameter —
    /// replaced by `***`.
    pub fn redacted(&self) -> String {
        let (url, query) = match self.0.split_once('?') {
            Some((url, query)) => (url, Some(query)),
            None => (self.0.as_str(), None),
        };
        let mut redacted = match url.find("://") {
            Some(scheme_end) => {
                let rest = &url[scheme_end + 3..];
                let authority_end = rest.find('/').unwrap_or(rest.len());
                let authority = &rest[..authority_end];
                match (authority.rfind('@'), authority.find(':')) {
                    (Some(at), Some(colon)) if colon < at => {
                        format!("{}{}:***{}", &url[..scheme_end + 3], &authority[..colon], &rest[at..])
                    }
                    _ => url.to_owned(),
                }
            }
            None => url.to_owned(),
        };
        if let Some(query) = query {
            let parameters: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                    _ => pair.to_owned(),
                })
                .collect();
            redacted.push('?');
            redacted.push_str(&parameters.join("&"));
        }
        redacted
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
    /// `PUBLIC_URL`: the address people reach the app at; `https://` makes cookies `Secure`.
    pub public_url: String,
    /// `GATEWAY_ENABLED`: whether the control plane's routes and panel exist at all.
    pub gateway_enabled: bool,
    /// `TRUSTED_PROXIES`: proxies whose `X-Forwarded-For` is believed; by default nobody's.
    pub trusted_proxies: TrustedProxies,
    /// Language-model providers and auto-mode turn-taking.
    pub services: ServicesConfig,
    /// The control plane's gateway: its folder, time limits and rate limits (`GATEWAY_*`).
    pub gateway: GatewayConfig,
}

impl Config {
    /// Cookies are `Secure` when people reach the app over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    /// Reads the process environment.
    pub fn from_process_env() -> Result<Self, ConfigError> {
        Self::from_env(&Env::process())
    }

    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let site_addr = env.parse_or("LEPTOS_SITE_ADDR", DEFAULT_SITE_ADDR, |v| {
            v.parse::<SocketAddr>().map_err(|_| "expected host:port, e.g. 127.0.0.1:3000".to_owned())
        })?;
        let database_url = DatabaseUrl(env.text_or("DATABASE_URL", DEFAULT_DATABASE_URL));
        if !(database_url.is_postgres() || database_url.expose().starts_with("sqlite:")) {
            // The value may hold a password, so it is not repeated.
            let problem = "expected a sqlite: or postgres:// URL".to_owned();
            return Err(ConfigError { variable: "DATABASE_URL", problem });
        }
        let log_format = env.parse_or("LOG_FORMAT", "json", |v| match v.to_ascii_lowercase().as_str() {
            "json" => Ok(LogFormat::Json),
            "pretty" => Ok(LogFormat::Pretty),
            _ => Err("expected json or pretty".to_owned()),
        })?;
        Ok(Config {
            site_addr,
            site_root: env.text_or("LEPTOS_SITE_ROOT", "target/site"),
            database_url,
            database_max_connections: env.number("DATABASE_MAX_CONNECTIONS", 10, 1..=1000)?,
            log_filter: env.text_or("RUST_LOG", "info"),
            log_format,
            shutdown_grace: env.seconds("SHUTDOWN_GRACE_SECONDS", 10, 0..=3600)?,
            sse_keep_alive: env.seconds("SSE_KEEPALIVE_SECONDS", 15, 1..=300)?,
            public_url: env.parse_or("PUBLIC_URL", &format!("http://{site_addr}"), |v| {
                let url = v.trim_end_matches('/');
                if url.starts_with("http://") || url.starts_with("https://") {
                    Ok(url.to_owned())
                } else {
                    Err("expected an http:// or https:// address".to_owned())
                }
            })?,
            gateway_enabled: env.flag("GATEWAY_ENABLED", true)?,
            trusted_proxies: env.parse_or("TRUSTED_PROXIES", "", TrustedProxies::parse)?,
            services: ServicesConfig::from_env(env)?,
            gateway: GatewayConfig::from_env(env)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_env(&Env::from_pairs(vars))
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
        assert_eq!(config.sse_keep_alive, Duration::from_secs(15));
        assert_eq!(config.site_root, "target/site");
        assert_eq!(config.gateway, GatewayConfig::default());
        assert_eq!(config.trusted_proxies, TrustedProxies::default());
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
            ("SSE_KEEPALIVE_SECONDS", "5"),
            ("LEPTOS_SITE_ROOT", "/srv/site"),
            ("RUN_COOLDOWN_TURNS", "2"),
            ("GATEWAY_ROOT", "/srv/cp"),
            ("TRUSTED_PROXIES", "10.0.0.0/8,192.0.2.1"),
        ])
        .unwrap();
        assert_eq!(config.site_addr, "0.0.0.0:8080".parse().unwrap());
        assert!(config.database_url.is_postgres());
        assert_eq!(config.database_max_connections, 25);
        assert_eq!(config.log_filter, "debug,sqlx=warn");
        assert_eq!(config.log_format, LogFormat::Pretty);
        assert_eq!(config.shutdown_grace, Duration::from_secs(3));
        assert_eq!(config.sse_keep_alive, Duration::from_secs(5));
        assert_eq!(config.site_root, "/srv/site");
        assert_eq!(config.services.run_cooldown_turns, 2);
        assert_eq!(config.gateway.root, std::path::PathBuf::from("/srv/cp"));
        assert!(config.trusted_proxies.contains("10.3.2.1".parse().unwrap()));
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
        assert_eq!(config(&[("DATABASE_MAX_CONNECTIONS", "0")]).unwrap_err().variable, "DATABASE_MAX_CONNECTIONS");
        assert_eq!(config(&[("GATEWAY_MAX_SESSIONS", "0")]).unwrap_err().variable, "GATEWAY_MAX_SESSIONS");
        assert_eq!(config(&[("LLM_MAX_RETRIES", "11")]).unwrap_err().variable, "LLM_MAX_RETRIES");
        assert_eq!(config(&[("TRUSTED_PROXIES", "10.0.0.0/99")]).unwrap_err().variable, "TRUSTED_PROXIES");
        assert_eq!(config(&[("USER_DAILY_TOKENS", "lots")]).unwrap_err().variable, "USER_DAILY_TOKENS");
    }

    #[test]
    fn the_database_password_is_never_printed() {
        let refused = config(&[("DATABASE_URL", "mysql://app:hunter2@db/chat")]).unwrap_err();
        assert_eq!(refused.variable, "DATABASE_URL");
        assert!(!refused.to_string().contains("hunter2"), "{refused}");
        let config = config(&[("DATABASE_URL", "postgres://app:hunter2@db:5432/chat")]).unwrap();
        let printed = format!("{config:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("postgres://app:***@db:5432/chat"), "{printed}");
    }

    #[test]
    fn a_password_in_the_query_is_hidden_too() {
        let url = DatabaseUrl("postgres://db/chat?user=app&password=hunter2&sslmode=require".into());
        assert_eq!(url.redacted(), "postgres://db/chat?user=app&password=***&sslmode=require");
        let both = DatabaseUrl("postgres://app:pw1@db/chat?Password=pw2".into());
        assert_eq!(both.redacted(), "postgres://app:***@db/chat?Password=***");
        assert_eq!(DatabaseUrl("sqlite://data/app.db?mode=rwc".into()).redacted(), "sqlite://data/app.db?mode=rwc");
    }
}
