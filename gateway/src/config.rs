//! The gateway's configuration, read once at start-up from `GATEWAY_*` variables.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use domain::control_plane::{DEFAULT_PREVIEW_TTL_SECONDS, DEFAULT_SESSION_TTL_SECONDS};
use thiserror::Error;

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

/// A variable that is set but cannot be used.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{variable}: {problem}")]
pub struct GatewayConfigError {
    pub variable: &'static str,
    pub problem: String,
}

impl GatewayConfig {
    /// A configuration with every default but the root folder.
    pub fn with_root(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into(), ..Self::default() }
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<Self, GatewayConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, GatewayConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let seconds = |variable: &'static str, default: u64, max: u64| -> Result<Duration, GatewayConfigError> {
            whole_number(&get, variable, default, 1, max).map(Duration::from_secs)
        };
        let rate = |variable: &'static str, default: u32| -> Result<u32, GatewayConfigError> {
            whole_number(&get, variable, u64::from(default), 1, 1_000_000).map(|n| u32::try_from(n).unwrap_or(u32::MAX))
        };

        Ok(GatewayConfig {
            root: PathBuf::from(get("GATEWAY_ROOT").unwrap_or_else(|| DEFAULT_ROOT.to_owned())),
            preview_ttl: seconds("GATEWAY_PREVIEW_TTL_SECONDS", DEFAULT_PREVIEW_TTL_SECONDS, 86_400)?,
            session_ttl: seconds("GATEWAY_SESSION_TTL_SECONDS", DEFAULT_SESSION_TTL_SECONDS, 86_400)?,
            max_sessions: whole_number(&get, "GATEWAY_MAX_SESSIONS", DEFAULT_MAX_SESSIONS as u64, 1, 10_000_000)?
                as usize,
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

fn whole_number(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, GatewayConfigError> {
    let Some(value) = get(variable) else {
        return Ok(default);
    };
    match value.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(GatewayConfigError {
            variable,
            problem: format!("expected a whole number from {min} to {max} (got {value:?})"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<GatewayConfig, GatewayConfigError> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        GatewayConfig::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_follow_the_spec() {
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
