//! Rooms, agents and messages: the operations behind both the REST API and the server functions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use domain::events::RoomEvent;
use domain::rooms::{
    limits, validate_content, validate_model, validate_name, validate_system_prompt, validate_temperature, Agent,
    CreateAgent, CreateRoom, FieldError, Message, MessagePage, MessageStatus, PostMessage, Room, RoomSnapshot,
    RoomSummary, SenderType, UpdateAgent,
};
use domain::turns::choose_responder;
use storage::{AgentPatch, NewAgent, NewMessage, NewRoom};
use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;

use crate::context::HUMAN_NAME;
use crate::markdown::with_html;
use crate::replies::{run_turn, StopSignal, Turn, TurnContext};
use crate::{AppState, ServiceError, ServiceResult};

impl From<FieldError> for ServiceError {
    fn from(error: FieldError) -> Self {
        ServiceError::Invalid { field: error.field, message: error.message }
    }
}

/// At most this many rooms are listed.
const ROOM_LIST_LIMIT: i64 = 200;

pub async fn create_room(state: &AppState, input: CreateRoom) -> ServiceResult<RoomSummary> {
    let name = validate_name("name", "Room name", &input.name)?;
    let room = state.store.create_room(NewRoom { name, mode: input.mode, owner_id: None }).await?;
    tracing::info!(room_id = %room.id, "room created");
    Ok(room.into())
}

pub async fn list_rooms(state: &AppState) -> ServiceResult<Vec<RoomSummary>> {
    Ok(state.store.list_rooms(ROOM_LIST_LIMIT).await?.into_iter().map(RoomSummary::from).collect())
}

pub async fn get_room(state: &AppState, room_id: Uuid) -> ServiceResult<Room> {
    state.store.get_room(room_id).await?.ok_or(ServiceError::NotFound("room"))
}

/// The room, its agents and its latest messages, with the live-stream position they match.
pub async fn room_snapshot(state: &AppState, room_id: Uuid) -> ServiceResult<RoomSnapshot> {
    // Read the stream position first: anything published later is replayed to the client, and
    // message deltas carry offsets, so text already in the snapshot is never applied twice.
    let last_event_id = state.events.current_id(room_id);
    let room = get_room(state, room_id).await?;
    let agents = state.store.list_agents(room_id).await?;
    let stored = state.store.list_messages(room_id, None, limits::PAGE_DEFAULT).await?;
    let messages = stored
        .messages
        .into_iter()
        .map(|mut message| {
            if let Some(text) = state.live_texts.get(message.id).filter(|_| message.status == MessageStatus::Streaming)
            {
                message.content = text;
            }
            with_html(message)
        })
        .collect();
    let page = MessagePage { messages, next_cursor: stored.older_cursor };
    let latest_run = crate::runs::latest_status(state, room_id).await?;
    Ok(RoomSnapshot { room, agents, page, last_event_id, demo_mode: state.models.demo_only(), latest_run })
}

pub async fn list_agents(state: &AppState, room_id: Uuid) -> ServiceResult<Vec<Agent>> {
    get_room(state, room_id).await?;
    Ok(state.store.list_agents(room_id).await?)
}

pub async fn create_agent(state: &AppState, room_id: Uuid, input: CreateAgent) -> ServiceResult<Agent> {
    let new = NewAgent {
        room_id,
        name: validate_name("name", "Agent name", &input.name)?,
        model: validate_model(&input.model)?,
        system_prompt: validate_system_prompt(&input.system_prompt)?,
        temperature: validate_temperature(input.temperature)?,
    };
    let name = new.name.clone();
    let agent =
        state.store.create_agent(new, limits::MAX_ACTIVE_AGENTS).await.map_err(|e| agent_write_error(e, &name))?;
    tracing::info!(room_id = %room_id, agent_id = %agent.id, "agent added");
    Ok(agent)
}

