//! One agent turn: the message is stored as soon as it starts, its tokens are broadcast as they
//! arrive, its text is saved at most every half second while streaming, and its final state —
//! complete, failed, stopped or interrupted — is always written, with its usage and cost.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use domain::events::{MessageDelta, RoomEvent};
use domain::proposals::Proposal;
use domain::rooms::{Agent, Message, MessageStatus, SenderType};
use storage::{MessageOutcome, NewMessage, NewUsageEvent};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::budgets::{self, DailyBudget, Payer};
use crate::context::build_prompt_with_proposals;
use crate::llm::{estimate_tokens, ChatRequest, Chunk, LlmError, ModelRoute, Provider, ToolCall, Usage};
use crate::proposals::{self, Proposer};
use crate::{ServiceResult, Services};

/// How often a streaming message's text is saved.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(500);
/// Who the server's own notices in a room are from.
pub const NOTICE_SENDER: &str = "System";
/// How many recent messages are considered for the prompt before the token budget cuts them.
const HISTORY_WINDOW: i64 = 200;

/// Asks a generation to stop, saying how its message should end.
#[derive(Clone, Default)]
pub struct StopSignal {
    token: CancellationToken,
    status: Arc<OnceLock<MessageStatus>>,
}

impl StopSignal {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stops the generation; the first call decides the message's final status.
    pub fn stop(&self, status: MessageStatus) {
        let _ = self.status.set(status);
        self.token.cancel();
    }

    async fn stopped(&self) -> MessageStatus {
        self.token.cancelled().await;
        self.status.get().copied().unwrap_or(MessageStatus::Stopped)
    }
}

/// What a turn is decided and prompted from: the room's agents and its recent history, read
/// once per turn.
#[derive(Debug, Clone)]
pub struct TurnContext {
    pub agents: Vec<Agent>,
    /// The newest messages of the room, oldest first.
    pub history: Vec<Message>,
    /// The room's recent proposals, so agents see what became of theirs.
    pub proposals: Vec<Proposal>,
    last_agent: Option<Uuid>,
}

impl TurnContext {
    pub async fn load(services: &Services, room_id: Uuid) -> ServiceResult<Self> {
        Self::load_until(services, room_id, None).await
    }

    /// The room as it was just before `message_id`: what a reply written again is prompted
    /// from.
    pub async fn load_before(services: &Services, room_id: Uuid, message_id: Uuid) -> ServiceResult<Self> {
        Self::load_until(services, room_id, Some(message_id)).await
    }

    async fn load_until(services: &Services, room_id: Uuid, before: Option<Uuid>) -> ServiceResult<Self> {
        let agents = services.store.list_agents(room_id).await?;
        let mut history = services.store.list_messages(room_id, before, HISTORY_WINDOW).await?.messages;
        let in_window = history.iter().rev().find(|m| m.sender_type == SenderType::Agent).and_then(|m| m.sender_id);
        // Only a long human-only stretch hides the last agent from the window; then ask the database.
        let last_agent = match in_window {
            Some(agent) => Some(agent),
            None if history.len() as i64 == HISTORY_WINDOW => services.store.last_agent_speaker(room_id).await?,
            None => None,
        };
        // Removed messages are no longer part of the conversation.
        history.retain(|message| !message.is_deleted());
        let proposals = services.store.list_proposals(room_id, crate::proposals::RECENT).await?;
        Ok(Self { agents, history, proposals, last_agent })
    }

    /// The agent who spoke last in the room.
    pub fn last_agent(&self) -> Option<Uuid> {
        self.last_agent
    }

    /// The room's newest message from a person or an agent (the server's notices are not part
    /// of the conversation).
    pub fn latest(&self) -> Option<&Message> {
        self.history.iter().rev().find(|m| m.sender_type != SenderType::System)
    }

    pub fn agent_name(&self, id: Uuid) -> Option<&str> {
        self.agents.iter().find(|a| a.id == id).map(|a| a.name.as_str())
    }
}

/// Who speaks, why, and as part of which run.
#[derive(Debug, Clone)]
pub struct Turn {
    pub room_id: Uuid,
    /// The room as it was when the speaker was chosen.
    pub context: TurnContext,
    pub agent: Agent,
    pub selection_reason: String,
    pub run_id: Option<Uuid>,
    /// Tokens (prompt and reply) this turn may use at most: a run's remaining budget.
    pub token_allowance: Option<i64>,
    /// Whose daily budget the generation counts against: who wrote the message being answered,
    /// or who started the run.
    pub billed_to: Option<Uuid>,
    /// A message of the agent's already emptied and `streaming` again (a reply written anew):
    /// the turn writes into it instead of adding a message.
    pub into: Option<Message>,
}

