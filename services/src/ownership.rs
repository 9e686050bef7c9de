//! Which instance drives a room's agents when several instances share one database.
//!
//! With `REDIS_URL` set, runs, queued replies and agent turns are owned through lease rows in
//! the database (`leases`: holder, fencing token, an expiry the holder renews as its heartbeat):
//! - `run:<room>` is held by the driver of the room's run;
//! - `reply:<room>:<id>` by each reply owed to the room (a queued reply and its answer);
//! - `turn:<room>` by the one agent turn speaking in the room, whichever instance runs it, so
//!   agents never speak over each other even when their turns start on different instances.
//!   Every message is written under its room's turn, so a message still `streaming` when a turn
//!   begins was left by a writer that died: the new turn marks it `interrupted`.
//!
//! Each claim has a holder of its own (`<instance>/<random>`), so two pieces of work on one
//! instance never share a lease, and a holder whose lease lapsed can never renew it back: it
//! stops its work when its heartbeat is refused. A surviving instance takes lapsed work over
//! within `RUN_LEASE_SECONDS`: it continues the run to its limits, or answers the room. An
//! instance that shuts down gracefully hands its runs and replies over at once instead of ending
//! them, so a rolling deploy interrupts nothing. Without `REDIS_URL` there is one instance and
//! none of this runs.

use std::time::Duration;

use domain::events::RoomEvent;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};
use uuid::Uuid;

use crate::{ServiceResult, Services};

const RUN_PREFIX: &str = "run:";
const REPLY_PREFIX: &str = "reply:";
const TURN_PREFIX: &str = "turn:";
/// How often a turn waiting for another instance's turn in the room looks again.
const TURN_POLL: Duration = Duration::from_millis(50);
/// How long a turn that could not ask the database waits before asking again.
const TURN_RETRY: Duration = Duration::from_millis(250);
/// The most lapsed runs or replies one pass of the reclaimer takes.
const RECLAIM_BATCH: i64 = 100;
/// How often an instance looks for work that lost its lease row altogether, and for messages
/// left streaming in rooms where nobody speaks.
const SWEEP_INTERVAL: Duration = Duration::from_secs(30);
/// The most runs or rooms one sweep looks at.
const SWEEP_BATCH: i64 = 1000;
/// Who makes a lapsed lease for a run that has none, so the reclaimer takes the run over.
const SWEEP_HOLDER: &str = "sweep";
/// How long a turn's end waits for its last events to reach Redis, so the next speaker's
/// events never overtake them.
const TURN_FLUSH: Duration = Duration::from_secs(1);

pub(crate) fn run_lease_name(room_id: Uuid) -> String {
    format!("{RUN_PREFIX}{room_id}")
}

/// A reply's own lease name: several replies may be owed to one room at once.
pub(crate) fn reply_lease_name(room_id: Uuid) -> String {
    format!("{REPLY_PREFIX}{room_id}:{}", Uuid::new_v4().simple())
}

fn room_of_reply_lease(name: &str) -> Option<Uuid> {
    let rest = name.strip_prefix(REPLY_PREFIX)?;
    rest.split(':').next()?.parse().ok()
}

/// This instance's name and how long its leases last.
#[derive(Debug, Clone)]
pub struct Ownership {
    pub instance: String,
    pub lease: Duration,
}

/// A lease held by one piece of work on this instance, renewed in the background until it is
/// released or forgotten. Dropped without either (its work was cancelled or failed), it is
/// released, so another instance may take the work at once.
pub(crate) struct HeldLease {
    name: String,
    holder: String,
    token: i64,
    /// Cancelled when the lease is lost: a renewal was refused (it lapsed and another holder may
    /// have it now) or none succeeded within the lease's life.
    pub lost: CancellationToken,
    _heartbeat: DropGuard,
    /// Until the lease is released or forgotten on purpose.
    release_on_drop: Option<Services>,
}

