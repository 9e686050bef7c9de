//! The auto-dialogue runs in progress in this process, at most one per room, and how to stop each.

use std::collections::HashMap;
use std::sync::Mutex;

use domain::runs::RunStatus;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::lock;

/// The handle of one running run.
pub(crate) struct RunHandle {
    pub run_id: Uuid,
    pub user_stop: CancellationToken,
    /// Becomes `Some` when the run has written its final state.
    pub done: watch::Receiver<Option<RunStatus>>,
}

/// The runs in progress, by room.
#[derive(Default)]
pub struct RunningRuns {
    by_room: Mutex<HashMap<Uuid, RunHandle>>,
    /// Held while a start counts the starter's runs and records the new one, so two starts at
    /// once cannot both pass the per-person limit.
    pub(crate) starting: tokio::sync::Mutex<()>,
}

impl RunningRuns {
    /// How many runs are in progress (for metrics and tests).
    pub fn count(&self) -> usize {
        lock(&self.by_room).len()
    }

    /// Whether a run is going in the room. Its next turn answers whatever a person just wrote,
    /// so no separate reply is needed.
    pub fn is_running(&self, room_id: Uuid) -> bool {
        lock(&self.by_room).contains_key(&room_id)
    }

    /// Registers a run; refused (with the handle back) when the room already has one.
    pub(crate) fn insert(&self, room_id: Uuid, handle: RunHandle) -> Result<(), RunHandle> {
        let mut by_room = lock(&self.by_room);
        if by_room.contains_key(&room_id) {
            return Err(handle);
        }
        by_room.insert(room_id, handle);
        Ok(())
    }

    pub(crate) fn remove(&self, room_id: Uuid) {
        lock(&self.by_room).remove(&room_id);
    }

    /// Asks the room's run to stop; returns its id and where its final state will appear.
    pub(crate) fn request_stop(&self, room_id: Uuid) -> Option<(Uuid, watch::Receiver<Option<RunStatus>>)> {
        lock(&self.by_room).get(&room_id).map(|handle| {
            handle.user_stop.cancel();
            (handle.run_id, handle.done.clone())
        })
    }
}
