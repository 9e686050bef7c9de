//! Auto-dialogue runs: agents take turns on their own until a limit is reached or someone stops
//! them. The orchestrator owns every running run; stopping one cancels the provider request in
//! flight at once and keeps the partial message.

use std::time::Duration;

use domain::events::RoomEvent;
use domain::rooms::{MessageStatus, SenderType};
use domain::runs::{
    limits, Run, RunStarted, RunStatus, RunStatusEvent, RunStopped, RunTimeline, RunTurn, StartRun, StopReason,
};
use domain::turns::{choose_run_speaker, RunTurnView};
use storage::NewRun;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::access::{authorize_room, Actor, RoomAction};
use crate::budgets::Payer;
use crate::events::{StopRequest, StopScope};
use crate::ownership::{run_lease_name, HeldLease, Ownership};
use crate::replies::{run_turn, StopSignal, Turn, TurnContext, TurnOutcome};
use crate::running_runs::RunHandle;
use crate::{ServiceError, ServiceResult, Services};

/// How long `stop` waits for the run to write its final state before answering.
const STOP_WAIT: Duration = Duration::from_secs(5);
/// How often a run's end is tried when the database fails, and how long apart.
const FINISH_ATTEMPTS: u32 = 5;
const FINISH_RETRY: Duration = Duration::from_secs(1);
/// A failed generation is retried once; a second failure in a row ends the run.
const MAX_CONSECUTIVE_FAILURES: u32 = 2;

/// Starts an auto-dialogue run in a room.
pub async fn start(services: &Services, actor: &Actor, room_id: Uuid, input: StartRun) -> ServiceResult<RunStarted> {
    services.write_limits.check(actor)?;
    authorize_room(services, actor, room_id, RoomAction::Run).await?;
    start_authorized(services, actor, room_id, input).await
}

/// Starts a run for an actor already allowed to run one in the room: checks the limits, the
/// agents, the starter's budget and run allowance, then records and drives it.
pub(crate) async fn start_authorized(
    services: &Services,
    actor: &Actor,
    room_id: Uuid,
    input: StartRun,
) -> ServiceResult<RunStarted> {
    input.validate()?;
    let active = services.store.list_agents(room_id).await?.iter().filter(|a| a.is_active).count();
    if active < limits::MIN_AGENTS {
        return Err(ServiceError::invalid(
            "agents",
            format!("Auto mode needs at least {} active agents; this room has {active}.", limits::MIN_AGENTS),
        ));
    }
    if services.runs.is_running(room_id) {
        return Err(ServiceError::Conflict("A run is already active in this room.".into()));
    }
    let starter = actor.require_person()?;
    let budget = crate::budgets::daily(services, Payer::Person(starter.id)).await?;
    if budget.is_spent() {
        return Err(budget.refusal());
    }
    // Counting and recording under one lock, so two starts at once cannot both squeeze in.
    let _starting = services.runs.starting.lock().await;
    if services.runs.is_running(room_id) {
        return Err(ServiceError::Conflict("A run is already active in this room.".into()));
    }
    let going = services.store.count_running_runs_started_by(starter.id).await?;
    let most = services.config.limits.runs_per_user;
    if going >= most {
        return Err(ServiceError::QuotaExceeded {
            message: format!(
                "You have {going} runs going, the most one person may (RUNS_MAX_PER_USER = {most}); stop one first."
            ),
            retry_after_seconds: None,
        });
    }
    // With several instances, the room's run lease names the instance driving its run. It is
    // taken before the run exists, so no other instance can take a starting run over.
    let lease = match &services.ownership {
        None => None,
        Some(ownership) => match ownership.claim(services, run_lease_name(room_id)).await? {
            Some(held) => Some(held),
            None => return Err(ServiceError::Conflict("A run is already active in this room.".into())),
        },
    };
    // The database refuses a second running run too, even from another server.
    let created = services
        .store
        .create_run(NewRun {
            room_id,
            max_steps: input.max_steps,
            max_seconds: input.max_seconds,
            budget_tokens: input.budget_tokens,
            started_by: actor.user_id(),
        })
        .await;
    let run = match created {
        Ok(run) => run,
        Err(error) => {
            if let (Some(ownership), Some(held)) = (&services.ownership, lease) {
                // The lease had lapsed: a run whose instance died holds the room. Released, the
                // lease stays lapsed and the reclaimer takes that run over.
                ownership.release(services, held).await;
            }
            return Err(match error {
                storage::StorageError::Conflict(_) => {
                    ServiceError::Conflict("A run is already active in this room.".into())
                }
                other => other.into(),
            });
        }
    };
    let driver = RunDriver {
        services: services.clone(),
        run: run.clone(),
        started_by: actor.user_id(),
        user_stop: CancellationToken::new(),
        started: Instant::now(),
        steps: 0,
        tokens_used: 0,
        cost: 0.0,
        spoke_at: Vec::new(),
        lease,
        ended_elsewhere: None,
    };
    if let Err(driver) = spawn_driver(services, driver) {
        // Another request started one in between; the database row must not stay running.
        if let Err(error) = services.store.finish_run(run.id, RunStatus::Stopped, StopReason::Error).await {
            tracing::error!(run_id = %run.id, %error, "could not close a run that lost the race to start");
        }
        if let (Some(ownership), Some(held)) = (&services.ownership, driver.lease) {
            ownership.forget(services, held).await;
        }
        return Err(ServiceError::Conflict("A run is already active in this room.".into()));
    }
    tracing::info!(%room_id, run_id = %run.id, max_steps = run.max_steps, max_seconds = run.max_seconds, "run started");
    metrics::counter!("runs_started_total").increment(1);
    Ok(RunStarted { run_id: run.id })
}