impl Drop for HeldLease {
    fn drop(&mut self) {
        if let Some(services) = self.release_on_drop.take() {
            let (name, holder) = (self.name.clone(), self.holder.clone());
            tokio::spawn(async move {
                if let Err(error) = services.store.release_lease(&name, &holder).await {
                    tracing::warn!(%error, lease = %name, "cannot release an abandoned lease; it lapses on its own");
                }
            });
        }
    }
}

impl Ownership {
    pub fn new(instance: String, lease: Duration) -> Self {
        Self { instance, lease }
    }

    /// How long a lease row lasts without renewal: three quarters of `RUN_LEASE_SECONDS`, so
    /// that with the reclaimer's interval a dead owner's work is taken over within
    /// `RUN_LEASE_SECONDS` of its death.
    fn row_ttl(&self) -> Duration {
        self.lease * 3 / 4
    }

    /// How often the reclaimer looks for work whose owner died.
    pub fn reclaim_interval(&self) -> Duration {
        (self.lease / 8).clamp(Duration::from_millis(100), Duration::from_secs(1))
    }

    /// Takes the named lease for a new piece of work; `None` while anyone else holds it live.
    pub(crate) async fn claim(&self, services: &Services, name: String) -> ServiceResult<Option<HeldLease>> {
        let holder = format!("{}/{}", self.instance, Uuid::new_v4().simple());
        let Some(token) = services.store.acquire_lease(&name, &holder, self.row_ttl()).await? else {
            return Ok(None);
        };
        let lost = CancellationToken::new();
        let stop = CancellationToken::new();
        let beat = Heartbeat { name: name.clone(), holder: holder.clone(), token, ttl: self.row_ttl() };
        tokio::spawn(beat.run(services.clone(), lost.clone(), stop.clone()));
        Ok(Some(HeldLease {
            name,
            holder,
            token,
            lost,
            _heartbeat: stop.drop_guard(),
            release_on_drop: Some(services.clone()),
        }))
    }

    /// Waits for the room's turn among every instance's turns, for as long as the caller waits
    /// (a database that does not answer is asked again). A message left `streaming` in the room
    /// by a writer that died is marked `interrupted` before the turn begins. The turn ends when
    /// the returned lease is dropped.
    pub(crate) async fn take_turn(&self, services: &Services, room_id: Uuid) -> TurnLease {
        let name = format!("{TURN_PREFIX}{room_id}");
        let held = loop {
            // Claimed by a task of its own: when the waiting turn is cancelled (a Stop, a
            // deadline) just as the claim lands, the claim's lease is dropped there and released,
            // rather than left to block the room until it lapses.
            let claiming = {
                let (ownership, services, name) = (self.clone(), services.clone(), name.clone());
                tokio::spawn(async move { ownership.claim(&services, name).await })
            };
            match claiming.await {
                Ok(Ok(Some(held))) => break held,
                Ok(Ok(None)) => tokio::time::sleep(TURN_POLL).await,
                Ok(Err(error)) => {
                    tracing::warn!(%room_id, %error, "cannot ask for the room's turn; asking again");
                    tokio::time::sleep(TURN_RETRY).await;
                }
                Err(error) => {
                    tracing::error!(%room_id, %error, "asking for the room's turn failed; asking again");
                    tokio::time::sleep(TURN_RETRY).await;
                }
            }
        };
        if let Err(error) = interrupt_left_messages(services, room_id, None).await {
            tracing::warn!(%room_id, %error, "cannot look for messages a stopped instance left streaming");
        }
        TurnLease { services: services.clone(), held: Some(held) }
    }

    /// Whether the lease is still this holder's (its fencing token is unchanged), renewing it.
    pub(crate) async fn still_holds(&self, services: &Services, held: &HeldLease) -> bool {
        if held.lost.is_cancelled() {
            return false;
        }
        match services.store.renew_lease(&held.name, &held.holder, held.token, self.row_ttl()).await {
            Ok(renewed) => renewed,
            Err(error) => {
                tracing::warn!(%error, lease = %held.name, "cannot check a lease; its work is left to whoever holds it");
                false
            }
        }
    }

