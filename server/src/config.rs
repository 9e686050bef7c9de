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

/// A database or Redis URL whose password is hidden when printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(String);

impl SecretUrl {
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

impl fmt::Debug for SecretUrl {
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
    /// The list of the bundle's content-hashed file names a release build writes
    /// (`LEPTOS_HASH_FILE_NAME`, `hash.txt`): a relative path is beside the server binary.
    pub bundle_hash_file: std::path::PathBuf,
    /// `DATABASE_URL`: `sqlite:...` (embedded) or `postgres://...`.
    pub database_url: SecretUrl,
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
    /// `HTTP_HEADER_READ_TIMEOUT_SECONDS` and `MAX_CONNECTIONS`: how connections are bounded.
    pub connection_limits: crate::serving::ConnectionLimits,
    /// `HTTP_REQUEST_TIMEOUT_SECONDS`: how long a request may take before its answer begins.
    pub request_timeout: Duration,
    /// `SSE_MAX_STREAMS_PER_ADDRESS`: live streams one client address may hold open at once.
    pub sse_max_streams_per_address: usize,
    /// `GATEWAY_ENABLED`: whether the control plane's routes and panel exist at all.
    pub gateway_enabled: bool,
    /// `GATEWAY_TELEMETRY_REANCHOR`: start even though the gateway's log no longer reaches the
    /// head kept in the database (it was cut short or its end rewritten), and anchor it afresh.
    pub gateway_telemetry_reanchor: bool,
    /// `TRUSTED_PROXIES`: proxies whose `X-Forwarded-For` is believed; by default nobody's.
    pub trusted_proxies: TrustedProxies,
    /// `ALLOWED_HOSTS`: the host names requests may address (DNS-rebinding defence).
    pub allowed_hosts: AllowedHosts,
    /// `CORS_ALLOWED_ORIGINS`: other sites whose pages may call the REST API with credentials.
    pub cors_allowed_origins: Vec<String>,
    /// Language-model providers and auto-mode turn-taking.
    pub services: ServicesConfig,
    /// The control plane's gateway: its folder, time limits and rate limits (`GATEWAY_*`).
    pub gateway: GatewayConfig,
    /// `INSTANCE_ID`: this process's name among several instances (leases, logs, metrics).
    pub instance_id: String,
    /// `REDIS_URL`: where several instances share live events; `None` keeps them in this process.
    pub redis_url: Option<SecretUrl>,
    /// The control plane's Telegram bot (`TELEGRAM_*`); `None` without `TELEGRAM_BOT_TOKEN`.
    pub telegram: Option<telegram::TelegramConfig>,
}

impl Config {
    /// Cookies are `Secure` when people reach the app over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    /// The origin (`scheme://host[:port]`) people reach the app at, from `PUBLIC_URL`.
    pub fn public_origin(&self) -> String {
        origin_of(&self.public_url).unwrap_or_else(|| self.public_url.clone())
    }

    /// Reads the process environment.
    pub fn from_process_env() -> Result<Self, ConfigError> {
        Self::from_env(&Env::process())
    }

    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let site_addr = env.parse_or("LEPTOS_SITE_ADDR", DEFAULT_SITE_ADDR, |v| {
            v.parse::<SocketAddr>().map_err(|_| "expected host:port, e.g. 127.0.0.1:3000".to_owned())
        })?;
        let database_url = SecretUrl(env.text_or("DATABASE_URL", DEFAULT_DATABASE_URL));
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
        let public_url = env.parse_or("PUBLIC_URL", &format!("http://{site_addr}"), |v| {
            let url = v.trim_end_matches('/');
            if url.starts_with("http://") || url.starts_with("https://") {
                Ok(url.to_owned())
            } else {
                Err("expected an http:// or https:// address".to_owned())
            }
        })?;
        let allowed_hosts = match env.get("ALLOWED_HOSTS") {
            None => AllowedHosts::defaults(site_addr, &public_url),
            Some(list) => AllowedHosts::parse(&list, &public_url)
                .map_err(|problem| ConfigError { variable: "ALLOWED_HOSTS", problem })?,
        };
        let instance_id = env.parse_or("INSTANCE_ID", &default_instance_id(), parse_instance_id)?;
        let redis_url = redis_url(env)?;
        let mut gateway = GatewayConfig::from_env(env)?;
        if redis_url.is_some() {
            // Several instances share the control plane's folder: each keeps a chain of its own.
            gateway.log_name = format!("{}-{instance_id}", gateway.log_name);
        }
        Ok(Config {
            site_addr,
            site_root: env.text_or("LEPTOS_SITE_ROOT", "target/site"),
            bundle_hash_file: beside_the_binary(&env.text_or("LEPTOS_HASH_FILE_NAME", "hash.txt")),
            database_url,
            database_max_connections: env.number("DATABASE_MAX_CONNECTIONS", 10, 1..=1000)?,
            log_filter: env.text_or("RUST_LOG", "info"),
            log_format,
            shutdown_grace: env.seconds("SHUTDOWN_GRACE_SECONDS", 10, 0..=3600)?,
            sse_keep_alive: env.seconds("SSE_KEEPALIVE_SECONDS", 15, 1..=300)?,
            public_url,
            connection_limits: crate::serving::ConnectionLimits {
                header_read_timeout: env.seconds("HTTP_HEADER_READ_TIMEOUT_SECONDS", 10, 1..=300)?,
                max_connections: env.number("MAX_CONNECTIONS", 10_000, 1..=1_000_000)?,
            },
            request_timeout: env.seconds("HTTP_REQUEST_TIMEOUT_SECONDS", 30, 1..=3600)?,
            sse_max_streams_per_address: env.number("SSE_MAX_STREAMS_PER_ADDRESS", 32, 1..=100_000)?,
            gateway_enabled: env.flag("GATEWAY_ENABLED", true)?,
            gateway_telemetry_reanchor: env.flag("GATEWAY_TELEMETRY_REANCHOR", false)?,
            trusted_proxies: env.parse_or("TRUSTED_PROXIES", "", TrustedProxies::parse)?,
            allowed_hosts,
            cors_allowed_origins: env.parse_or("CORS_ALLOWED_ORIGINS", "", parse_origins)?,
            services: ServicesConfig::from_env(env)?,
            gateway,
            instance_id,
            redis_url,
            telegram: telegram_config(env)?,
        })
    }
}

