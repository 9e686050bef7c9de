//! The gateway's configuration, read once at start-up from `GATEWAY_*` variables.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use domain::control_plane::{DEFAULT_PREVIEW_TTL_SECONDS, DEFAULT_SESSION_TTL_SECONDS};
use settings::{ConfigError, Env};

pub const DEFAULT_ROOT: &str = "data/control-plane";
pub const DEFAULT_MAX_SESSIONS: usize = 10_000;
pub const DEFAULT_SESSION_RATE_PER_SECOND: u32 = 20;
pub const DEFAULT_SESSION_RATE_BURST: u32 = 40;
pub const DEFAULT_ADDRESS_RATE_PER_SECOND: u32 = 100;
pub const DEFAULT_ADDRESS_RATE_BURST: u32 = 200;
pub const DEFAULT_TELEMETRY_ROTATE_MB: u64 = 64;
pub const DEFAULT_MIN_FREE_MB: u64 = 64;
pub const DEFAULT_REFUSAL_WINDOW_SECONDS: u64 = 60;

/// The key of the hash that stands for a session id in telemetry (HMAC-SHA256). Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionKey(pub [u8; 32]);

impl SessionKey {
    /// A fresh random key: hashes agree only within this process.
    pub fn random() -> Self {
        let mut key = [0u8; 32];
        key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        Self(key)
    }

    /// The key as text, to keep it.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// A key kept as text by [`SessionKey::to_hex`].
    pub fn from_hex(text: &str) -> Option<Self> {
        hex::decode(text).ok()?.try_into().ok().map(Self)
    }

    /// A key from any text (a configured secret): its SHA-256.
    pub fn from_text(text: &str) -> Self {
        use sha2::Digest;
        Self(sha2::Sha256::digest(text.as_bytes()).into())
    }
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(…)")
    }
}

/// A sustained rate with a burst allowance, as governor's quota understands it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: NonZeroU32,
    pub burst: NonZeroU32,
}

