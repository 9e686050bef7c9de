//! Rooms, agents and messages: the operations behind both the REST API and the server functions.

use domain::accounts::Role;
use domain::events::RoomEvent;
use domain::rooms::{
    limits, validate_content, validate_model, validate_name, validate_system_prompt, validate_temperature, Agent,
    CreateAgent, CreateRoom, Message, MessagePage, MessageStatus, PostMessage, Room, RoomMode, RoomSummary, SenderType,
    UpdateAgent, UpdateRoom,
};
use domain::turns::choose_responder;
use storage::{AgentLimits, AgentPatch, NewAgent, NewMessage, NewRoom, RoomPatch, RoomViewer};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::access::{authorize_room, Actor, RoomAction};
use crate::budgets::Payer;
use crate::config::GuestAccess;
use crate::context::GUEST_NAME;
use crate::markdown::with_html;
use crate::ownership::{reply_lease_name, HeldLease, Ownership};
use crate::replies::{run_turn, StopSignal, Turn, TurnContext};
use crate::{ServiceError, ServiceResult, Services};

/// At most this many rooms are listed.
const ROOM_LIST_LIMIT: i64 = 200;

/// Creates a room owned by the person creating it.
pub async fn create_room(services: &Services, actor: &Actor, input: CreateRoom) -> ServiceResult<RoomSummary> {
    let person = actor.require_person()?;
    services.write_limits.check(actor)?;
    let name = validate_name("name", "Room name", &input.name)?;
    input.run_limits.validate()?;
    let new = NewRoom {
        name,
        mode: input.mode,
        visibility: input.visibility,
        run_limits: input.run_limits,
        owner_id: Some(person.id),
    };
    let room = services.store.create_room(new).await?;
    tracing::info!(room_id = %room.id, owner_id = %person.id, "room created");
    Ok(room.into())
}

/// The rooms the actor may see, the most recently active first, each with its message count
/// and last activity.
pub async fn list_rooms(services: &Services, actor: &Actor) -> ServiceResult<Vec<RoomSummary>> {
    Ok(search_rooms(services, actor, &RoomSearch::default()).await?.rooms)
}

/// What a room list asks for: a part of the name (any case), and which page.
#[derive(Debug, Clone, Default)]
pub struct RoomSearch {
    pub name: Option<String>,
    /// From 1.
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

/// One page of a room list, and how many rooms the whole list holds.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomListPage {
    pub rooms: Vec<RoomSummary>,
    pub total: usize,
    pub page: i64,
    pub per_page: i64,
}

/// Rooms per page when none is asked for, and the most one page holds.
pub const ROOMS_PER_PAGE: i64 = 50;

/// The rooms the actor may see whose name contains `search.name`, the most recently active
/// first, paged.
pub async fn search_rooms(services: &Services, actor: &Actor, search: &RoomSearch) -> ServiceResult<RoomListPage> {
    let viewer = match actor.person() {
        Some(person) if person.role == Role::Admin => RoomViewer::Everything,
        Some(person) => RoomViewer::Person(person.id),
        None if services.config.access.guests == GuestAccess::Off => return Err(ServiceError::Unauthenticated),
        None => RoomViewer::Guest,
    };
    let page = search.page.unwrap_or(1);
    if page < 1 {
        return Err(ServiceError::invalid("page", "page must be 1 or more."));
    }
    let per_page = match search.per_page {
        None => ROOMS_PER_PAGE,
        Some(n) if (1..=ROOM_LIST_LIMIT).contains(&n) => n,
        Some(_) => {
            return Err(ServiceError::invalid("per_page", format!("per_page must be from 1 to {ROOM_LIST_LIMIT}.")))
        }
    };
    let wanted = search.name.as_deref().map(str::trim).filter(|name| !name.is_empty()).map(str::to_lowercase);
    if wanted.as_ref().is_some_and(|name| name.chars().count() > limits::NAME_MAX_CHARS) {
        return Err(ServiceError::invalid("q", format!("q is at most {} characters.", limits::NAME_MAX_CHARS)));
    }
    let activity: std::collections::HashMap<Uuid, storage::RoomActivity> =
        services.store.room_activity(viewer).await?.into_iter().map(|a| (a.room_id, a)).collect();
    let mut rooms: Vec<RoomSummary> = services
        .store
        .list_rooms(viewer, ROOM_SEARCH_LIMIT)
        .await?
        .into_iter()
        .filter(|room| wanted.as_ref().is_none_or(|name| room.name.to_lowercase().contains(name.as_str())))
        .map(|room| {
            let seen = activity.get(&room.id);
            let last = seen.and_then(|a| a.last_message_at).unwrap_or(room.created_at);
            let messages = seen.map_or(0, |a| a.messages);
            RoomSummary { message_count: Some(messages), last_activity_at: Some(last), ..RoomSummary::from(room) }
        })
        .collect();
    rooms.sort_by(|a, b| b.last_activity_at.cmp(&a.last_activity_at).then(b.id.cmp(&a.id)));
    let total = rooms.len();
    let start = usize::try_from((page - 1).saturating_mul(per_page)).unwrap_or(usize::MAX).min(total);
    let rooms = rooms.into_iter().skip(start).take(per_page as usize).collect();
    Ok(RoomListPage { rooms, total, page, per_page })
}

