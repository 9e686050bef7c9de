//! Turn-taking: one agent speaks at a time in each room, whether answering a person or in a run.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;

use crate::lock;

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
