//! The service layer. The REST handlers in `server` and the server functions in `app` both call
//! into it, so every rule is written once. It knows nothing of HTTP, pages or the control plane:
//! it is built from a [`ServicesConfig`] and a store, and tested on its own.

pub mod access;
pub mod accounts;
pub mod budgets;
pub mod charts;
pub mod client;
pub mod config;
pub mod context;
pub mod error;
pub mod events;
pub mod live_texts;
pub mod llm;
pub mod markdown;
pub mod members;
pub mod message_changes;
pub mod ownership;
pub mod persona_cards;
pub mod proposals;
pub mod queued_replies;
pub mod recovery;
pub mod replies;
pub mod room_turns;
pub mod rooms;
pub mod running_runs;
pub mod runs;
pub mod snapshot;
mod state;
pub mod telegram;
pub mod telemetry_anchors;
#[cfg(feature = "testing")]
pub mod testing;
pub mod transcripts;
pub mod usage;
pub mod write_limits;

use std::sync::{Mutex, MutexGuard, PoisonError};

pub use access::{Actor, Principal, RoomAction};
pub use config::ServicesConfig;
pub use domain::addresses::rate_key;
pub use error::{ServiceError, ServiceResult};
pub use recovery::Recovered;
pub use state::Services;

/// Locks a mutex of the service layer. Every structure behind these locks is changed by single
/// inserts, removals or appends, so a panic elsewhere cannot leave one half-updated: a poisoned
/// lock is still safe to use, and recovering keeps one panic from taking every request down.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
