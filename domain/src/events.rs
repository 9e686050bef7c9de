//! The events of a room's live stream (`GET /api/rooms/:id/stream`), shared by the server that
//! sends them and the browser that decodes them.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::proposals::Proposal;
use crate::rooms::Message;
use crate::runs::RunStatusEvent;

/// SSE event names: a contract with every client, never renamed.
pub mod names {
    pub const MESSAGE_NEW: &str = "message.new";
    pub const MESSAGE_DELTA: &str = "message.delta";
    pub const MESSAGE_DONE: &str = "message.done";
    /// A message was edited, deleted, regenerated or switched to another alternative: the
    /// payload is the whole message as it is now.
    pub const MESSAGE_UPDATED: &str = "message.updated";
    pub const RUN_STATUS: &str = "run.status";
    /// An agent proposed a control-plane task.
    pub const PROPOSAL_NEW: &str = "proposal.new";
    /// A proposal was confirmed, rejected or expired, or its task changed state.
    pub const PROPOSAL_UPDATED: &str = "proposal.updated";
    /// The client asked to resume from an event the server no longer holds: reload the room.
    pub const STREAM_RESET: &str = "stream.reset";
}

/// `message.delta`: a piece of an agent's message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageDelta {
    pub message_id: Uuid,
    pub delta: String,
    /// Byte length of the message text before this delta, so a client that already has part of
    /// the text (from a snapshot) appends exactly the rest.
    pub offset: usize,
}

/// `stream.reset`: why the client must reload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StreamReset {
    pub reason: String,
}

/// One event of a room's stream.
#[derive(Debug, Clone, PartialEq)]
pub enum RoomEvent {
    /// A message exists: a human one complete, an agent one starting.
    MessageNew(Message),
    MessageDelta(MessageDelta),
    /// The final message with its usage.
    MessageDone(Message),
    /// A message changed after it was written (edit, delete, regenerate, alternative chosen).
    MessageUpdated(Message),
    RunStatus(RunStatusEvent),
    ProposalNew(Proposal),
    ProposalUpdated(Proposal),
}

impl RoomEvent {
    pub fn name(&self) -> &'static str {
        match self {
            RoomEvent::MessageNew(_) => names::MESSAGE_NEW,
            RoomEvent::MessageDelta(_) => names::MESSAGE_DELTA,
            RoomEvent::MessageDone(_) => names::MESSAGE_DONE,
            RoomEvent::MessageUpdated(_) => names::MESSAGE_UPDATED,
            RoomEvent::RunStatus(_) => names::RUN_STATUS,
            RoomEvent::ProposalNew(_) => names::PROPOSAL_NEW,
            RoomEvent::ProposalUpdated(_) => names::PROPOSAL_UPDATED,
        }
    }

    /// The event's `data:` payload.
    pub fn to_json(&self) -> String {
        let result = match self {
            RoomEvent::MessageNew(message) | RoomEvent::MessageDone(message) | RoomEvent::MessageUpdated(message) => {
                serde_json::to_string(message)
            }
            RoomEvent::MessageDelta(delta) => serde_json::to_string(delta),
            RoomEvent::RunStatus(status) => serde_json::to_string(status),
            RoomEvent::ProposalNew(proposal) | RoomEvent::ProposalUpdated(proposal) => serde_json::to_string(proposal),
        };
        // These types hold only strings, numbers and ids: serialization cannot fail.
        result.unwrap_or_else(|_| "{}".to_owned())
    }

    /// Decodes an event from its name and payload, as the browser receives it.
    pub fn decode(name: &str, data: &str) -> Option<RoomEvent> {
        match name {
            names::MESSAGE_NEW => serde_json::from_str(data).ok().map(RoomEvent::MessageNew),
            names::MESSAGE_DELTA => serde_json::from_str(data).ok().map(RoomEvent::MessageDelta),
            names::MESSAGE_DONE => serde_json::from_str(data).ok().map(RoomEvent::MessageDone),
            names::MESSAGE_UPDATED => serde_json::from_str(data).ok().map(RoomEvent::MessageUpdated),
            names::RUN_STATUS => serde_json::from_str(data).ok().map(RoomEvent::RunStatus),
            names::PROPOSAL_NEW => serde_json::from_str(data).ok().map(RoomEvent::ProposalNew),
            names::PROPOSAL_UPDATED => serde_json::from_str(data).ok().map(RoomEvent::ProposalUpdated),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_name_and_payload() {
        let delta = RoomEvent::MessageDelta(MessageDelta { message_id: Uuid::nil(), delta: "hé".into(), offset: 3 });
        assert_eq!(delta.name(), "message.delta");
        assert_eq!(RoomEvent::decode(delta.name(), &delta.to_json()), Some(delta.clone()));
        let json: serde_json::Value = serde_json::from_str(&delta.to_json()).unwrap();
        assert_eq!(json["message_id"], Uuid::nil().to_string());
        assert_eq!(json["delta"], "hé");
        assert!(RoomEvent::decode("unknown", "{}").is_none());
    }
}
