//! Turn-taking: one agent speaks at a time in each room, whether answering a person or in a run.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;

use crate::lock;
use crate::ownership::TurnLease;
use crate::Services;

/// One lock per room, so only one agent speaks at a time in it.
#[derive(Default)]
pub struct RoomTurns {
    locks: Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>,
}

impl RoomTurns {
    pub async fn acquire(&self, room_id: Uuid) -> OwnedMutexGuard<()> {
        let lock = {
            let mut locks = lock(&self.locks);
            // Forget locks nobody holds or waits for, so the map does not grow with every room ever used.
            locks.retain(|_, lock| Arc::strong_count(lock) > 1);
            locks.entry(room_id).or_default().clone()
        };
        lock.lock_owned().await
    }
}

/// A room's turn: this process's lock on the room and, with several instances, the room's turn
/// lease, so one agent speaks at a time in the room whichever instance drives it.
pub(crate) struct RoomTurn {
    _local: OwnedMutexGuard<()>,
    shared: Option<TurnLease>,
}

impl RoomTurn {
    /// Cancelled when the shared turn is lost (another turn may have begun); never with one
    /// instance.
    pub(crate) fn lost(&self) -> tokio_util::sync::CancellationToken {
        self.shared.as_ref().map(TurnLease::lost).unwrap_or_default()
    }
}

/// Waits for the room's turn, for as long as the caller waits.
pub(crate) async fn take_turn(services: &Services, room_id: Uuid) -> RoomTurn {
    let local = services.room_turns.acquire(room_id).await;
    let shared = match &services.ownership {
        Some(ownership) => Some(ownership.take_turn(services, room_id).await),
        None => None,
    };
    RoomTurn { _local: local, shared }
}