/// The most rooms a list or search looks through (the newest ones).
const ROOM_SEARCH_LIMIT: i64 = 2000;

pub async fn get_room(services: &Services, actor: &Actor, room_id: Uuid) -> ServiceResult<Room> {
    authorize_room(services, actor, room_id, RoomAction::Read).await
}

/// Renames the room or changes its mode, visibility or run limits (owners).
pub async fn update_room(services: &Services, actor: &Actor, room_id: Uuid, input: UpdateRoom) -> ServiceResult<Room> {
    services.write_limits.check(actor)?;
    authorize_room(services, actor, room_id, RoomAction::Manage).await?;
    let patch = RoomPatch {
        name: input.name.as_deref().map(|n| validate_name("name", "Room name", n)).transpose()?,
        mode: input.mode,
        visibility: input.visibility,
        run_limits: input.run_limits.map(|limits| limits.validate().map(|()| limits)).transpose()?,
    };
    let room = services.store.update_room(room_id, patch).await?;
    tracing::info!(%room_id, "room changed");
    Ok(room)
}

/// Deletes the room with its agents, messages and runs (owners). A run going on in it is stopped first.
pub async fn delete_room(services: &Services, actor: &Actor, room_id: Uuid) -> ServiceResult<()> {
    authorize_room(services, actor, room_id, RoomAction::Manage).await?;
    services.queued_replies.cancel(room_id);
    if crate::runs::is_active(services, room_id).await? {
        crate::runs::stop_running(services, room_id).await;
    }
    services.store.delete_room(room_id).await?;
    tracing::info!(%room_id, "room deleted");
    Ok(())
}

/// Stops the reply an agent is writing in the room outside a run, and the one waiting for its
/// turn, on whichever instance writes it; the cut-off message keeps its text, marked `stopped`.
/// Runs are stopped by [`crate::runs::stop`]. Stopping when nothing is written is no error.
pub async fn stop_replies(services: &Services, actor: &Actor, room_id: Uuid) -> ServiceResult<()> {
    authorize_room(services, actor, room_id, RoomAction::Post).await?;
    services.queued_replies.cancel(room_id);
    services.events.announce_stop(room_id, crate::events::StopScope::Replies).await;
    tracing::info!(%room_id, "the room's replies were stopped");
    Ok(())
}

pub async fn list_agents(services: &Services, actor: &Actor, room_id: Uuid) -> ServiceResult<Vec<Agent>> {
    authorize_room(services, actor, room_id, RoomAction::Read).await?;
    Ok(services.store.list_agents(room_id).await?)
}

pub async fn create_agent(
    services: &Services,
    actor: &Actor,
    room_id: Uuid,
    input: CreateAgent,
) -> ServiceResult<Agent> {
    services.write_limits.check(actor)?;
    authorize_room(services, actor, room_id, RoomAction::Manage).await?;
    let new = NewAgent {
        room_id,
        name: validate_name("name", "Agent name", &input.name)?,
        model: allowed_model(services, validate_model(&input.model)?)?,
        system_prompt: validate_system_prompt(&input.system_prompt)?,
        temperature: validate_temperature(input.temperature)?,
        tools: domain::proposals::validate_tools(&input.tools)?,
    };
    let name = new.name.clone();
    let limits =
        AgentLimits { max_active: limits::MAX_ACTIVE_AGENTS, max_total: services.config.limits.agents_per_room };
    let agent = services.store.create_agent(new, limits).await.map_err(|e| agent_write_error(services, e, &name))?;
    tracing::info!(room_id = %room_id, agent_id = %agent.id, "agent added");
    Ok(agent)
}