/// `REDIS_URL`, checked for its scheme (the value may hold a password, so it is not repeated).
fn redis_url(env: &Env) -> Result<Option<SecretUrl>, ConfigError> {
    let Some(url) = env.get("REDIS_URL").map(|url| url.trim().to_owned()).filter(|url| !url.is_empty()) else {
        return Ok(None);
    };
    let scheme_known = url.starts_with("redis://") || url.starts_with("rediss://");
    if !scheme_known || redis::Client::open(url.as_str()).is_err() {
        let problem = "expected a redis:// or rediss:// (TLS) URL: [[user]:password@]host[:port][/db]".to_owned();
        return Err(ConfigError { variable: "REDIS_URL", problem });
    }
    Ok(Some(SecretUrl(url)))
}

/// The host's name and a random suffix, so two processes on one host differ too.
fn default_instance_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "instance".to_owned());
    format!("{host}-{:06x}", rand_suffix())
}

fn rand_suffix() -> u32 {
    uuid::Uuid::new_v4().as_u128() as u32 & 0x00ff_ffff
}

fn parse_instance_id(value: &str) -> Result<String, String> {
    let valid = !value.is_empty()
        && value.len() <= 64
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if valid {
        Ok(value.to_owned())
    } else {
        Err("expected 1 to 64 letters, digits, '-', '_' or '.'".to_owned())
    }
}

/// The bot's settings when `TELEGRAM_BOT_TOKEN` is set.
fn telegram_config(env: &Env) -> Result<Option<telegram::TelegramConfig>, ConfigError> {
    let Some(token) = env.secret("TELEGRAM_BOT_TOKEN") else {
        return Ok(None);
    };
    let api_url = env.parse_or("TELEGRAM_API_URL", telegram::DEFAULT_API_URL, |v| match url::Url::parse(v) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(url),
        _ => Err("expected an http:// or https:// address".to_owned()),
    })?;
    let webhook_url = env.parse_or("TELEGRAM_WEBHOOK_URL", "", |v| {
        if v.is_empty() {
            return Ok(None);
        }
        match url::Url::parse(v) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(Some(url)),
            _ => Err("expected the https:// address of this app's /api/telegram/webhook".to_owned()),
        }
    })?;
    let webhook = match webhook_url {
        None => None,
        Some(url) => {
            let secret = match env.secret("TELEGRAM_WEBHOOK_SECRET") {
                Some(secret) => secret.expose().to_owned(),
                None => telegram::Webhook::derived_secret(token.expose()),
            };
            if !telegram::Webhook::valid_secret(&secret) {
                let problem = "expected 1 to 256 letters, digits, '_' or '-'".to_owned();
                return Err(ConfigError { variable: "TELEGRAM_WEBHOOK_SECRET", problem });
            }
            Some(telegram::Webhook { url, secret })
        }
    };
    let mut config = telegram::TelegramConfig::new(token.expose().to_owned(), api_url);
    config.webhook = webhook;
    config.poll_timeout = env.seconds("TELEGRAM_POLL_SECONDS", 10, 1..=50)?;
    config.lease_ttl = env.seconds("TELEGRAM_LEASE_SECONDS", 30, 3..=600)?;
    if config.lease_ttl < config.poll_timeout + std::time::Duration::from_secs(2) {
        let problem = "must exceed TELEGRAM_POLL_SECONDS by at least 2, or the lease lapses during a poll".to_owned();
        return Err(ConfigError { variable: "TELEGRAM_LEASE_SECONDS", problem });
    }
    Ok(Some(config))
}

