//! Typed settings from environment variables. Every configuration of the product reads its
//! variables through [`Env`], so a value is trimmed, defaulted, range-checked and refused the
//! same way everywhere, and a refusal always names the variable.

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

use thiserror::Error;

/// A variable that is set but cannot be used.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

/// Finds a variable's raw value by name.
type Lookup<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

/// Where variables come from: the process environment, or a lookup function in tests.
pub struct Env<'a> {
    lookup: Lookup<'a>,
}

impl Env<'static> {
    /// The process environment.
    pub fn process() -> Self {
        Self { lookup: Box::new(|name| std::env::var(name).ok()) }
    }
}

impl<'a> Env<'a> {
    /// Variables read through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String> + 'a) -> Self {
        Self { lookup: Box::new(lookup) }
    }

    /// Variables from name–value pairs.
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(pairs: &'a [(K, V)]) -> Self {
        Self::from_lookup(move |name| {
            pairs.iter().find(|(key, _)| key.as_ref() == name).map(|(_, value)| value.as_ref().to_owned())
        })
    }

    /// The variable's value, trimmed; an empty value counts as unset.
    pub fn get(&self, variable: &str) -> Option<String> {
        (self.lookup)(variable).map(|value| value.trim().to_owned()).filter(|value| !value.is_empty())
    }

    /// The variable's value, or `default` when unset.
    pub fn text_or(&self, variable: &str, default: &str) -> String {
        self.get(variable).unwrap_or_else(|| default.to_owned())
    }

    /// A secret, when set.
    pub fn secret(&self, variable: &str) -> Option<Secret> {
        self.get(variable).map(Secret::new)
    }

    /// A URL-like value without its trailing slashes, when set.
    pub fn base_url(&self, variable: &str) -> Option<String> {
        self.get(variable).map(|value| value.trim_end_matches('/').to_owned())
    }

    /// The value (or `default`) read by `parse`, whose refusal says what was expected.
    pub fn parse_or<T>(
        &self,
        variable: &'static str,
        default: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let value = self.text_or(variable, default);
        parse(&value).map_err(|expected| ConfigError { variable, problem: format!("{expected} (got {value:?})") })
    }

    /// A whole number within `range`, or `default` when unset.
    pub fn number<T>(&self, variable: &'static str, default: T, range: RangeInclusive<T>) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + fmt::Display + Copy,
    {
        let Some(value) = self.get(variable) else { return Ok(default) };
        match value.parse::<T>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(ConfigError {
                variable,
                problem: format!("expected a whole number from {} to {} (got {value:?})", range.start(), range.end()),
            }),
        }
    }

    /// `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`), or `default` when unset.
    pub fn flag(&self, variable: &'static str, default: bool) -> Result<bool, ConfigError> {
        let default = if default { "true" } else { "false" };
        self.parse_or(variable, default, |v| match v.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err("expected true or false".to_owned()),
        })
    }

    /// Whole seconds within `range`, or `default` seconds when unset.
    pub fn seconds(
        &self,
        variable: &'static str,
        default: u64,
        range: RangeInclusive<u64>,
    ) -> Result<Duration, ConfigError> {
        self.number(variable, default, range).map(Duration::from_secs)
    }

    /// Whole milliseconds within `range`, or `default` milliseconds when unset.
    pub fn millis(
        &self,
        variable: &'static str,
        default: u64,
        range: RangeInclusive<u64>,
    ) -> Result<Duration, ConfigError> {
        self.number(variable, default, range).map(Duration::from_millis)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_trimmed_and_empty_means_unset() {
        let pairs = [("A", "  x  "), ("B", "   ")];
        let env = Env::from_pairs(&pairs);
        assert_eq!(env.get("A").as_deref(), Some("x"));
        assert_eq!(env.get("B"), None);
        assert_eq!(env.text_or("B", "fallback"), "fallback");
        assert_eq!(env.get("C"), None);
    }

    #[test]
    fn numbers_are_range_checked_and_refusals_name_the_variable() {
        let pairs = [("N", "7"), ("BIG", "9000"), ("WORD", "soon")];
        let env = Env::from_pairs(&pairs);
        assert_eq!(env.number("N", 1u32, 1..=10).unwrap(), 7);
        assert_eq!(env.number("UNSET", 3u32, 1..=10).unwrap(), 3);
        let refused = env.number("BIG", 1u32, 1..=10).unwrap_err();
        assert_eq!(refused.variable, "BIG");
        assert!(refused.problem.contains("from 1 to 10") && refused.problem.contains("9000"), "{refused}");
        let refused = env.seconds("WORD", 1, 1..=60).unwrap_err();
        assert!(refused.problem.contains("soon"));
        assert_eq!(env.millis("N", 1, 1..=10).unwrap(), Duration::from_millis(7));
    }

    #[test]
    fn parse_or_reports_what_was_expected() {
        let pairs = [("MODE", "xml")];
        let env = Env::from_pairs(&pairs);
        let refused = env
            .parse_or("MODE", "json", |v| if v == "json" { Ok(()) } else { Err("expected json".to_owned()) })
            .unwrap_err();
        assert_eq!(refused.to_string(), "MODE: expected json (got \"xml\")");
    }

    #[test]
    fn flags_read_the_usual_spellings() {
        let pairs = [("A", "Yes"), ("B", "off"), ("C", "maybe")];
        let env = Env::from_pairs(&pairs);
        assert!(env.flag("A", false).unwrap());
        assert!(!env.flag("B", true).unwrap());
        assert!(env.flag("UNSET", true).unwrap());
        assert_eq!(env.flag("C", true).unwrap_err().variable, "C");
    }

    #[test]
    fn secrets_never_print() {
        assert_eq!(format!("{:?}", Secret::new("sk-123")), "Secret(***)");
        let pairs = [("URL", "http://x/v1//")];
        assert_eq!(Env::from_pairs(&pairs).base_url("URL").as_deref(), Some("http://x/v1"));
    }
}