    /// Gives the lease up for another instance to take at once (a hand-over).
    pub(crate) async fn release(&self, services: &Services, mut held: HeldLease) {
        held.release_on_drop = None;
        if let Err(error) = services.store.release_lease(&held.name, &held.holder).await {
            tracing::warn!(%error, lease = %held.name, "cannot release a lease; it lapses on its own");
        }
    }

    /// Deletes the lease: its work is done and nobody is to take it over.
    pub(crate) async fn forget(&self, services: &Services, held: HeldLease) {
        forget(services, held).await;
    }
}

/// Marks what a stopped instance left `streaming` in the room `interrupted` (the run's messages,
/// or with `None` every one, when the caller holds the room's turn), and tells the room's
/// clients.
pub(crate) async fn interrupt_left_messages(
    services: &Services,
    room_id: Uuid,
    run_id: Option<Uuid>,
) -> ServiceResult<()> {
    for message in services.store.interrupt_streaming_messages_of(room_id, run_id).await? {
        tracing::warn!(%room_id, message_id = %message.id, "a message left streaming by a stopped instance is now interrupted");
        services.events.publish(room_id, &RoomEvent::MessageDone(crate::markdown::with_html(message)));
    }
    Ok(())
}

async fn forget(services: &Services, mut held: HeldLease) {
    held.release_on_drop = None;
    if let Err(error) = services.store.forget_lease(&held.name, &held.holder).await {
        tracing::warn!(%error, lease = %held.name, "cannot delete a finished lease; it lapses on its own");
    }
}

/// One agent's turn in a room, held across instances; the next turn may begin once it is
/// dropped and the turn's last events have reached the other instances.
pub(crate) struct TurnLease {
    services: Services,
    held: Option<HeldLease>,
}

impl TurnLease {
    /// Cancelled when the turn's lease is lost: another turn may have begun meanwhile.
    pub(crate) fn lost(&self) -> CancellationToken {
        self.held.as_ref().map(|held| held.lost.clone()).unwrap_or_default()
    }
}

impl Drop for TurnLease {
    fn drop(&mut self) {
        if let Some(held) = self.held.take() {
            let services = self.services.clone();
            self.services.tasks.spawn(async move {
                services.events.flush(TURN_FLUSH).await;
                forget(&services, held).await;
            });
        }
    }
}

/// What a held lease's heartbeat renews.
struct Heartbeat {
    name: String,
    holder: String,
    token: i64,
    ttl: Duration,
}

impl Heartbeat {
    /// Renews the lease every third of its life until stopped. It is lost when a renewal is
    /// refused, or when none succeeded within its life (a slow database counts as a failed
    /// one), so the work stops before another instance's takeover could make it run twice.
    async fn run(self, services: Services, lost: CancellationToken, stop: CancellationToken) {
        let every = self.ttl / 3;
        let mut renewed = Instant::now();
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            let renewal = services.store.renew_lease(&self.name, &self.holder, self.token, self.ttl);
            match tokio::time::timeout(every, renewal).await {
                Ok(Ok(true)) => renewed = Instant::now(),
                Ok(Ok(false)) => {
                    tracing::warn!(lease = %self.name, "this lease lapsed and may be someone else's now; its work stops here");
                    lost.cancel();
                    return;
                }
                Ok(Err(error)) if renewed.elapsed() + every >= self.ttl => {
                    tracing::error!(%error, lease = %self.name, "a lease could not be renewed in time; its work stops here");
                    lost.cancel();
                    return;
                }
                Err(_) if renewed.elapsed() + every >= self.ttl => {
                    tracing::error!(lease = %self.name, "renewing a lease took too long; its work stops here");
                    lost.cancel();
                    return;
                }
                Ok(Err(error)) => tracing::warn!(%error, lease = %self.name, "cannot renew a lease; trying again"),
                Err(_) => tracing::warn!(lease = %self.name, "renewing a lease is slow; trying again"),
            }
        }
    }
}

