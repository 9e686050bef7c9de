//! The one way the gateway takes its locks.
//!
//! A lock is poisoned when a thread panicked while holding it. The gateway carries on with the
//! value inside, because every structure it locks stays sound after an update stopped halfway:
//! the telemetry chain's tail changes only after its line is fully written, and the session
//! store and the execution reports are bounded caches whose lookups already tolerate an entry
//! missing from one of their indexes. Refusing every later request instead would turn one bug
//! into an outage.

use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};

/// Waits for the lock.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The lock if nobody holds it now.
pub(crate) fn try_lock<T>(mutex: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match mutex.try_lock() {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}