/// A relative path is taken from the server binary's folder, where the release build puts the
/// bundle's hash file (and where Leptos looks for it).
fn beside_the_binary(path: &str) -> std::path::PathBuf {
    let path = std::path::Path::new(path);
    if path.is_absolute() {
        return path.to_owned();
    }
    let folder = std::env::current_exe().ok().and_then(|exe| exe.parent().map(std::path::Path::to_owned));
    folder.unwrap_or_default().join(path)
}

/// The host names the server answers for. A request whose `Host` names another is refused, so a
/// page on another site cannot reach this server through a name it controls (DNS rebinding).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    /// `*`: every host (the check is off).
    any: bool,
    /// Exact host names, lower case, without port; IPv6 addresses in brackets.
    names: Vec<String>,
    /// Entries written `.example.com`: that name and every name under it, stored as `example.com`.
    domains: Vec<String>,
}

impl AllowedHosts {
    /// Without `ALLOWED_HOSTS`: the listen address, the loopback names and `PUBLIC_URL`'s host.
    pub fn defaults(site_addr: SocketAddr, public_url: &str) -> Self {
        let listen = match site_addr.ip() {
            std::net::IpAddr::V4(ip) => ip.to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        };
        let mut names = vec![listen, "localhost".to_owned(), "127.0.0.1".to_owned(), "[::1]".to_owned()];
        names.extend(url_host(public_url));
        let mut hosts = Self { any: false, names, domains: Vec::new() };
        hosts.names.sort();
        hosts.names.dedup();
        hosts
    }

    /// A comma-separated list of host names (a port is ignored), `.example.com` for a domain and
    /// the names under it, or `*` for any host. `PUBLIC_URL`'s host is always allowed.
    pub fn parse(list: &str, public_url: &str) -> Result<Self, String> {
        let mut hosts = Self::default();
        for entry in list.split(',').map(str::trim).filter(|entry| !entry.is_empty()) {
            if entry == "*" {
                hosts.any = true;
            } else if let Some(domain) = entry.strip_prefix('.') {
                let domain = host_name(domain).filter(|name| !name.is_empty() && !name.starts_with('['));
                hosts.domains.push(domain.ok_or_else(|| format!("{entry:?} is not a domain such as .example.com"))?);
            } else {
                let name = host_name(entry).filter(|name| !name.is_empty() && !name.contains('/'));
                hosts.names.push(name.ok_or_else(|| format!("{entry:?} is not a host name"))?);
            }
        }
        hosts.names.extend(url_host(public_url));
        hosts.names.sort();
        hosts.names.dedup();
        Ok(hosts)
    }

    /// Whether a request's `Host` header (`name`, `name:port` or `[v6]:port`) may be answered.
    pub fn allows(&self, host_header: &str) -> bool {
        if self.any {
            return true;
        }
        let Some(host) = host_name(host_header) else { return false };
        self.names.contains(&host)
            || self.domains.iter().any(|domain| {
                host == *domain || host.strip_suffix(domain.as_str()).is_some_and(|rest| rest.ends_with('.'))
            })
    }

    /// The allowed names, for the start-up log.
    pub fn describe(&self) -> String {
        if self.any {
            return "*".to_owned();
        }
        let domains = self.domains.iter().map(|domain| format!(".{domain}"));
        self.names.iter().cloned().chain(domains).collect::<Vec<_>>().join(",")
    }
}

/// The host name of a `Host` value or list entry: lower case, without port or trailing dot.
fn host_name(value: &str) -> Option<String> {
    let value = value.trim().to_ascii_lowercase();
    let host = if value.starts_with('[') {
        let end = value.find(']')?;
        let rest = &value[end + 1..];
        if !(rest.is_empty() || rest.starts_with(':')) {
            return None;
        }
        value[..=end].to_owned()
    } else {
        match value.split_once(':') {
            Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name.to_owned(),
            Some(_) => return None,
            None => value,
        }
    };
    let host = host.trim_end_matches('.').to_owned();
    let valid = host.starts_with('[') || host.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    valid.then_some(host)
}

/// The host name of an `http(s)://` URL.
fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    host_name(authority)
}