/// With several instances: follows stop requests from the other instances, and looks, until
/// shutdown, for runs and replies whose lease lapsed, to take them over. Does nothing with one
/// instance.
pub fn spawn(services: &Services) {
    let Some(ownership) = services.ownership.clone() else { return };
    crate::runs::spawn_stop_listener(services);
    let services = services.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(ownership.reclaim_interval());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut swept = Instant::now();
        loop {
            tokio::select! {
                _ = services.shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if swept.elapsed() >= SWEEP_INTERVAL {
                swept = Instant::now();
                if let Err(error) = sweep(&services, &ownership).await {
                    tracing::warn!(%error, "cannot look for work left without a lease");
                }
            }
            if let Err(error) = reclaim_runs(&services, &ownership).await {
                tracing::warn!(%error, "cannot look for runs left by a stopped instance");
            }
            if let Err(error) = reclaim_replies(&services, &ownership).await {
                tracing::warn!(%error, "cannot look for replies left by a stopped instance");
            }
        }
    });
}

/// Takes over the runs whose lease lapsed. Every running run has its room's run lease from
/// before it was created, so a lapsed lease is how an abandoned run shows.
async fn reclaim_runs(services: &Services, ownership: &Ownership) -> ServiceResult<()> {
    for name in services.store.expired_leases(RUN_PREFIX, RECLAIM_BATCH).await? {
        if services.shutdown.is_cancelled() {
            return Ok(());
        }
        let Some(room_id) = name.strip_prefix(RUN_PREFIX).and_then(|room| room.parse().ok()) else { continue };
        crate::runs::take_over(services, ownership, room_id).await?;
    }
    Ok(())
}

/// Work that lost its lease row altogether: a run whose start or end failed halfway (or that an
/// earlier version left) gets a lapsed lease, which the reclaimer then takes over; a message
/// left `streaming` in a room where no turn is held is marked `interrupted`.
async fn sweep(services: &Services, ownership: &Ownership) -> ServiceResult<()> {
    for run in services.store.list_running_runs(SWEEP_BATCH).await? {
        if services.runs.is_running(run.room_id) {
            continue;
        }
        // A held lease is left alone; a missing one is made, already lapsed.
        services.store.acquire_lease(&run_lease_name(run.room_id), SWEEP_HOLDER, Duration::ZERO).await?;
    }
    for room_id in services.store.rooms_with_streaming_messages(SWEEP_BATCH).await? {
        if let Some(held) = ownership.claim(services, format!("{TURN_PREFIX}{room_id}")).await? {
            let interrupted = interrupt_left_messages(services, room_id, None).await;
            forget(services, held).await;
            interrupted?;
        }
    }
    Ok(())
}

async fn reclaim_replies(services: &Services, ownership: &Ownership) -> ServiceResult<()> {
    for name in services.store.expired_leases(REPLY_PREFIX, RECLAIM_BATCH).await? {
        if services.shutdown.is_cancelled() {
            return Ok(());
        }
        let Some(room_id) = room_of_reply_lease(&name) else { continue };
        if let Some(held) = ownership.claim(services, name).await? {
            crate::rooms::take_over_reply(services, ownership, room_id, held).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_owners_work_is_taken_over_within_a_lease() {
        for secs in [2, 3, 10, 60, 600] {
            let ownership = Ownership::new("a".into(), Duration::from_secs(secs));
            // The row lapses at most row_ttl after the owner's death; the next look comes within
            // one reclaim interval of that.
            let worst = ownership.row_ttl() + ownership.reclaim_interval();
            assert!(worst < ownership.lease, "{secs} s: {worst:?}");
            // Three renewals fit in a row's life, so one slow renewal does not lose the lease.
            assert!(ownership.row_ttl() / 3 >= Duration::from_millis(500), "{secs} s");
        }
    }

    #[test]
    fn lease_names_say_what_they_guard() {
        let room = Uuid::nil();
        assert_eq!(run_lease_name(room), "run:00000000-0000-0000-0000-000000000000");
        let reply = reply_lease_name(room);
        assert!(reply.starts_with("reply:00000000-0000-0000-0000-000000000000:"), "{reply}");
        assert_ne!(reply, reply_lease_name(room), "each reply has its own");
        assert_eq!(room_of_reply_lease(&reply), Some(room));
        assert_eq!(room_of_reply_lease("reply:nonsense"), None);
    }
}
