//! Changing what was said: an agent's reply written again (regenerated, keeping the earlier
//! version as an alternative, or retried after it failed), one of its versions chosen, a
//! person's message edited, any message removed. Every change is announced with
//! `message.updated`, so each open tab shows it.

use std::time::Duration;

use domain::events::RoomEvent;
use domain::rooms::{validate_content, EditMessage, Message, MessageStatus, SenderType};
use storage::{MessageOutcome, Rewrite, StorageError};
use uuid::Uuid;

use crate::access::{authorize_message, Actor, MessageChange};
use crate::budgets::Payer;
use crate::markdown::{render_markdown, with_html};
use crate::replies::{run_turn, StopSignal, Turn, TurnContext, TurnOutcome};
use crate::{ServiceError, ServiceResult, Services};

/// How many versions one reply may have.
pub const MAX_ALTERNATIVES: i64 = 20;
/// How long a regenerate waits for the reply the room is busy with before it is refused.
const TURN_WAIT: Duration = Duration::from_secs(10);

/// The agent who wrote the reply writes it again from the same context; the version shown until
/// now is kept as an alternative. Answers the message as it restarts (empty, `streaming`); its
/// text follows as `message.delta` events and `message.done`, like any reply.
pub async fn regenerate(services: &Services, actor: &Actor, room_id: Uuid, message_id: Uuid) -> ServiceResult<Message> {
    rewrite(services, actor, room_id, message_id, Rewrite::Regenerate).await
}

/// Writes a failed, stopped or cut-off reply again, in its place.
pub async fn retry(services: &Services, actor: &Actor, room_id: Uuid, message_id: Uuid) -> ServiceResult<Message> {
    rewrite(services, actor, room_id, message_id, Rewrite::Retry).await
}

async fn rewrite(
    services: &Services,
    actor: &Actor,
    room_id: Uuid,
    message_id: Uuid,
    how: Rewrite,
) -> ServiceResult<Message> {
    services.write_limits.check(actor)?;
    let message = authorize_message(services, actor, room_id, message_id, MessageChange::Rewrite).await?;
    if message.sender_type != SenderType::Agent {
        return Err(ServiceError::Conflict("Only an agent's reply can be written again.".to_owned()));
    }
    refuse_unchangeable(&message)?;
    match how {
        Rewrite::Regenerate if message.alternatives >= MAX_ALTERNATIVES => {
            return Err(ServiceError::LimitReached(format!(
                "A reply can have at most {MAX_ALTERNATIVES} versions; choose one of them."
            )));
        }
        Rewrite::Retry if message.status == MessageStatus::Complete => {
            return Err(ServiceError::Conflict(
                "Only a failed, stopped or cut-off reply can be retried; regenerate a complete one.".to_owned(),
            ));
        }
        _ => {}
    }
    if crate::runs::is_active(services, room_id).await? {
        return Err(ServiceError::Conflict(
            "A run is going on in this room; stop it before writing a reply again.".to_owned(),
        ));
    }
    let agent = match message.sender_id {
        Some(agent_id) => services.store.get_agent(room_id, agent_id).await?,
        None => None,
    }
    .ok_or_else(|| ServiceError::Conflict("The agent who wrote this reply is no longer in the room.".to_owned()))?;
    crate::budgets::check_before_reply(services, room_id, Payer::from(actor.user_id())).await?;

    // With the room's turn held nothing else writes in the room until the new version is done.
    let turn =
        tokio::time::timeout(TURN_WAIT, crate::room_turns::take_turn(services, room_id)).await.map_err(|_| {
            ServiceError::Conflict("The room is busy with another reply; try again when it is done.".to_owned())
        })?;
    let model =
        services.models.resolve(&agent.model).map(|route| route.label()).unwrap_or_else(|_| agent.model.clone());
    let restarted = services.store.restart_message(message_id, how, Some(model)).await.map_err(change_refused)?;
    let restarted = with_html(restarted);
    services.events.publish(room_id, &RoomEvent::MessageUpdated(restarted.clone()));
    tracing::info!(%room_id, %message_id, ?how, alternatives = restarted.alternatives, "a reply is written again");

    let context = match TurnContext::load_before(services, room_id, message_id).await {
        Ok(context) => context,
        Err(error) => {
            fail(services, &restarted, "The room's history could not be read; try again.").await;
            return Err(error);
        }
    };
    let turn_to_take = Turn {
        room_id,
        context,
        selection_reason: message.selection_reason.clone().unwrap_or_else(|| "asked to write again".to_owned()),
        agent,
        run_id: None,
        token_allowance: None,
        billed_to: actor.user_id(),
        into: Some(restarted.clone()),
    };
    let background = services.clone();
    let written = restarted.clone();
    services.tasks.spawn(async move {
        let stop = StopSignal::new();
        let turn_lost = turn.lost();
        // A person's Stop cuts the new version off where it is, as it does any reply.
        let writing = background.queued_replies.start_writing(room_id);
        let on_stop = {
            let (stop, cancel) = (stop.clone(), writing.cancel.clone());
            tokio::spawn(async move {
                cancel.cancelled().await;
                stop.stop(MessageStatus::Stopped);
            })
        };
        let outcome = tokio::select! {
            outcome = run_turn(&background, turn_to_take, &stop) => Some(outcome),
            // Another instance took the room's turn: the next turn there marks this reply cut off.
            _ = turn_lost.cancelled() => None,
        };
        on_stop.abort();
        background.queued_replies.written(room_id, writing.id);
        let Some(outcome) = outcome else { return };
        match outcome {
            Ok(TurnOutcome::Spoke(_)) => {}
            Ok(TurnOutcome::DailyBudgetSpent | TurnOutcome::OverBudget) => {
                fail(&background, &written, "The daily token budget is used up; try again after it resets.").await;
            }
            Err(error) => {
                tracing::error!(%room_id, %message_id, %error, "could not write a reply again");
                fail(&background, &written, "The reply could not be written; try again.").await;
            }
        }
        drop(turn);
    });
    Ok(restarted)
}