/// Whether the agent spoke, or why it did not.
#[derive(Debug, Clone)]
pub enum TurnOutcome {
    Spoke(Box<TurnResult>),
    /// The turn could not fit the token allowance.
    OverBudget,
    /// The payer's daily token budget is used up; a notice in the room says so.
    DailyBudgetSpent,
}

/// What a finished turn produced.
#[derive(Debug, Clone)]
pub struct TurnResult {
    pub message: Message,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub cost: f64,
}

impl TurnResult {
    pub fn tokens(&self) -> i64 {
        self.tokens_in + self.tokens_out
    }
}

/// Runs one agent turn to its end. Storage failures are returned; provider failures end the
/// message as `failed` with a readable error and are not errors of this function.
#[tracing::instrument(skip_all, fields(room_id = %turn.room_id, agent_id = %turn.agent.id), err)]
pub async fn run_turn(services: &Services, turn: Turn, stop: &StopSignal) -> ServiceResult<TurnOutcome> {
    let config = &services.config.llm;
    let mut request = ChatRequest {
        messages: build_prompt_with_proposals(
            &turn.agent,
            &turn.context.agents,
            &turn.context.history,
            &turn.context.proposals,
            config.context_tokens,
        ),
        temperature: turn.agent.temperature,
        max_tokens: config.max_output_tokens,
        speaker_name: turn.agent.name.clone(),
        tools: proposals::tools_for(services, &turn.agent),
        variant: turn.into.as_ref().map_or(0, |message| message.alternative_index),
    };
    if let Some(allowance) = turn.token_allowance {
        // The reply may only use what the prompt leaves of the allowance.
        let room_for_reply = allowance - prompt_estimate(&request);
        if room_for_reply < 1 {
            return Ok(TurnOutcome::OverBudget);
        }
        request.max_tokens = request.max_tokens.min(u32::try_from(room_for_reply).unwrap_or(u32::MAX));
    }
    // A model taken off the list fails here, before any provider is asked.
    let route = services.models.resolve(&turn.agent.model);
    // Paid generations count against the payer's daily budget; the demo model is free.
    if let Ok(route) = &route {
        if route.provider != Provider::Demo {
            let budget = budgets::daily(services, Payer::from(turn.billed_to)).await?;
            if budget.is_spent() {
                post_budget_notice(services, &turn, &budget).await?;
                return Ok(TurnOutcome::DailyBudgetSpent);
            }
            if let Some(remaining) = budget.remaining() {
                // A reply may use what is left today and no more.
                request.max_tokens = request.max_tokens.min(u32::try_from(remaining).unwrap_or(u32::MAX));
            }
        }
    }

    let message = match turn.into.clone() {
        Some(restarted) => restarted,
        None => start_message(services, &turn, &route).await?,
    };

    let route = match route {
        Ok(route) => route,
        Err(error) => {
            let outcome =
                Streamed { status: MessageStatus::Failed, error: Some(error.to_string()), ..Streamed::default() };
            let message = finish(services, &message, outcome, &request, None).await?;
            return Ok(TurnOutcome::Spoke(Box::new(TurnResult { message, tokens_in: 0, tokens_out: 0, cost: 0.0 })));
        }
    };

    let mut streamed = stream_reply(services, &message, &route, &request, stop).await;
    let calls = proposals::proposal_calls(&turn.agent, &streamed.tool_calls).into_iter().cloned().collect::<Vec<_>>();
    let proposing = streamed.status == MessageStatus::Complete && !calls.is_empty();
    if proposing && streamed.text.trim().is_empty() {
        // A reply that is only a call still says something in the room.
        streamed.text = proposals::call_summary(&calls[0]);
    }
    if !streamed.asked {
        // Stopped while waiting for a slot: the provider was never asked and nothing was used.
        let message = finish(services, &message, streamed, &request, None).await?;
        return Ok(TurnOutcome::Spoke(Box::new(TurnResult { message, tokens_in: 0, tokens_out: 0, cost: 0.0 })));
    }
    let tokens_in = streamed.usage.map(|u| u.prompt_tokens).unwrap_or_else(|| prompt_estimate(&request));
    let tokens_out = streamed.usage.map(|u| u.completion_tokens).unwrap_or_else(|| estimate_tokens(&streamed.text));
    let cost = services.models.prices().cost(&turn.agent.model, &route.model, tokens_in, tokens_out).unwrap_or(0.0);
    let usage = NewUsageEvent {
        room_id: turn.room_id,
        agent_id: Some(turn.agent.id),
        message_id: Some(message.id),
        run_id: turn.run_id,
        provider: route.provider.as_str().to_owned(),
        model: route.model.clone(),
        input_tokens: tokens_in,
        output_tokens: tokens_out,
        estimated: streamed.usage.is_none(),
        cost,
        user_id: turn.billed_to,
        created_at: services.clock.now(),
    };
    let message = finish(services, &message, streamed, &request, Some((&route, usage))).await?;
    if proposing {
        for call in &calls {
            let proposer = Proposer { agent: &turn.agent, message: &message, run_id: turn.run_id };
            if let Err(error) = proposals::propose(services, proposer, call).await {
                // The reply stands; only the proposal is lost, and the log says why.
                tracing::error!(%error, message_id = %message.id, "could not record an agent's proposal");
            }
        }
    }
    metrics::counter!("llm_generations_total", "provider" => route.provider.as_str(), "status" => message.status.as_str())
        .increment(1);
    Ok(TurnOutcome::Spoke(Box::new(TurnResult { message, tokens_in, tokens_out, cost })))
}

