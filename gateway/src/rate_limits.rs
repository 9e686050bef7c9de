//! Rate limits per session and per client address (governor's GCRA, keyed), on the gateway's clock.

use std::net::IpAddr;
use std::time::Instant;

use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use uuid::Uuid;

use crate::clock::SharedClock;
use crate::config::RateLimit;
use crate::error::{whole_seconds_at_least_one, GatewayError};

type KeyedLimiter<K> = RateLimiter<K, DefaultKeyedStateStore<K>, SharedClock, NoOpMiddleware<Instant>>;

pub struct RateLimits {
    per_session: KeyedLimiter<Uuid>,
    per_address: KeyedLimiter<IpAddr>,
    clock: SharedClock,
    /// With several instances, the limits are counted in Redis instead, across all of them.
    shared: Option<crate::shared_sessions::RedisRateLimits>,
}

fn quota(limit: RateLimit) -> Quota {
    Quota::per_second(limit.per_second).allow_burst(limit.burst)
}

impl RateLimits {
    pub fn new(session: RateLimit, address: RateLimit, clock: SharedClock) -> Self {
        Self {
            per_session: RateLimiter::new(quota(session), DefaultKeyedStateStore::default(), clock.clone()),
            per_address: RateLimiter::new(quota(address), DefaultKeyedStateStore::default(), clock.clone()),
            clock,
            shared: None,
        }
    }

    /// Counts the limits in Redis from now on, shared by every instance.
    pub fn share(&mut self, shared: crate::shared_sessions::RedisRateLimits) {
        self.shared = Some(shared);
    }

    /// IPv6 clients are limited by their /64, which one subscriber commonly holds whole.
    pub fn check_address(&self, address: IpAddr) -> Result<(), GatewayError> {
        if let Some(shared) = &self.shared {
            return shared.check_address(address);
        }
        self.per_address.check_key(&domain::addresses::rate_key(address)).map_err(|not_until| {
            GatewayError::RateLimited {
                retry_after_seconds: whole_seconds_at_least_one(not_until.wait_time_from(self.clock.now())),
            }
        })
    }

    pub fn check_session(&self, session_id: Uuid) -> Result<(), GatewayError> {
        if let Some(shared) = &self.shared {
            return shared.check_session(session_id);
        }
        self.per_session.check_key(&session_id).map_err(|not_until| GatewayError::RateLimited {
            retry_after_seconds: whole_seconds_at_least_one(not_until.wait_time_from(self.clock.now())),
        })
    }

    /// Forgets keys whose limits are back to full, so memory follows the active clients.
    pub fn forget_idle(&self) {
        self.per_session.retain_recent();
        self.per_session.shrink_to_fit();
        self.per_address.retain_recent();
        self.per_address.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::clock::ManualClock;

    /// Limits on a clock that stands still until the test moves it.
    fn limits(session: RateLimit, address: RateLimit) -> (RateLimits, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new());
        (RateLimits::new(session, address, SharedClock::new(clock.clone())), clock)
    }

    impl RateLimits {
        fn tracked_keys(&self) -> usize {
            self.per_session.len() + self.per_address.len()
        }
    }

    #[test]
    fn a_burst_of_one_hundred_from_one_session_is_refused() {
        let (limits, clock) = limits(RateLimit::new(20, 40), RateLimit::new(1_000_000, 1_000_000));
        let session = Uuid::new_v4();
        let refused: Vec<GatewayError> = (0..100).filter_map(|_| limits.check_session(session).err()).collect();
        // The clock stands still: the burst of 40 passes, the other 60 are refused.
        assert_eq!(refused.len(), 60);
        assert!(matches!(refused[0], GatewayError::RateLimited { retry_after_seconds: 1 }));
        // Other sessions have their own budget.
        assert!(limits.check_session(Uuid::new_v4()).is_ok());
        // One cell comes back every 50 ms.
        clock.advance(Duration::from_millis(50));
        assert!(limits.check_session(session).is_ok());
        assert!(limits.check_session(session).is_err());
    }

    #[test]
    fn addresses_are_limited_separately() {
        let (limits, _clock) = limits(RateLimit::new(1_000, 1_000), RateLimit::new(1, 2));
        let address: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(limits.check_address(address).is_ok());
        assert!(limits.check_address(address).is_ok());
        assert!(limits.check_address(address).is_err());
        assert!(limits.check_address("127.0.0.2".parse().unwrap()).is_ok());
        assert!(limits.check_address("2001:db8:1:2::1".parse().unwrap()).is_ok());
        assert!(limits.check_address("2001:db8:1:2::2".parse().unwrap()).is_ok());
        assert!(limits.check_address("2001:db8:1:2:ffff::3".parse().unwrap()).is_err(), "one /64, one allowance");
        assert!(limits.check_address("2001:db8:1:3::1".parse().unwrap()).is_ok());
    }

    #[test]
    fn forgetting_idle_keys_keeps_the_others_and_lifts_no_limit() {
        let (limits, clock) = limits(RateLimit::new(1_000, 1_000), RateLimit::new(1, 5));
        let (busy, quiet): (IpAddr, IpAddr) = ("127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap());
        for _ in 0..5 {
            assert!(limits.check_address(busy).is_ok());
        }
        assert!(limits.check_address(busy).is_err());
        assert!(limits.check_address(quiet).is_ok());
        limits.forget_idle();
        assert_eq!(limits.tracked_keys(), 2, "both addresses are in use");
        assert!(limits.check_address(busy).is_err(), "forgetting lifted no limit");

        // 2.5 s on, the quiet address has long refilled its one cell; the busy one is still refilling its five.
        clock.advance(Duration::from_millis(2_500));
        limits.forget_idle();
        assert_eq!(limits.tracked_keys(), 1, "only the quiet address is forgotten");

        // Once the busy address has refilled too, nothing is kept.
        clock.advance(Duration::from_secs(4));
        limits.forget_idle();
        assert_eq!(limits.tracked_keys(), 0);
    }
}
