//! The service layer. The REST handlers in `server` and the server functions in `app` both call
//! into it, so every rule is written once. It knows nothing of HTTP, pages or the control plane:
//! it is built from a [`ServicesConfig`] and a store, and tested on its own.

pub mod access;
pub mod accounts;
pub mod config;
pub mod context;
pub mod error;
pub mod events;
pub mod live_texts;
pub mod llm;
pub mod markdown;
pub mod members;
pub mod recovery;
pub mod replies;
pub mod room_turns;
pub mod rooms;
pub mod running_runs;
pub mod runs;
pub mod snapshot;
mod state;

use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};

pub use access::{Actor, Principal, RoomAction};
pub use config::ServicesConfig;
pub use error::{ServiceError, ServiceResult};
pub use recovery::Recovered;
pub use state::Services;

/// Locks a mutex of the service layer. Every structure behind these locks is changed by single
/// inserts, removals or appends, so a panic elsewhere cannot leave one half-updated: a poisoned
/// lock is still safe to use, and recovering keeps one panic from taking every request down.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The key a client address is limited by: the address itself, or its /64 network for IPv6,
/// where one subscriber commonly holds a whole /64.
pub fn rate_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => {
            let network = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(network.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_limited_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(rate_key(a), rate_key(b));
        assert_ne!(rate_key(a), rate_key(other));
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(rate_key(v4), v4);
    }
}