/// Stores the turn's message, empty and `streaming`, and announces it.
async fn start_message(
    services: &Services,
    turn: &Turn,
    route: &Result<ModelRoute, LlmError>,
) -> ServiceResult<Message> {
    let message = services
        .store
        .insert_message(NewMessage {
            room_id: turn.room_id,
            sender_type: SenderType::Agent,
            sender_id: Some(turn.agent.id),
            sender_name: turn.agent.name.clone(),
            content: String::new(),
            content_html: None,
            status: MessageStatus::Streaming,
            model: Some(route.as_ref().map(ModelRoute::label).unwrap_or_else(|_| turn.agent.model.clone())),
            selection_reason: Some(turn.selection_reason.clone()),
            run_id: turn.run_id,
        })
        .await?;
    services.events.publish(turn.room_id, &RoomEvent::MessageNew(message.clone()));
    Ok(message)
}

/// Tells the room that a turn was not taken because the payer's daily budget is used up, and
/// when it resets.
async fn post_budget_notice(services: &Services, turn: &Turn, budget: &DailyBudget) -> ServiceResult<()> {
    let who = match turn.billed_to {
        Some(user_id) => services.store.get_user(user_id).await?.map(|user| user.name),
        None => None,
    };
    let content = budget.notice(who.as_deref().unwrap_or("Someone"));
    let notice = services
        .store
        .insert_message(NewMessage {
            room_id: turn.room_id,
            sender_type: SenderType::System,
            sender_id: None,
            sender_name: NOTICE_SENDER.to_owned(),
            content_html: Some(crate::markdown::render_markdown(&content)),
            content,
            status: MessageStatus::Complete,
            model: None,
            selection_reason: None,
            run_id: turn.run_id,
        })
        .await?;
    tracing::info!(room_id = %turn.room_id, payer = ?budget.payer, used = budget.used, "daily token budget used up");
    let notice = crate::markdown::with_html(notice);
    services.events.publish(turn.room_id, &RoomEvent::MessageNew(notice));
    Ok(())
}

struct Streamed {
    /// Whether the request went to the provider.
    asked: bool,
    text: String,
    status: MessageStatus,
    error: Option<String>,
    usage: Option<Usage>,
    first_token_ms: Option<i64>,
    latency_ms: Option<i64>,
    /// The calls the model made, complete.
    tool_calls: Vec<ToolCall>,
}

impl Default for Streamed {
    fn default() -> Self {
        Self {
            asked: false,
            text: String::new(),
            status: MessageStatus::Complete,
            error: None,
            usage: None,
            first_token_ms: None,
            latency_ms: None,
            tool_calls: Vec::new(),
        }
    }
}