/// Registers the run as driven here and drives it in the background; the driver back when the
/// room already has a run going in this process.
fn spawn_driver(services: &Services, driver: RunDriver) -> Result<(), Box<RunDriver>> {
    let room_id = driver.run.room_id;
    let (done_sender, done) = watch::channel(None);
    let handle = RunHandle { run_id: driver.run.id, user_stop: driver.user_stop.clone(), done };
    if services.runs.insert(room_id, handle).is_err() {
        return Err(Box::new(driver));
    }
    let services_for_task = services.clone();
    services.tasks.spawn(async move {
        let status = driver.drive().await;
        services_for_task.runs.remove(room_id);
        let _ = done_sender.send(Some(status));
    });
    Ok(())
}

/// Takes over the room's run when its lease lapsed (its instance was killed or hangs): the
/// message it was writing becomes `interrupted`, and the run goes on from its stored counters
/// to its own limits, its clock still counted from when it started. Nothing happens while the
/// run is still owned; when there is none, the lapsed lease is deleted.
pub(crate) async fn take_over(services: &Services, ownership: &Ownership, room_id: Uuid) -> ServiceResult<()> {
    // Under the start lock, so a run starting here is not mistaken for an abandoned one.
    let _starting = services.runs.starting.lock().await;
    if services.runs.is_running(room_id) {
        // Driven here: if its lease lapsed, its heartbeat finds out and it stops.
        return Ok(());
    }
    let Some(lease) = ownership.claim(services, run_lease_name(room_id)).await? else { return Ok(()) };
    let Some(run) = services.store.running_run(room_id).await? else {
        ownership.forget(services, lease).await;
        return Ok(());
    };
    crate::ownership::interrupt_left_messages(services, room_id, Some(run.id)).await?;
    let cost = services.store.run_cost(run.id).await?;
    let started_by = services.store.run_started_by(run.id).await?;
    let elapsed = (chrono::Utc::now() - run.started_at).to_std().unwrap_or_default();
    let driver = RunDriver {
        services: services.clone(),
        started_by,
        user_stop: CancellationToken::new(),
        started: Instant::now().checked_sub(elapsed).unwrap_or_else(Instant::now),
        steps: run.steps,
        tokens_used: run.tokens_used,
        cost,
        spoke_at: Vec::new(),
        lease: Some(lease),
        ended_elsewhere: None,
        run,
    };
    let run_id = driver.run.id;
    let steps = driver.steps;
    if let Err(driver) = spawn_driver(services, driver) {
        if let Some(held) = driver.lease {
            ownership.release(services, held).await;
        }
        return Ok(());
    }
    tracing::warn!(%room_id, %run_id, steps, "took over a run whose instance stopped renewing its lease");
    metrics::counter!("runs_taken_over_total").increment(1);
    Ok(())
}