/// Ends a restarted reply that no generation will write as `failed`, saying why.
async fn fail(services: &Services, message: &Message, reason: &str) {
    let outcome = MessageOutcome {
        status: MessageStatus::Failed,
        content: String::new(),
        content_html: Some(String::new()),
        tokens_in: None,
        tokens_out: None,
        usage_estimated: false,
        latency_ms: None,
        first_token_ms: None,
        error: Some(reason.to_owned()),
    };
    match services.store.finish_message(message.id, outcome).await {
        Ok(failed) => services.events.publish(message.room_id, &RoomEvent::MessageDone(with_html(failed))),
        Err(error) => tracing::error!(message_id = %message.id, %error, "could not end a reply that was not written"),
    }
}

/// Shows another version of an agent's reply (`index` from 0 to `alternatives - 1`).
pub async fn select_alternative(
    services: &Services,
    actor: &Actor,
    room_id: Uuid,
    message_id: Uuid,
    index: i64,
) -> ServiceResult<Message> {
    services.write_limits.check(actor)?;
    let message = authorize_message(services, actor, room_id, message_id, MessageChange::Rewrite).await?;
    refuse_unchangeable(&message)?;
    if !(0..message.alternatives).contains(&index) {
        return Err(ServiceError::invalid(
            "index",
            format!(
                "index must be from 0 to {}: this message has {} version(s).",
                message.alternatives - 1,
                message.alternatives
            ),
        ));
    }
    if index == message.alternative_index {
        return Ok(with_html(message));
    }
    let chosen = with_html(services.store.select_alternative(message_id, index).await.map_err(change_refused)?);
    services.events.publish(room_id, &RoomEvent::MessageUpdated(chosen.clone()));
    Ok(chosen)
}

/// Replaces the text of a person's own message and marks it edited. Agents answer the new text
/// when asked again (regenerate the reply after it).
pub async fn edit(
    services: &Services,
    actor: &Actor,
    room_id: Uuid,
    message_id: Uuid,
    input: EditMessage,
) -> ServiceResult<Message> {
    services.write_limits.check(actor)?;
    let message = authorize_message(services, actor, room_id, message_id, MessageChange::Edit).await?;
    refuse_unchangeable(&message)?;
    let content = validate_content(&input.content)?;
    let html = render_markdown(&content);
    let edited = with_html(services.store.edit_message(message_id, &content, &html).await.map_err(change_refused)?);
    services.events.publish(room_id, &RoomEvent::MessageUpdated(edited.clone()));
    tracing::info!(%room_id, %message_id, "message edited");
    Ok(edited)
}

/// Removes a message: its text and every version of it are gone; it stays in its place, shown
/// as removed, and agents no longer see it. Removing it again changes nothing.
pub async fn delete(services: &Services, actor: &Actor, room_id: Uuid, message_id: Uuid) -> ServiceResult<Message> {
    services.write_limits.check(actor)?;
    let message = authorize_message(services, actor, room_id, message_id, MessageChange::Delete).await?;
    if message.is_deleted() {
        return Ok(with_html(message));
    }
    refuse_unchangeable(&message)?;
    let removed = with_html(services.store.delete_message(message_id).await.map_err(change_refused)?);
    services.events.publish(room_id, &RoomEvent::MessageUpdated(removed.clone()));
    tracing::info!(%room_id, %message_id, "message removed");
    Ok(removed)
}

fn refuse_unchangeable(message: &Message) -> ServiceResult<()> {
    if message.is_deleted() {
        return Err(change_refused(StorageError::Conflict(storage::MESSAGE_REMOVED)));
    }
    if message.status == MessageStatus::Streaming {
        return Err(change_refused(StorageError::Conflict(storage::MESSAGE_STREAMING)));
    }
    Ok(())
}

/// The store's refusals in words for people.
fn change_refused(error: StorageError) -> ServiceError {
    match error {
        StorageError::Conflict(storage::MESSAGE_REMOVED) => {
            ServiceError::Conflict("This message was removed; it can no longer be changed.".to_owned())
        }
        StorageError::Conflict(storage::MESSAGE_STREAMING) => {
            ServiceError::Conflict("This reply is still being written; wait for it to end or stop it.".to_owned())
        }
        other => other.into(),
    }
}
