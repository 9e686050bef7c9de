//! The room page's first paint: everything it shows, read at once.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::proposals::Proposal;
use crate::rooms::{Agent, MemberRole, MessagePage, Room};
use crate::runs::RunStatusEvent;

/// Everything the room page needs to render at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomSnapshot {
    pub room: Room,
    pub agents: Vec<Agent>,
    pub page: MessagePage,
    /// The id of the last live event published before the snapshot was read; the browser's
    /// live stream resumes from here so nothing between rendering and connecting is lost.
    pub last_event_id: String,
    /// True when no language-model provider is configured and agents answer with the demo model.
    pub demo_mode: bool,
    /// The room's latest auto-dialogue run, if it has had one.
    pub latest_run: Option<RunStatusEvent>,
    /// What the person reading the snapshot may do in the room.
    pub access: RoomAccess,
    /// The agents' proposals of control-plane tasks, oldest first.
    #[serde(default)]
    pub proposals: Vec<Proposal>,
}

/// What one person may do in a room, as the server's rule decided it, so the page offers only
/// what will be accepted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomAccess {
    pub signed_in: bool,
    /// Who is reading, when signed in: their own messages are theirs to edit.
    #[serde(default)]
    pub user_id: Option<Uuid>,
    /// Their role in the room, when they are a member.
    pub role: Option<MemberRole>,
    /// Write messages.
    pub post: bool,
    /// Start and stop auto-mode runs.
    pub run: bool,
    /// See who the members are.
    pub list_members: bool,
    /// Change the room's settings, agents and members, or delete it.
    pub manage: bool,
    /// Confirm or reject agents' proposals of control-plane tasks.
    #[serde(default)]
    pub decide_proposals: bool,
}