/// Whether a run is going in the room, on this instance or (with several) on any.
pub(crate) async fn is_active(services: &Services, room_id: Uuid) -> ServiceResult<bool> {
    if services.runs.is_running(room_id) {
        return Ok(true);
    }
    if services.ownership.is_none() {
        return Ok(false);
    }
    Ok(services.store.running_run(room_id).await?.is_some())
}

/// Stops the room's running run and waits (briefly) for its final state.
pub async fn stop(services: &Services, actor: &Actor, room_id: Uuid) -> ServiceResult<RunStopped> {
    authorize_room(services, actor, room_id, RoomAction::Run).await?;
    stop_running(services, room_id).await.ok_or_else(|| ServiceError::Conflict("No run is active in this room.".into()))
}

/// Stops the room's run, if one is going, and waits (briefly) for its final state.
pub(crate) async fn stop_running(services: &Services, room_id: Uuid) -> Option<RunStopped> {
    // A reply waiting for its turn is stopped as well: Stop means the room goes quiet.
    services.queued_replies.cancel(room_id);
    if let Some((run_id, done)) = services.runs.request_stop(room_id) {
        // With several instances, a reply another one owes the room is stopped too.
        services.events.announce_stop(room_id, StopScope::Everything).await;
        return Some(RunStopped { status: final_status(done).await, run_id });
    }
    let ownership = services.ownership.as_ref()?;
    services.events.announce_stop(room_id, StopScope::Everything).await;
    let run = match services.store.running_run(room_id).await {
        Ok(run) => run?,
        Err(error) => {
            tracing::error!(%room_id, %error, "cannot look up the room's run to stop it");
            return None;
        }
    };
    Some(stop_elsewhere(services, ownership, run).await)
}

/// Stops, as other instances ask, the agents this instance drives in a room: its run and the
/// reply waiting for its turn there.
pub(crate) fn spawn_stop_listener(services: &Services) {
    let mut requests = services.events.stop_requests();
    let services = services.clone();
    tokio::spawn(async move {
        loop {
            let StopRequest { room_id, scope } = tokio::select! {
                _ = services.shutdown.cancelled() => return,
                request = requests.recv() => match request {
                    Ok(request) => request,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "stop requests from other instances came faster than they were read");
                        continue;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
            };
            services.queued_replies.cancel(room_id);
            if scope == StopScope::Replies {
                continue;
            }
            if let Some((run_id, _)) = services.runs.request_stop(room_id) {
                tracing::info!(%room_id, %run_id, "a run stops at another instance's request");
            }
        }
    });
}

/// Waits for the run's final state, as its driver writes it.
async fn final_status(mut done: watch::Receiver<Option<RunStatus>>) -> RunStatus {
    match tokio::time::timeout(STOP_WAIT, done.wait_for(Option::is_some)).await {
        Ok(Ok(status)) => (*status).unwrap_or(RunStatus::Stopped),
        _ => RunStatus::Stopped,
    }
}

/// How often a stop waiting on another instance's run looks at it.
const STOP_POLL: Duration = Duration::from_millis(25);
/// Every this many looks, the stop is announced again (in case the owner missed it) and the
/// owner's lease is checked: a run whose owner died is ended here.
const STOP_POLLS_PER_CHECK: u32 = 10;