/// Streams the provider's reply into the message until it ends, fails or is stopped.
async fn stream_reply(
    services: &Services,
    message: &Message,
    route: &ModelRoute,
    request: &ChatRequest,
    stop: &StopSignal,
) -> Streamed {
    let started = Instant::now();
    let mut out = Streamed::default();
    let elapsed_ms = |since: Instant| since.elapsed().as_millis() as i64;

    // Paid generations wait for one of the server's `LLM_MAX_CONCURRENT` slots, for as long as
    // no stop or shutdown comes, and hold it to their last token.
    let waited = tokio::select! {
        biased;
        status = stop.stopped() => Err(status),
        _ = services.shutdown.cancelled() => Err(MessageStatus::Interrupted),
        slot = generation_slot(services, route) => Ok(slot),
    };
    let _slot = match waited {
        Ok(slot) => slot,
        Err(status) => {
            out.status = status;
            out.latency_ms = Some(elapsed_ms(started));
            return out;
        }
    };
    out.asked = true;
    let opened = tokio::select! {
        biased;
        status = stop.stopped() => { out.status = status; None }
        _ = services.shutdown.cancelled() => { out.status = MessageStatus::Interrupted; None }
        opened = services.models.open(route, request) => Some(opened),
    };
    let mut reply = match opened {
        None => {
            out.latency_ms = Some(elapsed_ms(started));
            return out;
        }
        Some(Err(error)) => return failed(out, error, started),
        Some(Ok(reply)) => reply,
    };
    let _forget_live_text = ForgetLiveText { services, message_id: message.id };

    // A provider that never ends, or sends far more than it was asked for, is cut off: a reply
    // holds its text in memory until it ends.
    let reply_timeout = services.config.llm.reply_timeout;
    let deadline = tokio::time::sleep(reply_timeout);
    tokio::pin!(deadline);
    let max_bytes = usize::try_from(request.max_tokens).unwrap_or(usize::MAX).saturating_mul(16).saturating_add(4096);
    let mut last_flush = Instant::now();
    let mut saved_len = 0;
    loop {
        let next = tokio::select! {
            biased;
            status = stop.stopped() => { out.status = status; break; }
            _ = services.shutdown.cancelled() => { out.status = MessageStatus::Interrupted; break; }
            _ = &mut deadline => {
                return failed(out, LlmError::ReplyTimeout(reply_timeout.as_secs().max(1)), started);
            }
            next = reply.next() => next,
        };
        match next {
            None => break,
            Some(Ok(Chunk::Usage(usage))) => out.usage = Some(usage),
            Some(Ok(Chunk::ToolCall(call))) => {
                out.first_token_ms.get_or_insert_with(|| elapsed_ms(started));
                out.tool_calls.push(call);
            }
            Some(Ok(Chunk::Text(delta))) => {
                out.first_token_ms.get_or_insert_with(|| elapsed_ms(started));
                let offset = out.text.len();
                if out.text.len() + delta.len() > max_bytes {
                    return failed(out, LlmError::TooLong(request.max_tokens), started);
                }
                out.text.push_str(&delta);
                services.live_texts.append(message.id, &delta);
                services.events.publish(
                    message.room_id,
                    &RoomEvent::MessageDelta(MessageDelta { message_id: message.id, delta, offset }),
                );
                if last_flush.elapsed() >= FLUSH_INTERVAL && out.text.len() > saved_len {
                    if let Err(error) = services.store.save_streaming_text(message.id, &out.text).await {
                        tracing::warn!(%error, "could not save streaming text; it will be saved at the end");
                    }
                    saved_len = out.text.len();
                    last_flush = Instant::now();
                }
            }
            Some(Err(error)) => return failed(out, error, started),
        }
    }
    // Dropping the reply here closes the provider connection at once when stopped early.
    drop(reply);
    out.latency_ms = Some(elapsed_ms(started));
    out
}

/// A slot among the paid generations in flight; none is needed for the demo model, which costs
/// nothing.
async fn generation_slot<'a>(services: &'a Services, route: &ModelRoute) -> Option<tokio::sync::SemaphorePermit<'a>> {
    if route.provider == Provider::Demo {
        return None;
    }
    Some(services.models.generation_permit().await)
}

/// Forgets a message's live text however its stream ends.
struct ForgetLiveText<'a> {
    services: &'a Services,
    message_id: Uuid,
}

impl Drop for ForgetLiveText<'_> {
    fn drop(&mut self) {
        self.services.live_texts.remove(self.message_id);
    }
}

fn failed(mut out: Streamed, error: LlmError, started: Instant) -> Streamed {
    tracing::warn!(%error, "generation failed");
    out.status = MessageStatus::Failed;
    out.error = Some(error.to_string());
    out.latency_ms = Some(started.elapsed().as_millis() as i64);
    out
}

fn prompt_estimate(request: &ChatRequest) -> i64 {
    let calls =
        |m: &crate::llm::ChatMessage| m.tool_calls.iter().map(|c| estimate_tokens(&c.arguments) + 8).sum::<i64>();
    request.messages.iter().map(|m| estimate_tokens(&m.content) + 4 + calls(m)).sum()
}

