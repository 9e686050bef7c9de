//! Limits on how fast people write — posting, creating and changing rooms and agents, starting
//! runs, signing up — per person (`WRITE_RATE_PER_MINUTE`) and per client address
//! (`WRITE_RATE_PER_ADDRESS_PER_MINUTE`, IPv6 by /64), so a script cannot flood rooms or the
//! model providers behind them. Guests are limited by their address only.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, NotUntil, Quota};
use uuid::Uuid;

use crate::access::Actor;
use crate::config::LimitsConfig;
use crate::{ServiceError, ServiceResult};

pub struct WriteLimits {
    per_person: Option<Keyed<Uuid>>,
    per_address: Option<Keyed<IpAddr>>,
}

struct Keyed<K: std::hash::Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    per_minute: u32,
}

impl<K: std::hash::Hash + Eq + Clone> Keyed<K> {
    /// `None` when the limit is off (zero).
    fn new(per_minute: u32) -> Option<Self> {
        let rate = NonZeroU32::new(per_minute)?;
        Some(Self { limiter: DefaultKeyedRateLimiter::keyed(Quota::per_minute(rate)), per_minute })
    }
}

impl WriteLimits {
    pub fn new(config: &LimitsConfig) -> Self {
        Self {
            per_person: Keyed::new(config.writes_per_minute),
            per_address: Keyed::new(config.writes_per_address_per_minute),
        }
    }

    /// Counts one write by `actor` from the address of the request being served; refused with
    /// `RATE_LIMITED` and how long to wait when either limit is spent. The person's allowance is
    /// checked first, so one person's refused attempts never eat into what others at their
    /// address may write; an attempt the address refuses still counts against its person.
    pub fn check(&self, actor: &Actor) -> ServiceResult<()> {
        if let (Some(person), Some(limit)) = (actor.person(), &self.per_person) {
            limit.limiter.check_key(&person.id).map_err(|not_until| {
                refusal(
                    format!(
                        "Too many writes: at most {} a minute per person (WRITE_RATE_PER_MINUTE)",
                        limit.per_minute
                    ),
                    not_until,
                )
            })?;
        }
        if let (Some(address), Some(limit)) = (crate::client::current(), &self.per_address) {
            limit.limiter.check_key(&crate::rate_key(address)).map_err(|not_until| {
                refusal(
                    format!(
                        "Too many writes from your address: at most {} a minute (WRITE_RATE_PER_ADDRESS_PER_MINUTE)",
                        limit.per_minute
                    ),
                    not_until,
                )
            })?;
        }
        Ok(())
    }

    /// Forgets keys that are back to a full allowance, so the maps follow the active writers.
    pub fn forget_idle(&self) {
        if let Some(limit) = &self.per_person {
            limit.limiter.retain_recent();
        }
        if let Some(limit) = &self.per_address {
            limit.limiter.retain_recent();
        }
    }
}

fn refusal(limit: String, not_until: NotUntil<<DefaultClock as Clock>::Instant>) -> ServiceError {
    let wait = not_until.wait_time_from(DefaultClock::default().now());
    ServiceError::RateLimited { limit, retry_after_seconds: whole_seconds_at_least_one(wait) }
}

/// Rounds up, so a client that waits as told is let through.
fn whole_seconds_at_least_one(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Principal;
    use domain::accounts::Role;

    fn person() -> Actor {
        Actor::Person(Principal {
            id: Uuid::new_v4(),
            email: "a@example.com".into(),
            name: "A".into(),
            role: Role::User,
        })
    }

    fn config(per_person: u32, per_address: u32) -> LimitsConfig {
        LimitsConfig {
            writes_per_minute: per_person,
            writes_per_address_per_minute: per_address,
            ..crate::ServicesConfig::default().limits
        }
    }

    #[test]
    fn each_person_has_their_own_allowance() {
        let limits = WriteLimits::new(&config(2, 0));
        let (ada, bob) = (person(), person());
        assert!(limits.check(&ada).is_ok() && limits.check(&ada).is_ok());
        let refused = limits.check(&ada).unwrap_err();
        let ServiceError::RateLimited { limit, retry_after_seconds } = &refused else { panic!("{refused:?}") };
        assert!(limit.contains("WRITE_RATE_PER_MINUTE"), "{limit}");
        assert!((1..=30).contains(retry_after_seconds), "{retry_after_seconds}");
        assert!(limits.check(&bob).is_ok());
        // Guests have no personal allowance; without an address nothing limits them here.
        assert!(limits.check(&Actor::Guest).is_ok());
    }

    #[tokio::test]
    async fn addresses_are_limited_by_their_key() {
        let limits = WriteLimits::new(&config(0, 1));
        let at = |address: &str| {
            crate::client::with_client(Some(address.parse().unwrap()), async { limits.check(&Actor::Guest) })
        };
        assert!(at("2001:db8:1:2::1").await.is_ok());
        let refused = at("2001:db8:1:2::ffff").await.unwrap_err();
        assert!(refused.to_string().contains("WRITE_RATE_PER_ADDRESS_PER_MINUTE"), "{refused}");
        assert!(at("2001:db8:1:3::1").await.is_ok());
    }

    #[test]
    fn waits_round_up() {
        assert_eq!(whole_seconds_at_least_one(Duration::ZERO), 1);
        assert_eq!(whole_seconds_at_least_one(Duration::from_millis(1500)), 2);
        assert_eq!(whole_seconds_at_least_one(Duration::from_secs(3)), 3);
    }
}