/// Stops a run another instance drives: the owner was asked through Redis; this waits for the
/// run's final row, and ends the run itself when its owner turns out to be dead.
async fn stop_elsewhere(services: &Services, ownership: &Ownership, run: Run) -> RunStopped {
    let run_id = run.id;
    let deadline = Instant::now() + STOP_WAIT;
    let mut polls = 0u32;
    loop {
        match services.store.get_run(run.room_id, run_id).await {
            Ok(Some(now)) if now.status != RunStatus::Running => return RunStopped { status: now.status, run_id },
            Ok(_) => {}
            Err(error) => tracing::warn!(%run_id, %error, "cannot read the run being stopped"),
        }
        polls += 1;
        if polls.is_multiple_of(STOP_POLLS_PER_CHECK) {
            match end_abandoned(services, ownership, &run).await {
                Ok(Some(status)) => return RunStopped { status, run_id },
                Ok(None) => services.events.announce_stop(run.room_id, StopScope::Everything).await,
                Err(error) => tracing::warn!(%run_id, %error, "cannot end a run whose instance stopped"),
            }
        }
        if Instant::now() >= deadline {
            return RunStopped { status: RunStatus::Stopped, run_id };
        }
        tokio::time::sleep(STOP_POLL).await;
    }
}

/// Ends, as stopped by its user, a run whose instance let its lease expire; `None` while its
/// owner is alive.
async fn end_abandoned(services: &Services, ownership: &Ownership, run: &Run) -> ServiceResult<Option<RunStatus>> {
    let _starting = services.runs.starting.lock().await;
    if services.runs.is_running(run.room_id) {
        return Ok(None);
    }
    let Some(lease) = ownership.claim(services, run_lease_name(run.room_id)).await? else { return Ok(None) };
    crate::ownership::interrupt_left_messages(services, run.room_id, Some(run.id)).await?;
    let ended = services.store.finish_run(run.id, RunStatus::Stopped, StopReason::UserStop).await?;
    ownership.forget(services, lease).await;
    let Some(ended) = ended else { return Ok(Some(RunStatus::Stopped)) };
    let cost = services.store.run_cost(ended.id).await?;
    let elapsed_ms = (chrono::Utc::now() - ended.started_at).num_milliseconds();
    let event = status_event(
        &ended,
        ended.status,
        ended.steps,
        elapsed_ms,
        ended.tokens_used,
        cost,
        Some(StopReason::UserStop),
    );
    services.events.publish(ended.room_id, &RoomEvent::RunStatus(event));
    tracing::info!(run_id = %ended.id, "a run whose instance stopped was ended by a user's stop");
    Ok(Some(ended.status))
}

pub async fn list_runs(services: &Services, actor: &Actor, room_id: Uuid) -> ServiceResult<Vec<Run>> {
    authorize_room(services, actor, room_id, RoomAction::Read).await?;
    Ok(services.store.list_runs(room_id, 100).await?)
}

pub async fn get_run(services: &Services, actor: &Actor, room_id: Uuid, run_id: Uuid) -> ServiceResult<Run> {
    authorize_room(services, actor, room_id, RoomAction::Read).await?;
    services.store.get_run(room_id, run_id).await?.ok_or(ServiceError::NotFound("run"))
}

/// The status of a room's latest run, as the room page shows it on load.
pub async fn latest_status(services: &Services, room_id: Uuid) -> ServiceResult<Option<RunStatusEvent>> {
    let Some(run) = services.store.list_runs(room_id, 1).await?.into_iter().next() else { return Ok(None) };
    Ok(Some(meters(services, &run).await?))
}

/// A run's meters as they stand: steps, seconds (until now while it runs), tokens and cost.
async fn meters(services: &Services, run: &Run) -> ServiceResult<RunStatusEvent> {
    let cost = services.store.run_cost(run.id).await?;
    let elapsed_ms = match run.stopped_at {
        Some(stopped) => (stopped - run.started_at).num_milliseconds(),
        None => (chrono::Utc::now() - run.started_at).num_milliseconds(),
    };
    Ok(status_event(run, run.status, run.steps, elapsed_ms, run.tokens_used, cost, run.stop_reason))
}

/// The most turns a run's timeline lists: a run takes at most [`limits::MAX_STEPS`] steps,
/// and people may write between them.
const TIMELINE_TURNS: i64 = 2 * limits::MAX_STEPS;

