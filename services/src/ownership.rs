//! Which instance drives a room's agents when several instances share one database.
//!
//! With `REDIS_URL` set, runs and queued replies are owned through lease rows in the database
//! (`leases`: holder instance, fencing token, an expiry the holder renews as its heartbeat):
//! - `run:<room>` is held by the instance driving the room's run;
//! - `reply:<room>` by the instance that owes the room an answer;
//! - `turn:<room>` by the one agent turn speaking in the room, whichever instance runs it, so
//!   agents never speak over each other even when their turns start on different instances.
//!
//! An instance that stops renewing (it was killed, or hangs) loses its leases after
//! `RUN_LEASE_SECONDS`. A surviving instance then takes the work over: it marks the half-written
//! message of the dead one `interrupted` and continues the run to its limits, or answers the
//! room. An instance that shuts down gracefully hands its runs over at once instead of ending
//! them, so a rolling deploy interrupts nothing. Without `REDIS_URL` there is one instance and
//! none of this runs.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};
use uuid::Uuid;

use crate::{ServiceResult, Services};

const RUN_PREFIX: &str = "run:";
const REPLY_PREFIX: &str = "reply:";
const TURN_PREFIX: &str = "turn:";
/// How often a turn waiting for another instance's turn in the room looks again.
const TURN_POLL: Duration = Duration::from_millis(50);
/// The most runs or replies one pass of the reclaimer looks at.
const RECLAIM_BATCH: i64 = 100;

pub(crate) fn run_lease_name(room_id: Uuid) -> String {
    format!("{RUN_PREFIX}{room_id}")
}

pub(crate) fn reply_lease_name(room_id: Uuid) -> String {
    format!("{REPLY_PREFIX}{room_id}")
}

/// This instance's name and how long its leases last.
#[derive(Debug, Clone)]
pub struct Ownership {
    pub instance: String,
    pub lease: Duration,
}

/// A lease this instance holds, renewed in the background until it is released, forgotten or
/// dropped.
pub(crate) struct HeldLease {
    name: String,
    holder: String,
    token: i64,
    /// Cancelled when the lease is lost: the heartbeat was refused (another instance holds it
    /// now) or failed for a whole lease period.
    pub lost: CancellationToken,
    _heartbeat: DropGuard,
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

    /// Takes the named lease, or renews it when this instance holds it; `None` while another
    /// instance's lease is live.
    pub(crate) async fn claim(&self, services: &Services, name: String) -> ServiceResult<Option<HeldLease>> {
        self.claim_as(services, name, self.instance.clone()).await
    }

    async fn claim_as(&self, services: &Services, name: String, holder: String) -> ServiceResult<Option<HeldLease>> {
        let Some(token) = services.store.acquire_lease(&name, &holder, self.row_ttl()).await? else {
            return Ok(None);
        };
        let lost = CancellationToken::new();
        let stop = CancellationToken::new();
        let beat = Heartbeat { name: name.clone(), holder: holder.clone(), token, lease: self.row_ttl() };
        tokio::spawn(beat.run(services.clone(), lost.clone(), stop.clone()));
        Ok(Some(HeldLease { name, holder, token, lost, _heartbeat: stop.drop_guard() }))
    }

    /// Waits for the room's turn among every instance's turns (the room's turn lease), for as
    /// long as the caller waits. The turn ends when the returned lease is dropped.
    pub(crate) async fn take_turn(&self, services: &Services, room_id: Uuid) -> ServiceResult<TurnLease> {
        let name = format!("{TURN_PREFIX}{room_id}");
        // A holder of its own per turn: the next turn on this instance waits for this one too.
        let holder = format!("{}/{}", self.instance, Uuid::new_v4().simple());
        loop {
            if let Some(held) = self.claim_as(services, name.clone(), holder.clone()).await? {
                return Ok(TurnLease { services: services.clone(), held: Some(held) });
            }
            tokio::time::sleep(TURN_POLL).await;
        }
    }