pub async fn update_agent(
    services: &Services,
    actor: &Actor,
    room_id: Uuid,
    agent_id: Uuid,
    input: UpdateAgent,
) -> ServiceResult<Agent> {
    services.write_limits.check(actor)?;
    authorize_room(services, actor, room_id, RoomAction::Manage).await?;
    let patch = AgentPatch {
        name: input.name.as_deref().map(|n| validate_name("name", "Agent name", n)).transpose()?,
        model: input
            .model
            .as_deref()
            .map(validate_model)
            .transpose()?
            .map(|m| allowed_model(services, m))
            .transpose()?,
        system_prompt: input.system_prompt.as_deref().map(validate_system_prompt).transpose()?,
        temperature: input.temperature.map(validate_temperature).transpose()?,
        is_active: input.is_active,
        tools: input.tools.as_deref().map(domain::proposals::validate_tools).transpose()?,
    };
    let name = patch.name.clone().unwrap_or_default();
    let agent = services
        .store
        .update_agent(room_id, agent_id, patch, limits::MAX_ACTIVE_AGENTS)
        .await
        .map_err(|e| agent_write_error(services, e, &name))?;
    Ok(agent)
}

/// `model` when agents may use it (`LLM_ALLOWED_MODELS`), otherwise `MODEL_NOT_ALLOWED` naming
/// the list.
fn allowed_model(services: &Services, model: String) -> ServiceResult<String> {
    if services.models.is_allowed(&model) {
        return Ok(model);
    }
    Err(ServiceError::ModelNotAllowed(format!(
        "The model {model} is not allowed on this server. Allowed: {} (LLM_ALLOWED_MODELS; `*` stands for anything).",
        services.models.allowed_models()
    )))
}

/// The refusals of an agent write in words for people. Names are unique per room (ignoring
/// case) so that an `@Name` mention points at one agent; the database enforces it.
fn agent_write_error(services: &Services, error: storage::StorageError, name: &str) -> ServiceError {
    match error {
        storage::StorageError::LimitReached(storage::TOO_MANY_AGENTS) => ServiceError::LimitReached(format!(
            "A room can hold at most {} agents, inactive ones included (MAX_AGENTS_PER_ROOM); give an inactive \
             one a new name and persona instead.",
            services.config.limits.agents_per_room
        )),
        storage::StorageError::LimitReached(_) => ServiceError::LimitReached(format!(
            "A room can have at most {} active agents; deactivate one first.",
            limits::MAX_ACTIVE_AGENTS
        )),
        storage::StorageError::Conflict(_) => {
            ServiceError::Conflict(format!("This room already has an agent named {name}."))
        }
        other => other.into(),
    }
}

pub async fn list_messages(
    services: &Services,
    actor: &Actor,
    room_id: Uuid,
    cursor: Option<Uuid>,
    limit: Option<i64>,
) -> ServiceResult<MessagePage> {
    authorize_room(services, actor, room_id, RoomAction::Read).await?;
    let limit = match limit {
        None => limits::PAGE_DEFAULT,
        Some(n) if (1..=limits::PAGE_MAX).contains(&n) => n,
        Some(_) => {
            return Err(ServiceError::invalid("limit", format!("limit must be from 1 to {}.", limits::PAGE_MAX)));
        }
    };
    let mut page = services.store.list_messages(room_id, cursor, limit).await?;
    page.messages = page.messages.into_iter().map(with_html).collect();
    Ok(page)
}

/// Stores a person's message, announces it, and lets the room answer: in a `manual` room one
/// agent replies; in an `auto` room the message starts a run with the room's limits, or the
/// run going on takes it up in its next turn.
pub async fn post_message(
    services: &Services,
    actor: &Actor,
    room_id: Uuid,
    input: PostMessage,
) -> ServiceResult<Message> {
    services.write_limits.check(actor)?;
    let room = authorize_room(services, actor, room_id, RoomAction::Post).await?;
    let content = validate_content(&input.content)?;
    // During a run, its next turn answers on its starter's budget; otherwise the writer's pays.
    if !crate::runs::is_active(services, room_id).await? {
        crate::budgets::check_before_reply(services, room_id, Payer::from(actor.user_id())).await?;
    }
    let (sender_id, sender_name) = match actor.person() {
        Some(person) => (Some(person.id), person.name.clone()),
        None => (None, GUEST_NAME.to_owned()),
    };
    let message = services
        .store
        .insert_message(NewMessage {
            room_id,
            sender_type: SenderType::Human,
            sender_id,
            sender_name,
            content_html: Some(crate::markdown::render_markdown(&content)),
            content,
            status: MessageStatus::Complete,
            model: None,
            selection_reason: None,
            run_id: None,
        })
        .await?;
    let message = with_html(message);
    // Stored before it is announced: a client never sees a message that could still be lost.
    services.events.publish(room_id, &RoomEvent::MessageNew(message.clone()));
    // During a run, its next turn answers; otherwise the room's mode decides.
    if !crate::runs::is_active(services, room_id).await? && !start_auto_run(services, actor, &room).await {
        schedule_reply(services, message.clone(), actor.user_id()).await;
    }
    Ok(message)
}