impl RateLimit {
    /// A limit of `per_second` with a burst of `burst`; zeros are raised to one.
    pub fn new(per_second: u32, burst: u32) -> Self {
        Self {
            per_second: NonZeroU32::MIN.saturating_add(per_second.saturating_sub(1)),
            burst: NonZeroU32::MIN.saturating_add(burst.saturating_sub(1)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayConfig {
    /// `GATEWAY_ROOT`: the control plane's folder; tasks and telemetry live under it.
    pub root: PathBuf,
    /// `GATEWAY_PREVIEW_TTL_SECONDS`: how long a preview can be confirmed.
    pub preview_ttl: Duration,
    /// `GATEWAY_SESSION_TTL_SECONDS`: how long a session lives without a request.
    pub session_ttl: Duration,
    /// `GATEWAY_MAX_SESSIONS`: how many live sessions the gateway keeps in memory.
    pub max_sessions: usize,
    /// `GATEWAY_RATE_SESSION_PER_SECOND` and `GATEWAY_RATE_SESSION_BURST`.
    pub session_rate: RateLimit,
    /// `GATEWAY_RATE_ADDRESS_PER_SECOND` and `GATEWAY_RATE_ADDRESS_BURST`.
    pub address_rate: RateLimit,
    /// `GATEWAY_TELEMETRY_ROTATE_MB`: the live telemetry file is rotated at this size.
    pub telemetry_rotate_bytes: u64,
    /// `GATEWAY_MIN_FREE_MB`: previews and confirms are refused with `STORAGE_UNAVAILABLE` while
    /// the folder's disk has less free space than this (0: never refused early).
    pub min_free_bytes: u64,
    /// `GATEWAY_REFUSAL_WINDOW_SECONDS`: rate-limited and malformed calls are counted, and written
    /// as one line per caller and kind for each window of this length.
    pub refusal_window: Duration,
    /// `GATEWAY_TELEMETRY_KEY`: the key of the session hashes in telemetry. Unset, the server
    /// makes one and keeps it in its database; a gateway on its own makes one per process.
    pub session_key: Option<SessionKey>,
    /// The telemetry log's name: `gateway` (spec 001's `gateway.jsonl`), or `gateway-<instance>`
    /// when several instances share the folder, so each writes one chain of its own.
    pub log_name: String,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            root: PathBuf::from(DEFAULT_ROOT),
            preview_ttl: Duration::from_secs(DEFAULT_PREVIEW_TTL_SECONDS),
            session_ttl: Duration::from_secs(DEFAULT_SESSION_TTL_SECONDS),
            max_sessions: DEFAULT_MAX_SESSIONS,
            session_rate: RateLimit::new(DEFAULT_SESSION_RATE_PER_SECOND, DEFAULT_SESSION_RATE_BURST),
            address_rate: RateLimit::new(DEFAULT_ADDRESS_RATE_PER_SECOND, DEFAULT_ADDRESS_RATE_BURST),
            telemetry_rotate_bytes: DEFAULT_TELEMETRY_ROTATE_MB * MEGABYTE,
            min_free_bytes: DEFAULT_MIN_FREE_MB * MEGABYTE,
            refusal_window: Duration::from_secs(DEFAULT_REFUSAL_WINDOW_SECONDS),
            session_key: None,
            log_name: crate::folders::GATEWAY_LOG_NAME.to_owned(),
        }
    }
}

const MEGABYTE: u64 = 1024 * 1024;

impl GatewayConfig {
    /// A configuration with every default but the root folder.
    pub fn with_root(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into(), ..Self::default() }
    }

    /// Reads the `GATEWAY_*` variables.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let rate = |variable: &'static str, default: u32| env.number(variable, default, 1..=1_000_000);
        Ok(GatewayConfig {
            root: PathBuf::from(env.text_or("GATEWAY_ROOT", DEFAULT_ROOT)),
            preview_ttl: env.seconds("GATEWAY_PREVIEW_TTL_SECONDS", DEFAULT_PREVIEW_TTL_SECONDS, 1..=86_400)?,
            session_ttl: env.seconds("GATEWAY_SESSION_TTL_SECONDS", DEFAULT_SESSION_TTL_SECONDS, 1..=86_400)?,
            max_sessions: env.number("GATEWAY_MAX_SESSIONS", DEFAULT_MAX_SESSIONS, 1..=10_000_000)?,
            session_rate: RateLimit::new(
                rate("GATEWAY_RATE_SESSION_PER_SECOND", DEFAULT_SESSION_RATE_PER_SECOND)?,
                rate("GATEWAY_RATE_SESSION_BURST", DEFAULT_SESSION_RATE_BURST)?,
            ),
            address_rate: RateLimit::new(
                rate("GATEWAY_RATE_ADDRESS_PER_SECOND", DEFAULT_ADDRESS_RATE_PER_SECOND)?,
                rate("GATEWAY_RATE_ADDRESS_BURST", DEFAULT_ADDRESS_RATE_BURST)?,
            ),
            telemetry_rotate_bytes: env.number(
                "GATEWAY_TELEMETRY_ROTATE_MB",
                DEFAULT_TELEMETRY_ROTATE_MB,
                1..=1_000_000,
            )? * MEGABYTE,
            min_free_bytes: env.number("GATEWAY_MIN_FREE_MB", DEFAULT_MIN_FREE_MB, 0..=1_000_000_000)? * MEGABYTE,
            refusal_window: env.seconds("GATEWAY_REFUSAL_WINDOW_SECONDS", DEFAULT_REFUSAL_WINDOW_SECONDS, 1..=3600)?,
            session_key: env.secret("GATEWAY_TELEMETRY_KEY").map(|secret| SessionKey::from_text(secret.expose())),
            log_name: crate::folders::GATEWAY_LOG_NAME.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<GatewayConfig, ConfigError> {
        GatewayConfig::from_env(&Env::from_pairs(vars))
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let config = config(&[]).unwrap();
        assert_eq!(config, GatewayConfig::default());
        assert_eq!(config.telemetry_rotate_bytes, 64 * 1024 * 1024);
        assert_eq!(config.min_free_bytes, 64 * 1024 * 1024);
        assert_eq!(config.refusal_window, Duration::from_secs(60));
        assert_eq!(config.root, PathBuf::from("data/control-plane"));
        assert_eq!(config.preview_ttl, Duration::from_secs(300));
        assert_eq!(config.session_ttl, Duration::from_secs(600));
        assert_eq!(config.session_rate, RateLimit::new(20, 40));
        assert_eq!(config.address_rate, RateLimit::new(100, 200));
    }

    #[test]
    fn every_variable_is_read() {
        let config = config(&[
            ("GATEWAY_ROOT", "/srv/cp"),
            ("GATEWAY_PREVIEW_TTL_SECONDS", "30"),
            ("GATEWAY_SESSION_TTL_SECONDS", "60"),
            ("GATEWAY_MAX_SESSIONS", "7"),
            ("GATEWAY_RATE_SESSION_PER_SECOND", "1"),
            ("GATEWAY_RATE_SESSION_BURST", "2"),
            ("GATEWAY_RATE_ADDRESS_PER_SECOND", "3"),
            ("GATEWAY_RATE_ADDRESS_BURST", "4"),
            ("GATEWAY_TELEMETRY_ROTATE_MB", "2"),
            ("GATEWAY_MIN_FREE_MB", "0"),
            ("GATEWAY_REFUSAL_WINDOW_SECONDS", "5"),
            ("GATEWAY_TELEMETRY_KEY", "a secret"),
        ])
        .unwrap();
        assert_eq!(config.telemetry_rotate_bytes, 2 * 1024 * 1024);
        assert_eq!(config.min_free_bytes, 0);
        assert_eq!(config.refusal_window, Duration::from_secs(5));
        assert_eq!(config.session_key, Some(SessionKey::from_text("a secret")));
        assert!(!format!("{config:?}").contains("secret"));
        assert_eq!(config.root, PathBuf::from("/srv/cp"));
        assert_eq!(config.preview_ttl, Duration::from_secs(30));
        assert_eq!(config.session_ttl, Duration::from_secs(60));
        assert_eq!(config.max_sessions, 7);
        assert_eq!(config.session_rate, RateLimit::new(1, 2));
        assert_eq!(config.address_rate, RateLimit::new(3, 4));
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = config(&[("GATEWAY_PREVIEW_TTL_SECONDS", "soon")]).unwrap_err();
        assert_eq!(err.variable, "GATEWAY_PREVIEW_TTL_SECONDS");
        assert!(err.problem.contains("soon"));
        assert_eq!(
            config(&[("GATEWAY_SESSION_TTL_SECONDS", "0")]).unwrap_err().variable,
            "GATEWAY_SESSION_TTL_SECONDS"
        );
        assert_eq!(config(&[("GATEWAY_RATE_SESSION_BURST", "-1")]).unwrap_err().variable, "GATEWAY_RATE_SESSION_BURST");
        assert_eq!(config(&[("GATEWAY_MAX_SESSIONS", "0")]).unwrap_err().variable, "GATEWAY_MAX_SESSIONS");
    }

    #[test]
    fn zero_rates_are_raised_to_one() {
        assert_eq!(RateLimit::new(0, 0), RateLimit::new(1, 1));
        assert_eq!(RateLimit::new(5, 9).burst.get(), 9);
    }
}