/// `scheme://host[:port]` of an `http(s)://` URL or origin, lower case, without a default port.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.trim().split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next()?.to_ascii_lowercase();
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let authority = authority.strip_suffix(default_port).unwrap_or(&authority);
    host_name(authority)?;
    Some(format!("{scheme}://{authority}"))
}

/// `CORS_ALLOWED_ORIGINS`: a comma-separated list of origins such as `https://app.example.com`.
fn parse_origins(list: &str) -> Result<Vec<String>, String> {
    let mut origins = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|entry| !entry.is_empty()) {
        if entry == "*" || entry.eq_ignore_ascii_case("null") {
            return Err(format!("{entry:?} cannot be allowed: name each origin, e.g. https://app.example.com"));
        }
        let has_path =
            entry.split_once("://").is_some_and(|(_, rest)| rest.trim_end_matches('/').contains(['/', '?', '#']));
        let origin = origin_of(entry)
            .filter(|_| !has_path)
            .ok_or_else(|| format!("{entry:?} is not an origin such as https://app.example.com (no path)"))?;
        origins.push(origin);
    }
    origins.sort();
    origins.dedup();
    Ok(origins)
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
        assert_eq!(config.allowed_hosts.describe(), "127.0.0.1,[::1],localhost");
        assert!(config.cors_allowed_origins.is_empty());
        assert_eq!(config.public_origin(), "http://127.0.0.1:3000");
    }

    #[test]
    fn redis_shares_events_and_gives_each_instance_its_own_log() {
        let single = config(&[("INSTANCE_ID", "api-1")]).unwrap();
        assert!(single.redis_url.is_none());
        assert_eq!(single.gateway.log_name, "gateway", "spec 001's gateway.jsonl with one instance");
        let shared = config(&[("INSTANCE_ID", "api-1"), ("REDIS_URL", "redis://:hunter2@cache:6379/0")]).unwrap();
        assert_eq!(shared.redis_url.as_ref().map(SecretUrl::redacted).as_deref(), Some("redis://:***@cache:6379/0"));
        assert!(!format!("{shared:?}").contains("hunter2"));
        assert_eq!(shared.gateway.log_name, "gateway-api-1");
        for bad in ["http://cache:6379", "cache:6379", "postgres://app:pw@db/chat"] {
            let error = config(&[("REDIS_URL", bad)]).unwrap_err();
            assert_eq!(error.variable, "REDIS_URL", "{bad}");
            assert!(!error.to_string().contains(bad), "the value is not repeated");
        }
    }

    #[test]
    fn hosts_and_origins_are_read_and_normalised() {
        let config = config(&[
            ("LEPTOS_SITE_ADDR", "0.0.0.0:8080"),
            ("PUBLIC_URL", "https://Chat.Example.com:443/"),
            ("CORS_ALLOWED_ORIGINS", "https://dash.example.com/, http://localhost:5173,https://dash.example.com"),
        ])
        .unwrap();
        assert_eq!(config.public_origin(), "https://chat.example.com");
        assert_eq!(config.allowed_hosts.describe(), "0.0.0.0,127.0.0.1,[::1],chat.example.com,localhost");
        assert_eq!(config.cors_allowed_origins, ["http://localhost:5173", "https://dash.example.com"]);

        let listed = config_with(&[("ALLOWED_HOSTS", "Chat.example.com:443, .internal.example")]);
        assert_eq!(listed.allowed_hosts.describe(), "127.0.0.1,chat.example.com,.internal.example");
    }

    fn config_with(vars: &[(&str, &str)]) -> Config {
        config(vars).unwrap()
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
        for origins in ["*", "null", "https://app.example.com/path", "app.example.com", "ftp://app.example.com"] {
            let refused = config(&[("CORS_ALLOWED_ORIGINS", origins)]).unwrap_err();
            assert_eq!(refused.variable, "CORS_ALLOWED_ORIGINS", "{origins}");
        }
        for hosts in ["https://chat.example.com", "chat.example.com/", "a b", "."] {
            assert_eq!(config(&[("ALLOWED_HOSTS", hosts)]).unwrap_err().variable, "ALLOWED_HOSTS", "{hosts}");
        }
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
        let url = SecretUrl("postgres://db/chat?user=app&password=hunter2&sslmode=require".into());
        assert_eq!(url.redacted(), "postgres://db/chat?user=app&password=***&sslmode=require");
        let both = SecretUrl("postgres://app:pw1@db/chat?Password=pw2".into());
        assert_eq!(both.redacted(), "postgres://app:***@db/chat?Password=***");
        assert_eq!(SecretUrl("sqlite://data/app.db?mode=rwc".into()).redacted(), "sqlite://data/app.db?mode=rwc");
    }
}