/// In an `auto` room, starts a run with the room's limits on behalf of the person who wrote;
/// false when the room is `manual` or no run could start (a guest wrote, fewer than two agents
/// are active, the writer's run allowance is used up), and one agent should answer instead.
async fn start_auto_run(services: &Services, actor: &Actor, room: &Room) -> bool {
    if room.mode != RoomMode::Auto || actor.person().is_none() {
        return false;
    }
    if authorize_room(services, actor, room.id, RoomAction::Run).await.is_err() {
        return false;
    }
    match crate::runs::start_authorized(services, actor, room.id, room.run_limits).await {
        Ok(started) => {
            tracing::info!(room_id = %room.id, run_id = %started.run_id, "a message in an auto room started a run");
            true
        }
        Err(error) => {
            tracing::info!(room_id = %room.id, %error, "auto room answers with one reply");
            false
        }
    }
}

/// Answers `trigger` with one agent turn in the background. Replies in a room are taken one at
/// a time, so they never interleave, and at most one waits: posts made while it waits make it
/// answer the newest of them instead, so a burst costs one generation, not one each. With
/// several instances each reply is owed under a lease of its own, so another instance answers
/// if this one dies first.
async fn schedule_reply(services: &Services, trigger: Message, billed_to: Option<Uuid>) {
    schedule(services, trigger, billed_to, None).await;
}

/// A reply taken over from a stopped instance: `lease` is the lapsed reply's, now this
/// instance's.
struct TakenOver {
    lease: HeldLease,
}

async fn schedule(services: &Services, trigger: Message, billed_to: Option<Uuid>, taken_over: Option<TakenOver>) {
    let room_id = trigger.room_id;
    let Some(waiter) = services.queued_replies.queue(trigger, billed_to) else {
        // A reply already waits here and answers the newest message, under a lease of its own
        // (or, without one, as before): the lapsed one is settled.
        if let (Some(ownership), Some(taken)) = (&services.ownership, taken_over) {
            ownership.forget(services, taken.lease).await;
        }
        return;
    };
    let checks_owed = taken_over.is_some();
    // The lease is taken before the post is answered with 201, so a reply is never owed by an
    // instance that could die without anyone knowing.
    let lease = match (&services.ownership, taken_over) {
        (Some(_), Some(taken)) => Some(taken.lease),
        (Some(ownership), None) => match ownership.claim(services, reply_lease_name(room_id)).await {
            Ok(lease) => lease,
            Err(error) => {
                tracing::warn!(%room_id, %error, "cannot record the reply the room is owed; answering without it");
                None
            }
        },
        (None, _) => None,
    };
    let services = services.clone();
    services.tasks.clone().spawn(async move {
        let ending = answer_in_turn(&services, room_id, &waiter, lease.as_ref(), checks_owed).await;
        services.queued_replies.written(room_id, waiter.id);
        if let ReplyEnding::Owed = ending {
            // Left for another instance: this one must not answer it as well.
            services.queued_replies.forget(room_id, waiter.id);
        }
        if let (Some(ownership), Some(held)) = (&services.ownership, lease) {
            match ending {
                ReplyEnding::Owed => ownership.release(&services, held).await,
                ReplyEnding::Settled => ownership.forget(&services, held).await,
            }
        }
    });
}

/// How a scheduled reply ended: settled, or still owed to the room (this instance is shutting
/// down or lost the reply's lease), for another instance to answer.
enum ReplyEnding {
    Settled,
    Owed,
}

