//! Limits on how fast people write — posting, creating and changing rooms and agents, starting
//! runs, signing up — per person (`WRITE_RATE_PER_MINUTE`) and per client address
//! (`WRITE_RATE_PER_ADDRESS_PER_MINUTE`, IPv6 by /64), so a script cannot flood rooms or the
//! model providers behind them. Guests are limited by their address only.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{NotUntil, Quota, RateLimiter};
use uuid::Uuid;

use crate::access::Actor;
use crate::config::LimitsConfig;
use crate::{lock, ServiceError, ServiceResult};

/// The monotonic clock the rate limits (writes, sign-ins) count on: the machine's, unless paused.
/// Tests pause it so that no allowance refills while they run, however slowly they run.
#[derive(Debug, Clone, Default)]
pub struct RateClock {
    paused_at: Arc<Mutex<Option<Instant>>>,
}

impl RateClock {
    pub fn now(&self) -> Instant {
        lock(&self.paused_at).unwrap_or_else(Instant::now)
    }

    /// Stops the clock where it is, until [`advance`](Self::advance) moves it.
    pub fn pause(&self) {
        lock(&self.paused_at).get_or_insert_with(Instant::now);
    }

    /// Moves a paused clock on by `by`.
    pub fn advance(&self, by: Duration) {
        if let Some(at) = lock(&self.paused_at).as_mut() {
            *at += by;
        }
    }
}

impl governor::clock::Clock for RateClock {
    type Instant = Instant;

    fn now(&self) -> Instant {
        RateClock::now(self)
    }
}

/// A rate limiter per key on the [`RateClock`].
pub(crate) type KeyedLimiter<K> = RateLimiter<K, DefaultKeyedStateStore<K>, RateClock, NoOpMiddleware<Instant>>;

/// A keyed limiter on `clock` allowing `quota`.
pub(crate) fn keyed<K: Hash + Eq + Clone>(quota: Quota, clock: &RateClock) -> KeyedLimiter<K> {
    RateLimiter::new(quota, DefaultKeyedStateStore::default(), clock.clone())
}

/// The refusal for a limit, with the wait it names rounded up to whole seconds.
pub(crate) fn refusal(limit: String, not_until: &NotUntil<Instant>, clock: &RateClock) -> ServiceError {
    let wait = not_until.wait_time_from(clock.now());
    ServiceError::RateLimited { limit, retry_after_seconds: whole_seconds_at_least_one(wait) }
}

pub struct WriteLimits {
    per_person: Option<Keyed<Uuid>>,
    per_address: Option<Keyed<IpAddr>>,
    clock: RateClock,
}

struct Keyed<K: Hash + Eq + Clone> {
    limiter: KeyedLimiter<K>,
    per_minute: u32,
}

impl<K: Hash + Eq + Clone> Keyed<K> {
    /// `None` when the limit is off (zero).
    fn new(per_minute: u32, clock: &RateClock) -> Option<Self> {
        let rate = NonZeroU32::new(per_minute)?;
        Some(Self { limiter: keyed(Quota::per_minute(rate), clock), per_minute })
    }
}

impl WriteLimits {
    pub fn new(config: &LimitsConfig, clock: RateClock) -> Self {
        Self {
            per_person: Keyed::new(config.writes_per_minute, &clock),
            per_address: Keyed::new(config.writes_per_address_per_minute, &clock),
            clock,
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
                    &not_until,
                    &self.clock,
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
                    &not_until,
                    &self.clock,
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

    fn paused() -> RateClock {
        let clock = RateClock::default();
        clock.pause();
        clock
    }

    #[test]
    fn each_person_has_their_own_allowance_which_refills() {
        let clock = paused();
        let limits = WriteLimits::new(&config(2, 0), clock.clone());
        let (ada, bob) = (person(), person());
        assert!(limits.check(&ada).is_ok() && limits.check(&ada).is_ok());
        let refused = limits.check(&ada).unwrap_err();
        let ServiceError::RateLimited { limit, retry_after_seconds } = &refused else { panic!("{refused:?}") };
        assert!(limit.contains("WRITE_RATE_PER_MINUTE"), "{limit}");
        assert_eq!(*retry_after_seconds, 30, "two a minute: one more after half a minute");
        assert!(limits.check(&bob).is_ok());
        // Guests have no personal allowance; without an address nothing limits them here.
        assert!(limits.check(&Actor::Guest).is_ok());
        // Waiting as told is enough, and not a moment less.
        clock.advance(Duration::from_secs(29));
        assert!(limits.check(&ada).is_err());
        clock.advance(Duration::from_secs(1));
        assert!(limits.check(&ada).is_ok());
        assert!(limits.check(&ada).is_err());
    }

    #[test]
    fn a_paused_clock_stands_still_until_moved() {
        let clock = RateClock::default();
        let running = clock.now();
        clock.pause();
        let at = clock.now();
        assert!(at >= running);
        clock.pause();
        assert_eq!(clock.now(), at, "pausing again keeps the instant");
        clock.advance(Duration::from_secs(5));
        assert_eq!(clock.now(), at + Duration::from_secs(5));
    }

    #[tokio::test]
    async fn addresses_are_limited_by_their_key() {
        let limits = WriteLimits::new(&config(0, 1), paused());
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
