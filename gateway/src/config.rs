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
        }
    }
}

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
        ])
        .unwrap();
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
