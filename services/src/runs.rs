//! Auto-dialogue runs: agents take turns on their own until a limit is reached or someone stops
//! them. The orchestrator owns every running run; stopping one cancels the provider request in
//! flight at once and keeps the partial message.

use std::time::Duration;

use domain::events::RoomEvent;
use domain::rooms::{MessageStatus, SenderType};
use domain::runs::{limits, Run, RunStarted, RunStatus, RunStatusEvent, RunStopped, StartRun, StopReason};
use domain::turns::{choose_run_speaker, RunTurnView};
use storage::NewRun;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::access::{authorize_room, Actor, RoomAction};
use crate::budgets::Payer;
use crate::replies::{run_turn, StopSignal, Turn, TurnContext, TurnOutcome};
use crate::running_runs::RunHandle;
use crate::{ServiceError, ServiceResult, Services};

/// How long `stop` waits for the run to write its final state before answering.
const STOP_WAIT: Duration = Duration::from_secs(5);
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
    // The database refuses a second running run too, even from another server.
    let run = services
        .store
        .create_run(NewRun {
            room_id,
            max_steps: input.max_steps,
            max_seconds: input.max_seconds,
            budget_tokens: input.budget_tokens,
            started_by: actor.user_id(),
        })
        .await
        .map_err(|e| match e {
            storage::StorageError::Conflict(_) => {
                ServiceError::Conflict("A run is already active in this room.".into())
            }
            other => other.into(),
        })?;

    let (done_sender, done) = watch::channel(None);
    let handle = RunHandle { run_id: run.id, user_stop: CancellationToken::new(), done };
    let driver = RunDriver {
        services: services.clone(),
        run: run.clone(),
        started_by: actor.user_id(),
        user_stop: handle.user_stop.clone(),
        started: Instant::now(),
        steps: 0,
        tokens_used: 0,
        cost: 0.0,
        spoke_at: Vec::new(),
    };
    if services.runs.insert(room_id, handle).is_err() {
        // Another request started one in between; the database row must not stay running.
        if let Err(error) = services.store.finish_run(run.id, RunStatus::Stopped, StopReason::Error).await {
            tracing::error!(run_id = %run.id, %error, "could not close a run that lost the race to start");
        }
        return Err(ServiceError::Conflict("A run is already active in this room.".into()));
    }
    tracing::info!(%room_id, run_id = %run.id, max_steps = run.max_steps, max_seconds = run.max_seconds, "run started");
    metrics::counter!("runs_started_total").increment(1);

    let services_for_task = services.clone();
    services.tasks.spawn(async move {
        let status = driver.drive().await;
        services_for_task.runs.remove(room_id);
        let _ = done_sender.send(Some(status));
    });
    Ok(RunStarted { run_id: run.id })
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
    let (run_id, mut done) = services.runs.request_stop(room_id)?;
    let finished = tokio::time::timeout(STOP_WAIT, done.wait_for(Option::is_some)).await;
    let status = match finished {
        Ok(Ok(status)) => (*status).unwrap_or(RunStatus::Stopped),
        _ => RunStatus::Stopped,
    };
    Some(RunStopped { status, run_id })
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
    let cost = services.store.run_cost(run.id).await?;
    let elapsed_ms = match run.stopped_at {
        Some(stopped) => (stopped - run.started_at).num_milliseconds(),
        None => (chrono::Utc::now() - run.started_at).num_milliseconds(),
    };
    Ok(Some(status_event(&run, run.status, run.steps, elapsed_ms, run.tokens_used, cost, run.stop_reason)))
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

    /// Runs turns until a stop condition holds, then records how the run ended.
    async fn drive(mut self) -> RunStatus {
        self.publish(RunStatus::Running, None);
        let reason = match self.turns().await {
            Ok(reason) => reason,
            Err(error) => {
                tracing::error!(run_id = %self.run.id, %error, "run failed");
                StopReason::Error
            }
        };
        let status = reason.final_status();
        if let Err(error) = self.services.store.record_run_progress(self.run.id, self.steps, self.tokens_used).await {
            tracing::error!(run_id = %self.run.id, %error, "could not save the run's final counters");
        }
        match self.services.store.finish_run(self.run.id, status, reason).await {
            Ok(_) => {}
            Err(error) => tracing::error!(run_id = %self.run.id, %error, "could not save the run's end"),
        }
        self.publish(status, Some(reason));
        metrics::counter!("runs_finished_total", "reason" => reason.as_str()).increment(1);
        tracing::info!(run_id = %self.run.id, steps = self.steps, tokens = self.tokens_used, reason = reason.as_str(), "run ended");
        status
    }

    async fn turns(&mut self) -> ServiceResult<StopReason> {
        let room_id = self.run.room_id;
        let mut failures = 0;
        loop {
            if let Some(reason) = self.limit_reached() {
                return Ok(reason);
            }
            // One speaker at a time in a room, whether replying by hand or in a run.
            let _turn_lock = tokio::select! {
                guard = self.services.room_turns.acquire(room_id) => guard,
                _ = self.user_stop.cancelled() => return Ok(StopReason::UserStop),
                _ = self.services.shutdown.cancelled() => return Ok(StopReason::ServerShutdown),
                _ = tokio::time::sleep_until(self.deadline()) => return Ok(StopReason::MaxSeconds),
            };
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
                    }
                }
            }?;
            let result = match outcome {
                // The run's own budget, or its starter's daily one (the room was told which).
                TurnOutcome::OverBudget | TurnOutcome::DailyBudgetSpent => return Ok(StopReason::BudgetTokens),
                TurnOutcome::Spoke(result) => result,
            };
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
        if self.services.shutdown.is_cancelled() {
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
        }))
    }
}