/// How long a reply's final write is retried before the turn gives up on it; the write goes on
/// being retried in the background after that, until it lands or the server stops (the next
/// start then marks the message `interrupted`, as after any crash).
const FINISH_RETRY_WINDOW: Duration = Duration::from_secs(30);
const FINISH_RETRY_BACKOFF: [Duration; 5] = [
    Duration::from_millis(100),
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
];
const FINISH_BACKGROUND_RETRY: Duration = Duration::from_secs(10);
/// Ten minutes of background attempts; after that the next start's recovery ends the message.
const FINISH_BACKGROUND_ATTEMPTS: u32 = 60;

/// Writes a reply's final state and what it used, retrying a database that fails for a while: a
/// message must never stay `streaming` because one write failed. A permanent refusal (the room
/// was deleted meanwhile) is not retried.
async fn finish_durably(
    services: &Services,
    message_id: Uuid,
    outcome: MessageOutcome,
    usage: Option<NewUsageEvent>,
) -> ServiceResult<Message> {
    let transient = |error: &storage::StorageError| {
        matches!(error, storage::StorageError::Unavailable(_) | storage::StorageError::Database(_))
    };
    let started = Instant::now();
    let mut attempt = 0;
    let error = loop {
        let error = match services.store.finish_message(message_id, outcome.clone()).await {
            Ok(finished) => {
                if let Some(usage) = usage {
                    services.store.insert_usage_event(usage).await?;
                }
                return Ok(finished);
            }
            Err(error) if !transient(&error) => return Err(error.into()),
            Err(error) => error,
        };
        let wait = FINISH_RETRY_BACKOFF[attempt.min(FINISH_RETRY_BACKOFF.len() - 1)];
        attempt += 1;
        if started.elapsed() + wait > FINISH_RETRY_WINDOW || services.shutdown.is_cancelled() {
            break error;
        }
        tracing::warn!(%error, %message_id, attempt, "could not write a reply's final state; trying again");
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = services.shutdown.cancelled() => {}
        }
    };
    tracing::error!(%error, %message_id, "a reply's final state is still not written; it is retried in the background");
    let background = services.clone();
    services.tasks.spawn(async move {
        for _ in 0..FINISH_BACKGROUND_ATTEMPTS {
            tokio::select! {
                _ = tokio::time::sleep(FINISH_BACKGROUND_RETRY) => {}
                _ = background.shutdown.cancelled() => return,
            }
            match background.store.finish_message(message_id, outcome.clone()).await {
                Ok(finished) => {
                    if let Some(usage) = usage {
                        if let Err(error) = background.store.insert_usage_event(usage).await {
                            tracing::error!(%error, %message_id, "a reply's usage could not be recorded");
                        }
                    }
                    let finished = crate::markdown::with_html(finished);
                    background.events.publish(finished.room_id, &RoomEvent::MessageDone(finished));
                    tracing::info!(%message_id, "a reply's final state was written after the database came back");
                    return;
                }
                Err(error) if !transient(&error) => return,
                Err(_) => {}
            }
        }
        tracing::error!(%message_id, "a reply's final state was never written; the next start marks it interrupted");
    });
    Err(error.into())
}

/// Writes the final state and announces it with `message.done`.
async fn finish(
    services: &Services,
    message: &Message,
    streamed: Streamed,
    request: &ChatRequest,
    generated: Option<(&ModelRoute, NewUsageEvent)>,
) -> ServiceResult<Message> {
    let (route, usage) = match generated {
        Some((route, usage)) => (Some(route), Some(usage)),
        None => (None, None),
    };
    let (tokens_in, tokens_out) = match (streamed.usage, route) {
        (Some(usage), _) => (Some(usage.prompt_tokens), Some(usage.completion_tokens)),
        (None, Some(_)) => (Some(prompt_estimate(request)), Some(estimate_tokens(&streamed.text))),
        (None, None) => (None, None),
    };
    let outcome = MessageOutcome {
        status: streamed.status,
        content_html: Some(crate::markdown::render_markdown(&streamed.text)),
        content: streamed.text,
        tokens_in,
        tokens_out,
        usage_estimated: streamed.usage.is_none() && route.is_some(),
        latency_ms: streamed.latency_ms,
        first_token_ms: streamed.first_token_ms,
        error: streamed.error,
    };
    let finished = finish_durably(services, message.id, outcome, usage).await?;
    let finished = crate::markdown::with_html(finished);
    services.events.publish(finished.room_id, &RoomEvent::MessageDone(finished.clone()));
    Ok(finished)
}