    /// Whether this instance still holds `held` (its fencing token is unchanged), renewing it.
    pub(crate) async fn still_holds(&self, services: &Services, held: &HeldLease) -> bool {
        if held.lost.is_cancelled() {
            return false;
        }
        match services.store.acquire_lease(&held.name, &held.holder, self.row_ttl()).await {
            Ok(token) => token == Some(held.token),
            Err(error) => {
                tracing::warn!(%error, lease = %held.name, "cannot check a lease; its work is left to whoever holds it");
                false
            }
        }
    }

    /// Gives the lease up for another instance to take at once (a hand-over).
    pub(crate) async fn release(&self, services: &Services, held: HeldLease) {
        if let Err(error) = services.store.release_lease(&held.name, &held.holder).await {
            tracing::warn!(%error, lease = %held.name, "cannot release a lease; it expires on its own");
        }
    }

    /// Deletes the lease: its work is done and nobody is to take it over.
    pub(crate) async fn forget(&self, services: &Services, held: HeldLease) {
        forget(services, held).await;
    }
}

async fn forget(services: &Services, held: HeldLease) {
    if let Err(error) = services.store.forget_lease(&held.name, &held.holder).await {
        tracing::warn!(%error, lease = %held.name, "cannot delete a finished lease; it expires on its own");
    }
}

/// One agent's turn in a room, held across instances; the next turn may begin as soon as this
/// is dropped.
pub(crate) struct TurnLease {
    services: Services,
    held: Option<HeldLease>,
}

impl Drop for TurnLease {
    fn drop(&mut self) {
        if let Some(held) = self.held.take() {
            let services = self.services.clone();
            tokio::spawn(async move { forget(&services, held).await });
        }
    }
}

/// What a held lease's heartbeat renews.
struct Heartbeat {
    name: String,
    holder: String,
    token: i64,
    lease: Duration,
}

impl Heartbeat {
    /// Renews the lease every third of its length until stopped; marks it lost when a renewal
    /// is refused or none succeeded for a whole lease period, so the work stops before another
    /// instance's takeover could make it run twice.
    async fn run(self, services: Services, lost: CancellationToken, stop: CancellationToken) {
        let every = self.lease / 3;
        let mut renewed = Instant::now();
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            match services.store.acquire_lease(&self.name, &self.holder, self.lease).await {
                Ok(Some(now)) if now == self.token => renewed = Instant::now(),
                Ok(_) => {
                    tracing::warn!(lease = %self.name, "another instance holds this lease now; its work stops here");
                    lost.cancel();
                    return;
                }
                Err(error) if renewed.elapsed() + every >= self.lease => {
                    tracing::error!(%error, lease = %self.name, "a lease could not be renewed in time; its work stops here");
                    lost.cancel();
                    return;
                }
                Err(error) => tracing::warn!(%error, lease = %self.name, "cannot renew a lease; trying again"),
            }
        }
    }
}

/// With several instances: follows stop requests from the other instances, and looks, until
/// shutdown, for runs and replies whose instance stopped renewing their lease, to take them
/// over. Does nothing with one instance.
pub fn spawn(services: &Services) {
    let Some(ownership) = services.ownership.clone() else { return };
    crate::runs::spawn_stop_listener(services);
    let services = services.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(ownership.reclaim_interval());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = services.shutdown.cancelled() => return,
                _ = tick.tick() => {}
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

async fn reclaim_runs(services: &Services, ownership: &Ownership) -> ServiceResult<()> {
    for run in services.store.list_running_runs(RECLAIM_BATCH).await? {
        if services.shutdown.is_cancelled() {
            return Ok(());
        }
        if !services.runs.is_running(run.room_id) {
            crate::runs::take_over(services, ownership, run).await?;
        }
    }
    Ok(())
}

async fn reclaim_replies(services: &Services, ownership: &Ownership) -> ServiceResult<()> {
    for name in services.store.expired_leases(REPLY_PREFIX, RECLAIM_BATCH).await? {
        if services.shutdown.is_cancelled() {
            return Ok(());
        }
        let Some(room_id) = name.strip_prefix(REPLY_PREFIX).and_then(|room| room.parse().ok()) else { continue };
        if services.queued_replies.is_queued(room_id) {
            continue;
        }
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
        assert_eq!(reply_lease_name(room), "reply:00000000-0000-0000-0000-000000000000");
    }
}