pub async fn update_agent(state: &AppState, room_id: Uuid, agent_id: Uuid, input: UpdateAgent) -> ServiceResult<Agent> {
    let patch = AgentPatch {
        name: input.name.as_deref().map(|n| validate_name("name", "Agent name", n)).transpose()?,
        model: input.model.as_deref().map(validate_model).transpose()?,
        system_prompt: input.system_prompt.as_deref().map(validate_system_prompt).transpose()?,
        temperature: input.temperature.map(validate_temperature).transpose()?,
        is_active: input.is_active,
    };
    get_room(state, room_id).await?;
    let name = patch.name.clone().unwrap_or_default();
    let agent = state
        .store
        .update_agent(room_id, agent_id, patch, limits::MAX_ACTIVE_AGENTS)
        .await
        .map_err(|e| agent_write_error(e, &name))?;
    Ok(agent)
}

/// The refusals of an agent write in words for people. Names are unique per room (ignoring
/// case) so that an `@Name` mention points at one agent; the database enforces it.
fn agent_write_error(error: storage::StorageError, name: &str) -> ServiceError {
    match error {
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
    state: &AppState,
    room_id: Uuid,
    cursor: Option<Uuid>,
    limit: Option<i64>,
) -> ServiceResult<MessagePage> {
    let limit = match limit {
        None => limits::PAGE_DEFAULT,
        Some(n) if (1..=limits::PAGE_MAX).contains(&n) => n,
        Some(_) => {
            return Err(ServiceError::invalid("limit", format!("limit must be from 1 to {}.", limits::PAGE_MAX)));
        }
    };
    get_room(state, room_id).await?;
    let page = state.store.list_messages(room_id, cursor, limit).await?;
    let messages = page.messages.into_iter().map(with_html).collect();
    Ok(MessagePage { messages, next_cursor: page.older_cursor })
}

/// Stores a person's message, announces it, and lets an agent answer.
pub async fn post_message(state: &AppState, room_id: Uuid, input: PostMessage) -> ServiceResult<Message> {
    let content = validate_content(&input.content)?;
    get_room(state, room_id).await?;
    let message = state
        .store
        .insert_message(NewMessage {
            room_id,
            sender_type: SenderType::Human,
            sender_id: None,
            sender_name: HUMAN_NAME.to_owned(),
            content,
            status: MessageStatus::Complete,
            model: None,
            selection_reason: None,
            run_id: None,
        })
        .await?;
    let message = with_html(message);
    // Stored before it is announced: a client never sees a message that could still be lost.
    state.events.publish(room_id, &RoomEvent::MessageNew(message.clone()));
    // During a run, its next turn answers; otherwise an agent replies now.
    if !state.runs.is_running(room_id) {
        schedule_reply(state, message.clone());
    }
    Ok(message)
}

/// Answers `trigger` with one agent turn in the background. Replies in a room are taken one at
/// a time, so they never interleave.
fn schedule_reply(state: &AppState, trigger: Message) {
    let state = state.clone();
    state.tasks.clone().spawn(async move {
        let room_id = trigger.room_id;
        let _turn = state.room_turns.acquire(room_id).await;
        if state.shutdown.is_cancelled() {
            return;
        }
        if let Err(error) = answer(&state, &trigger).await {
            tracing::error!(%room_id, %error, "could not answer a message");
        }
    });
}

async fn answer(state: &AppState, trigger: &Message) -> ServiceResult<()> {
    let context = TurnContext::load(state, trigger.room_id).await?;
    let last_speaker = context.last_agent();
    let Some(selection) = choose_responder(&trigger.content, &context.agents, last_speaker) else {
        tracing::debug!(room_id = %trigger.room_id, "no active agent to answer");
        return Ok(());
    };
    let agent = selection.agent().clone();
    let selection_reason = selection.reason(last_speaker.and_then(|id| context.agent_name(id)));
    let turn = Turn { room_id: trigger.room_id, context, agent, selection_reason, run_id: None, token_allowance: None };
    run_turn(state, turn, &StopSignal::new()).await?;
    Ok(())
}

/// One lock per room, so only one agent speaks at a time in it.
#[derive(Default)]
pub struct RoomTurns {
    locks: Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>,
}

impl RoomTurns {
    pub async fn acquire(&self, room_id: Uuid) -> OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            // Forget locks nobody holds or waits for, so the map does not grow with every room ever used.
            locks.retain(|_, lock| Arc::strong_count(lock) > 1);
            locks.entry(room_id).or_default().clone()
        };
        lock.lock_owned().await
    }
}