/// A run's meters and its turns, oldest first: who spoke, when, how long the provider took to
/// answer and finish, and the tokens each turn cost.
pub async fn run_timeline(
    services: &Services,
    actor: &Actor,
    room_id: Uuid,
    run_id: Uuid,
) -> ServiceResult<RunTimeline> {
    authorize_room(services, actor, room_id, RoomAction::Read).await?;
    let run = services.store.get_run(room_id, run_id).await?.ok_or(ServiceError::NotFound("run"))?;
    let messages = services.store.run_messages(room_id, run_id, TIMELINE_TURNS).await?;
    let turns = messages
        .into_iter()
        .map(|message| RunTurn {
            message_id: message.id,
            agent_id: (message.sender_type == SenderType::Agent).then_some(message.sender_id).flatten(),
            speaker: message.sender_name,
            status: message.status,
            started_ms: (message.created_at - run.started_at).num_milliseconds().max(0),
            first_token_ms: message.first_token_ms,
            duration_ms: message.latency_ms,
            tokens_in: message.tokens_in,
            tokens_out: message.tokens_out,
            model: message.model,
        })
        .collect();
    Ok(RunTimeline { run: meters(services, &run).await?, started_at: run.started_at, turns })
}

fn status_event(
    run: &Run,
    status: RunStatus,
    step: i64,
    elapsed_ms: i64,
    tokens_used: i64,
    cost: f64,
    stop_reason: Option<StopReason>,
) -> RunStatusEvent {
    RunStatusEvent {
        run_id: run.id,
        status,
        step,
        max_steps: run.max_steps,
        elapsed_ms: elapsed_ms.max(0),
        max_seconds: run.max_seconds,
        tokens_used,
        budget_tokens: run.budget_tokens,
        stop_reason,
        cost,
    }
}

/// Drives one run from its first turn to its end.
struct RunDriver {
    services: Services,
    run: Run,
    /// Who started the run; its generations count against their budget.
    started_by: Option<Uuid>,
    user_stop: CancellationToken,
    started: Instant,
    steps: i64,
    tokens_used: i64,
    cost: f64,
    spoke_at: Vec<(Uuid, i64)>,
    /// With several instances: the lease under which this instance drives the run.
    lease: Option<HeldLease>,
    /// The run's end, when another instance wrote it (see [`RunDriver::ended_elsewhere`]).
    ended_elsewhere: Option<RunStatus>,
}

impl RunDriver {
    fn deadline(&self) -> Instant {
        self.started + Duration::from_secs(self.run.max_seconds as u64)
    }

    fn publish(&self, status: RunStatus, reason: Option<StopReason>) {
        let elapsed = self.started.elapsed().as_millis() as i64;
        let event = status_event(&self.run, status, self.steps, elapsed, self.tokens_used, self.cost, reason);
        self.services.events.publish(self.run.room_id, &RoomEvent::RunStatus(event));
    }

    /// Runs turns until a stop condition holds, then records how the run ended. With several
    /// instances, a run whose lease went elsewhere is left to its new owner, and one stopped by
    /// this instance's shutdown is handed over rather than ended.
    async fn drive(mut self) -> RunStatus {
        self.publish(RunStatus::Running, None);
        let reason = match self.turns().await {
            Ok(reason) => reason,
            Err(error) => {
                tracing::error!(run_id = %self.run.id, %error, "run failed");
                StopReason::Error
            }
        };
        let (Some(ownership), Some(lease)) = (self.services.ownership.clone(), self.lease.take()) else {
            return self.finish(reason).await.0;
        };
        if let Some(status) = self.ended_elsewhere {
            // Another instance wrote the run's end (a Stop for a run it believed abandoned).
            ownership.forget(&self.services, lease).await;
            return status;
        }
        if reason == StopReason::ServerShutdown {
            // Handed over at shutdown, or cut off because another instance took the run over:
            // either way it goes on elsewhere, and this instance writes no end.
            if ownership.still_holds(&self.services, &lease).await {
                self.save_counters().await;
                ownership.release(&self.services, lease).await;
                tracing::info!(run_id = %self.run.id, steps = self.steps, "run handed over to another instance at shutdown");
            } else {
                tracing::warn!(run_id = %self.run.id, "the run's lease went to another instance, which carries the run on");
            }
            return RunStatus::Running;
        }
        // Any other end (a limit, a person's Stop, an error) is written whoever holds the lease
        // now: the run is over, and an instance that took it over meanwhile sees its row ended
        // before its next turn.
        let (status, written) = self.finish(reason).await;
        if written {
            ownership.forget(&self.services, lease).await;
        } else {
            // Left lapsed: the reclaimer takes the run up again and ends it by its limits.
            ownership.release(&self.services, lease).await;
        }
        status
    }

