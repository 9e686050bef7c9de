//! What callers hand to storage to create or change rows.

use chrono::{DateTime, Utc};
use domain::accounts::Role;
use domain::rooms::{MessageStatus, RoomMode, RoomVisibility, SenderType};
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct NewUser {
    /// Already normalized (trimmed, lower case).
    pub email: String,
    pub name: String,
    pub password_hash: Option<String>,
    pub role: Role,
}

#[derive(Debug, Clone)]
pub struct NewRoom {
    pub name: String,
    pub mode: RoomMode,
    pub visibility: RoomVisibility,
    pub run_limits: domain::runs::RunLimits,
    /// Becomes the room's first owner (a member with the `owner` role) in the same transaction.
    pub owner_id: Option<Uuid>,
}

/// A partial update of a room; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct RoomPatch {
    pub name: Option<String>,
    pub mode: Option<RoomMode>,
    pub visibility: Option<RoomVisibility>,
    pub run_limits: Option<domain::runs::RunLimits>,
}

#[derive(Debug, Clone)]
pub struct NewAgent {
    pub room_id: Uuid,
    pub name: String,
    pub model: String,
    pub system_prompt: String,
    pub temperature: f64,
    pub tools: Vec<domain::proposals::AgentTool>,
}

/// How many agents a room may hold: active ones, and all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentLimits {
    pub max_active: i64,
    pub max_total: i64,
}

/// A partial update of an agent; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AgentPatch {
    pub name: Option<String>,
    pub model: Option<String>,
    pub system_prompt: Option<String>,
    pub temperature: Option<f64>,
    pub is_active: Option<bool>,
    pub tools: Option<Vec<domain::proposals::AgentTool>>,
}

#[derive(Debug, Clone)]
pub struct NewMessage {
    pub room_id: Uuid,
    pub sender_type: SenderType,
    pub sender_id: Option<Uuid>,
    pub sender_name: String,
    pub content: String,
    /// The content rendered to HTML, for a message final from the start.
    pub content_html: Option<String>,
    pub status: MessageStatus,
    pub model: Option<String>,
    pub selection_reason: Option<String>,
    pub run_id: Option<Uuid>,
}

/// The final state of a message an agent was streaming.
#[derive(Debug, Clone)]
pub struct MessageOutcome {
    pub status: MessageStatus,
    pub content: String,
    /// The final content rendered to HTML.
    pub content_html: Option<String>,
    pub tokens_in: Option<i64>,
    pub tokens_out: Option<i64>,
    pub usage_estimated: bool,
    pub latency_ms: Option<i64>,
    pub first_token_ms: Option<i64>,
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewRun {
    pub room_id: Uuid,
    pub max_steps: i64,
    pub max_seconds: i64,
    pub budget_tokens: Option<i64>,
    /// Who started it; the per-person limit on active runs counts these.
    pub started_by: Option<Uuid>,
}

#[derive(Debug, Clone)]
pub struct NewUsageEvent {
    pub room_id: Uuid,
    pub agent_id: Option<Uuid>,
    pub message_id: Option<Uuid>,
    pub run_id: Option<Uuid>,
    pub provider: String,
    pub model: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub estimated: bool,
    pub cost: f64,
    /// Whose daily budget this counts against: the person who asked for the reply or started the run.
    pub user_id: Option<Uuid>,
    /// When the generation ended, on the clock daily budgets are counted on (stored to the millisecond).
    pub created_at: DateTime<Utc>,
}

/// A proposal as an agent's turn makes it: previewed by the gateway, or refused by it.
#[derive(Debug, Clone)]
pub struct NewProposal {
    pub room_id: Uuid,
    pub message_id: Option<Uuid>,
    pub agent_id: Option<Uuid>,
    pub agent_name: String,
    pub run_id: Option<Uuid>,
    pub command: String,
    pub reason: String,
    pub preview_id: Option<String>,
    pub intent: Option<String>,
    pub operations: Vec<domain::control_plane::Operation>,
    pub risk: Option<domain::control_plane::Risk>,
    pub lane: Option<domain::control_plane::Lane>,
    pub rule_id: Option<String>,
    pub risk_reason: Option<String>,
    pub requires_structured_override: bool,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub state: domain::proposals::ProposalState,
    pub error: Option<String>,
}

/// A person's decision on a proposal, and the task a confirm wrote.
#[derive(Debug, Clone)]
pub struct ProposalDecisionRecord {
    pub state: domain::proposals::ProposalState,
    pub decided_by: Uuid,
    pub decided_by_name: String,
    pub task_id: Option<String>,
    pub task_state: Option<domain::control_plane::TaskState>,
    pub path_written: Option<String>,
}

/// How a preview shown in a Telegram chat ended.
#[derive(Debug, Clone)]
pub struct ChatPreviewSettlement {
    pub state: domain::telegram::ChatPreviewState,
    pub task_id: Option<String>,
    /// The task's first state, which the settled message itself shows.
    pub notified_state: Option<domain::control_plane::TaskState>,
}