async fn answer_in_turn(
    services: &Services,
    room_id: Uuid,
    waiter: &crate::queued_replies::NewWaiter,
    lease: Option<&HeldLease>,
    checks_owed: bool,
) -> ReplyEnding {
    let lost = lease.map(|held| held.lost.clone()).unwrap_or_default();
    let turn = tokio::select! {
        turn = crate::room_turns::take_turn(services, room_id) => turn,
        // Stopped or deleted while waiting: nothing more to say.
        _ = waiter.cancel.cancelled() => return ReplyEnding::Settled,
        _ = services.shutdown.cancelled() => return ReplyEnding::Owed,
        _ = lost.cancelled() => return ReplyEnding::Owed,
    };
    let Some((trigger, billed_to)) = services.queued_replies.take(room_id, waiter.id) else {
        return ReplyEnding::Settled;
    };
    if services.shutdown.is_cancelled() {
        return ReplyEnding::Owed;
    }
    // A run that began meanwhile answers the room itself.
    match crate::runs::is_active(services, room_id).await {
        Ok(false) => {}
        Ok(true) => return ReplyEnding::Settled,
        Err(error) => tracing::warn!(%room_id, %error, "cannot tell whether a run is going; answering"),
    }
    if checks_owed {
        match is_owed_an_answer(services, room_id).await {
            Ok(true) => {}
            Ok(false) => return ReplyEnding::Settled,
            Err(error) => tracing::warn!(%room_id, %error, "cannot tell whether the room was answered; answering"),
        }
    }
    if lost.is_cancelled() || turn.lost().is_cancelled() {
        return ReplyEnding::Owed;
    }
    // Losing the reply's lease or the room's turn cuts the reply off: another instance answers.
    // A person's Stop (or the room's deletion) ends it where it is.
    let stop = StopSignal::new();
    let answered = CancellationToken::new();
    {
        let (stop, answered, lost, turn_lost) = (stop.clone(), answered.clone(), lost.clone(), turn.lost());
        let stopped = waiter.cancel.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = lost.cancelled() => stop.stop(MessageStatus::Interrupted),
                _ = turn_lost.cancelled() => stop.stop(MessageStatus::Interrupted),
                _ = stopped.cancelled() => stop.stop(MessageStatus::Stopped),
                _ = answered.cancelled() => {}
            }
        });
    }
    let _answered = answered.drop_guard();
    match answer(services, &trigger, billed_to, &stop).await {
        Ok(Some(MessageStatus::Interrupted)) => return ReplyEnding::Owed,
        Ok(_) => {}
        Err(error) => tracing::error!(%room_id, %error, "could not answer a message"),
    }
    ReplyEnding::Settled
}

/// Whether the room's newest message from a person still waits for an answer: no agent message
/// came after it but ones that were cut off.
async fn is_owed_an_answer(services: &Services, room_id: Uuid) -> ServiceResult<bool> {
    let recent = services.store.list_messages(room_id, None, TAKE_OVER_LOOKBACK).await?.messages;
    let newest = recent.into_iter().rev().find(|m| {
        m.sender_type != SenderType::System
            && !(m.sender_type == SenderType::Agent && m.status == MessageStatus::Interrupted)
    });
    Ok(newest.is_some_and(|m| m.sender_type == SenderType::Human))
}

/// Answers the room for an instance that died owing it a reply: once this instance has the
/// room's turn (which marks the dead instance's cut-off message `interrupted`), the room's
/// newest message from a person is answered, unless an agent already did or a run is going.
pub(crate) async fn take_over_reply(
    services: &Services,
    ownership: &Ownership,
    room_id: Uuid,
    lease: HeldLease,
) -> ServiceResult<()> {
    let recent = services.store.list_messages(room_id, None, TAKE_OVER_LOOKBACK).await?.messages;
    let Some(trigger) = recent.into_iter().rev().find(|m| m.sender_type == SenderType::Human) else {
        ownership.forget(services, lease).await;
        return Ok(());
    };
    tracing::warn!(%room_id, message_id = %trigger.id, "a stopped instance owed this room a reply; answering it here");
    metrics::counter!("replies_taken_over_total").increment(1);
    let billed_to = trigger.sender_id;
    schedule(services, with_html(trigger), billed_to, Some(TakenOver { lease })).await;
    Ok(())
}

/// How far back a takeover looks for the message that is owed an answer.
const TAKE_OVER_LOOKBACK: i64 = 20;

/// One agent answers `trigger`; the status its message ended with, `None` when no agent could.
async fn answer(
    services: &Services,
    trigger: &Message,
    billed_to: Option<Uuid>,
    stop: &StopSignal,
) -> ServiceResult<Option<MessageStatus>> {
    let context = TurnContext::load(services, trigger.room_id).await?;
    let last_speaker = context.last_agent();
    let Some(selection) = choose_responder(&trigger.content, &context.agents, last_speaker) else {
        tracing::debug!(room_id = %trigger.room_id, "no active agent to answer");
        return Ok(None);
    };
    let agent = selection.agent().clone();
    let selection_reason = selection.reason(last_speaker.and_then(|id| context.agent_name(id)));
    let turn = Turn {
        room_id: trigger.room_id,
        context,
        agent,
        selection_reason,
        run_id: None,
        token_allowance: None,
        billed_to,
        into: None,
    };
    Ok(match run_turn(services, turn, stop).await? {
        crate::replies::TurnOutcome::Spoke(result) => Some(result.message.status),
        _ => None,
    })
}