    async fn save_counters(&self) {
        if let Err(error) = self.services.store.record_run_progress(self.run.id, self.steps, self.tokens_used).await {
            tracing::error!(run_id = %self.run.id, %error, "could not save the run's final counters");
        }
    }

    /// Records how the run ended and tells the room.
    /// Records how the run ended and tells the room; whether the end is written. A database
    /// that fails is tried again for a few seconds.
    async fn finish(&self, reason: StopReason) -> (RunStatus, bool) {
        let status = reason.final_status();
        self.save_counters().await;
        let mut written = false;
        for attempt in 1..=FINISH_ATTEMPTS {
            match self.services.store.finish_run(self.run.id, status, reason).await {
                Ok(_) => {
                    written = true;
                    break;
                }
                Err(error) => tracing::error!(run_id = %self.run.id, %error, attempt, "could not save the run's end"),
            }
            if attempt < FINISH_ATTEMPTS {
                tokio::time::sleep(FINISH_RETRY).await;
            }
        }
        self.publish(status, Some(reason));
        metrics::counter!("runs_finished_total", "reason" => reason.as_str()).increment(1);
        tracing::info!(run_id = %self.run.id, steps = self.steps, tokens = self.tokens_used, reason = reason.as_str(), "run ended");
        (status, written)
    }

    /// With several instances, the run's end when another instance wrote it: a Stop at an
    /// instance that believed the run abandoned while this one took it over.
    async fn ended_elsewhere(&self) -> ServiceResult<Option<RunStatus>> {
        let stored = self.services.store.get_run(self.run.room_id, self.run.id).await?;
        Ok(stored.map(|run| run.status).filter(|status| *status != RunStatus::Running))
    }

    /// Cancelled when this instance loses the run's lease; never without several instances.
    fn lease_lost(&self) -> CancellationToken {
        self.lease.as_ref().map(|lease| lease.lost.clone()).unwrap_or_default()
    }

