//! Rate limits per session and per client address (governor's GCRA, keyed).

use std::net::IpAddr;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use uuid::Uuid;

use crate::config::RateLimit;
use crate::error::{whole_seconds_at_least_one, GatewayError};

pub struct RateLimits {
    per_session: DefaultKeyedRateLimiter<Uuid>,
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

fn quota(limit: RateLimit) -> Quota {
    Quota::per_second(limit.per_second).allow_burst(limit.burst)
}

impl RateLimits {
    pub fn new(session: RateLimit, address: RateLimit) -> Self {
        Self {
            per_session: RateLimiter::keyed(quota(session)),
            per_address: RateLimiter::keyed(quota(address)),
            clock: DefaultClock::default(),
        }
    }

    pub fn check_address(&self, address: IpAddr) -> Result<(), GatewayError> {
        self.per_address.check_key(&address).map_err(|not_until| GatewayError::RateLimited {
            retry_after_seconds: whole_seconds_at_least_one(not_until.wait_time_from(self.clock.now())),
        })
    }

    pub fn check_session(&self, session_id: Uuid) -> Result<(), GatewayError> {
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
    use super::*;

    #[test]
    fn a_burst_of_one_hundred_from_one_session_is_refused() {
        let limits = RateLimits::new(RateLimit::new(20, 40), RateLimit::new(1_000_000, 1_000_000));
        let session = Uuid::new_v4();
        let refused: Vec<GatewayError> = (0..100).filter_map(|_| limits.check_session(session).err()).collect();
        assert!(refused.len() >= 55, "only {} of 100 refused", refused.len());
        assert!(matches!(refused[0], GatewayError::RateLimited { retry_after_seconds: 1 }));
        // Other sessions have their own budget.
        assert!(limits.check_session(Uuid::new_v4()).is_ok());
    }

    #[test]
    fn addresses_are_limited_separately() {
        let limits = RateLimits::new(RateLimit::new(1_000, 1_000), RateLimit::new(1, 2));
        let address: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(limits.check_address(address).is_ok());
        assert!(limits.check_address(address).is_ok());
        assert!(limits.check_address(address).is_err());
        assert!(limits.check_address("127.0.0.2".parse().unwrap()).is_ok());
        limits.forget_idle();
    }
}
