//! The room page's first paint: everything it shows, read at once.

use serde::{Deserialize, Serialize};

use crate::rooms::{Agent, MessagePage, Room};
use crate::runs::RunStatusEvent;

/// Everything the room page needs to render at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
}