    async fn turns(&mut self) -> ServiceResult<StopReason> {
        let room_id = self.run.room_id;
        let lease_lost = self.lease_lost();
        let mut failures = 0;
        loop {
            if let Some(reason) = self.limit_reached() {
                return Ok(reason);
            }
            if self.lease.is_some() {
                if let Some(status) = self.ended_elsewhere().await? {
                    self.ended_elsewhere = Some(status);
                    return Ok(StopReason::UserStop);
                }
            }
            // One speaker at a time in a room, whether replying by hand or in a run.
            let room_turn = tokio::select! {
                turn = crate::room_turns::take_turn(&self.services, room_id) => turn,
                _ = self.user_stop.cancelled() => return Ok(StopReason::UserStop),
                _ = self.services.shutdown.cancelled() => return Ok(StopReason::ServerShutdown),
                _ = lease_lost.cancelled() => return Ok(StopReason::ServerShutdown),
                _ = tokio::time::sleep_until(self.deadline()) => return Ok(StopReason::MaxSeconds),
            };
            let turn_lost = room_turn.lost();
            if turn_lost.is_cancelled() || lease_lost.is_cancelled() {
                return Ok(StopReason::ServerShutdown);
            }
            let Some(turn) = self.next_turn().await? else {
                tracing::warn!(run_id = %self.run.id, "no agent can speak; ending the run");
                return Ok(StopReason::Error);
            };
            let speaker = turn.agent.id;
            let stop = StopSignal::new();
            let mut stopped_by: Option<StopReason> = None;
            let outcome = {
                let turn_future = run_turn(&self.services, turn, &stop);
                tokio::pin!(turn_future);
                loop {
                    tokio::select! {
                        outcome = &mut turn_future => break outcome,
                        _ = tokio::time::sleep_until(self.deadline()), if stopped_by.is_none() => {
                            stopped_by = Some(StopReason::MaxSeconds);
                            stop.stop(MessageStatus::Stopped);
                        }
                        _ = self.user_stop.cancelled(), if stopped_by.is_none() => {
                            stopped_by = Some(StopReason::UserStop);
                            stop.stop(MessageStatus::Stopped);
                        }
                        // Another instance drives the run, or speaks in the room, now: this turn's
                        // message is cut off.
                        _ = lease_lost.cancelled(), if stopped_by.is_none() => {
                            stopped_by = Some(StopReason::ServerShutdown);
                            stop.stop(MessageStatus::Interrupted);
                        }
                        _ = turn_lost.cancelled(), if stopped_by.is_none() => {
                            stopped_by = Some(StopReason::ServerShutdown);
                            stop.stop(MessageStatus::Interrupted);
                        }
                    }
                }
            }?;
            let result = match outcome {
                // The run's own budget, or its starter's daily one (the room was told which).
                TurnOutcome::OverBudget | TurnOutcome::DailyBudgetSpent => return Ok(StopReason::BudgetTokens),
                TurnOutcome::Spoke(result) => result,
            };
            if lease_lost.is_cancelled() {
                // The new owner counts from what it read when it took over; nothing is written.
                return Ok(StopReason::ServerShutdown);
            }
            self.steps += 1;
            self.tokens_used += result.tokens();
            self.cost += result.cost;
            self.spoke_at.retain(|(id, _)| *id != speaker);
            self.spoke_at.push((speaker, self.steps - 1));
            self.services.store.record_run_progress(self.run.id, self.steps, self.tokens_used).await?;

            if let Some(reason) = stopped_by {
                return Ok(reason);
            }
            if self.services.shutdown.is_cancelled() || result.message.status == MessageStatus::Interrupted {
                return Ok(StopReason::ServerShutdown);
            }
            self.publish(RunStatus::Running, None);
            if result.message.status == MessageStatus::Failed {
                failures += 1;
                if failures >= MAX_CONSECUTIVE_FAILURES {
                    return Ok(StopReason::Error);
                }
            } else {
                failures = 0;
            }
        }
    }

    fn limit_reached(&self) -> Option<StopReason> {
        if self.user_stop.is_cancelled() {
            return Some(StopReason::UserStop);
        }
        if self.services.shutdown.is_cancelled() || self.lease.as_ref().is_some_and(|lease| lease.lost.is_cancelled()) {
            return Some(StopReason::ServerShutdown);
        }
        if self.steps >= self.run.max_steps {
            return Some(StopReason::MaxSteps);
        }
        if Instant::now() >= self.deadline() {
            return Some(StopReason::MaxSeconds);
        }
        if self.run.budget_tokens.is_some_and(|budget| self.tokens_used >= budget) {
            return Some(StopReason::BudgetTokens);
        }
        None
    }

    /// Picks the next speaker from the room as it is now (a person may just have written).
    async fn next_turn(&self) -> ServiceResult<Option<Turn>> {
        let room_id = self.run.room_id;
        let context = TurnContext::load(&self.services, room_id).await?;
        if context.agents.iter().filter(|a| a.is_active).count() < limits::MIN_AGENTS {
            return Ok(None);
        }
        let last_message = context.latest().map(|m| {
            let author = if m.sender_type == SenderType::Agent { m.sender_id } else { None };
            (author, m.sender_name.as_str(), m.content.as_str())
        });
        let view = RunTurnView {
            agents: &context.agents,
            last_message,
            last_agent: context.last_agent(),
            spoke_at: &self.spoke_at,
            step: self.steps,
            cooldown_turns: self.services.config.run_cooldown_turns,
        };
        let Some((agent, reason)) = choose_run_speaker(&view) else { return Ok(None) };
        let agent = agent.clone();
        let token_allowance = self.run.budget_tokens.map(|budget| budget - self.tokens_used);
        Ok(Some(Turn {
            room_id,
            context,
            agent,
            selection_reason: reason,
            run_id: Some(self.run.id),
            token_allowance,
            billed_to: self.started_by,
            into: None,
        }))
    }
}
