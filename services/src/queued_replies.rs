//! At most one reply waits for its turn in each room. A burst of posts is answered once: the
//! waiting reply answers the newest of them when its turn comes, and whoever wrote that one pays.
//! Once its turn has come, the reply is kept here while it is written, so Stop can cut it off;
//! regenerating a reply registers the same way.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use domain::rooms::Message;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::lock;

struct Queued {
    id: u64,
    trigger: Message,
    billed_to: Option<Uuid>,
    cancel: CancellationToken,
}

/// A reply newly queued: its waiter must be started.
pub(crate) struct NewWaiter {
    pub id: u64,
    pub cancel: CancellationToken,
}

/// A reply being written now, outside any run: cancelling `cancel` stops it.
pub(crate) struct Writing {
    pub id: u64,
    pub cancel: CancellationToken,
}

/// The replies waiting for their room's turn, and those being written, by room.
#[derive(Default)]
pub struct QueuedReplies {
    by_room: Mutex<HashMap<Uuid, Queued>>,
    writing: Mutex<HashMap<Uuid, (u64, CancellationToken)>>,
    next_id: AtomicU64,
}

impl QueuedReplies {
    /// Queues an answer to `trigger`. When one is already waiting in the room it will answer
    /// `trigger` instead of what it was queued for, and `None` is returned.
    pub(crate) fn queue(&self, trigger: Message, billed_to: Option<Uuid>) -> Option<NewWaiter> {
        let mut by_room = lock(&self.by_room);
        if let Some(waiting) = by_room.get_mut(&trigger.room_id) {
            waiting.trigger = trigger;
            waiting.billed_to = billed_to;
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let cancel = CancellationToken::new();
        by_room.insert(trigger.room_id, Queued { id, trigger, billed_to, cancel: cancel.clone() });
        Some(NewWaiter { id, cancel })
    }

    /// Takes the waiting reply `id` as its turn begins: what to answer and who pays. Posts from
    /// now on queue a new one; the reply counts as being written until [`Self::written`].
    /// `None` when it was cancelled meanwhile.
    pub(crate) fn take(&self, room_id: Uuid, id: u64) -> Option<(Message, Option<Uuid>)> {
        let mut by_room = lock(&self.by_room);
        if by_room.get(&room_id).is_none_or(|waiting| waiting.id != id) {
            return None;
        }
        let waiting = by_room.remove(&room_id)?;
        lock(&self.writing).insert(room_id, (waiting.id, waiting.cancel));
        Some((waiting.trigger, waiting.billed_to))
    }

    /// Registers a reply written outside the queue (a regeneration) so Stop can cut it off.
    pub(crate) fn start_writing(&self, room_id: Uuid) -> Writing {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let cancel = CancellationToken::new();
        lock(&self.writing).insert(room_id, (id, cancel.clone()));
        Writing { id, cancel }
    }

    /// The reply `id` is no longer being written.
    pub(crate) fn written(&self, room_id: Uuid, id: u64) {
        let mut writing = lock(&self.writing);
        if writing.get(&room_id).is_some_and(|(writing_id, _)| *writing_id == id) {
            writing.remove(&room_id);
        }
    }

    /// Drops the room's waiting reply and stops the one being written, if any (the room was
    /// stopped or deleted).
    pub(crate) fn cancel(&self, room_id: Uuid) {
        let waiting = lock(&self.by_room).remove(&room_id).map(|waiting| waiting.cancel);
        let writing = lock(&self.writing).remove(&room_id).map(|(_, cancel)| cancel);
        for cancel in waiting.into_iter().chain(writing) {
            cancel.cancel();
        }
    }

    /// Forgets the waiting reply `id` without cancelling it: another instance answers instead.
    pub(crate) fn forget(&self, room_id: Uuid, id: u64) {
        let mut by_room = lock(&self.by_room);
        if by_room.get(&room_id).is_some_and(|waiting| waiting.id == id) {
            by_room.remove(&room_id);
        }
    }

    /// Whether a reply waits in the room.
    pub fn is_queued(&self, room_id: Uuid) -> bool {
        lock(&self.by_room).contains_key(&room_id)
    }
}
