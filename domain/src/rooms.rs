//! Rooms, agents and messages as they travel between server and browser.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::proposals::AgentTool;
use crate::runs::RunLimits;
use crate::string_enum::string_enum;

string_enum! {
    /// Whether agents only answer people (`manual`) or may also talk among themselves (`auto`).
    RoomMode { Manual => "manual", Auto => "auto" }
}

string_enum! {
    /// Who wrote a message.
    SenderType { Human => "human", Agent => "agent", System => "system" }
}

string_enum! {
    /// Where a message is in its life.
    MessageStatus {
        /// Written in full.
        Complete => "complete",
        /// An agent is still producing it.
        Streaming => "streaming",
        /// The provider failed; the text so far is kept with an error.
        Failed => "failed",
        /// The server stopped while it was streaming; the text so far is kept.
        Interrupted => "interrupted",
        /// A person stopped the run while it was streaming; the text so far is kept.
        Stopped => "stopped",
    }
}

string_enum! {
    /// A member's role in a room: owners manage it (settings, agents, members, deleting it),
    /// members take part (post, start and stop runs), viewers read.
    MemberRole { Owner => "owner", Member => "member", Viewer => "viewer" }
}

string_enum! {
    /// Who may see a room besides its members.
    RoomVisibility {
        /// Members only.
        Private => "private",
        /// Every signed-in person reads; members write.
        Public => "public",
        /// Guests too, as far as the server's guest access allows.
        Demo => "demo",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Room {
    pub id: Uuid,
    pub name: String,
    pub mode: RoomMode,
    pub visibility: RoomVisibility,
    /// The limits a person's message starts a run with when `mode` is `auto`.
    pub run_limits: RunLimits,
    pub owner_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Agent {
    pub id: Uuid,
    pub room_id: Uuid,
    pub name: String,
    pub model: String,
    pub system_prompt: String,
    pub temperature: f64,
    pub is_active: bool,
    /// What the agent may do besides talking; none unless given.
    #[serde(default)]
    pub tools: Vec<AgentTool>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Message {
    pub id: Uuid,
    pub room_id: Uuid,
    pub sender_type: SenderType,
    pub sender_id: Option<Uuid>,
    pub sender_name: String,
    pub content: String,
    /// `content` rendered from Markdown to safe HTML by the server, once, when the message became
    /// final; absent while it is still being written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_html: Option<String>,
    pub status: MessageStatus,
    pub tokens_in: Option<i64>,
    pub tokens_out: Option<i64>,
    /// True when the provider sent no usage and the token counts are estimates.
    pub usage_estimated: bool,
    pub latency_ms: Option<i64>,
    /// Time from the request to the provider until its first token.
    pub first_token_ms: Option<i64>,
    pub model: Option<String>,
    /// A readable reason when `status` is `failed`.
    pub error: Option<String>,
    /// Why this agent was chosen to speak.
    pub selection_reason: Option<String>,
    pub run_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    /// How many versions of this reply exist (regenerating adds one); 1 for most messages.
    #[serde(default = "one")]
    pub alternatives: i64,
    /// Which version is shown, from 0.
    #[serde(default)]
    pub alternative_index: i64,
    /// When its author last changed the text; absent when never edited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<DateTime<Utc>>,
    /// When it was removed; its text is gone and it shows as removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
}

fn one() -> i64 {
    1
}

impl Message {
    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }
}

/// `PATCH /api/rooms/:id/messages/:message_id`: a person's new text for their message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EditMessage {
    pub content: String,
}

/// One generation's token usage and cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageEvent {
    pub id: Uuid,
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
    /// Whose daily budget the generation counts against.
    #[serde(default)]
    pub user_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_through_their_stored_names() {
        for status in MessageStatus::ALL {
            assert_eq!(status.as_str().parse::<MessageStatus>().unwrap(), *status);
            let json = serde_json::to_string(status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
        for mode in RoomMode::ALL {
            assert_eq!(mode.as_str().parse::<RoomMode>().unwrap(), *mode);
        }
    }

    #[test]
    fn unknown_stored_names_are_errors() {
        let err = "paused".parse::<MessageStatus>().unwrap_err();
        assert_eq!(err.kind, "MessageStatus");
        assert_eq!(err.value, "paused");
    }
}

/// Limits on what a room may hold; the server enforces them and the UI shows them.
pub mod limits {
    pub const NAME_MAX_CHARS: usize = 100;
    pub const MODEL_MAX_CHARS: usize = 100;
    pub const SYSTEM_PROMPT_MAX_CHARS: usize = 20_000;
    pub const CONTENT_MAX_CHARS: usize = 32_000;
    pub const TEMPERATURE_MIN: f64 = 0.0;
    pub const TEMPERATURE_MAX: f64 = 2.0;
    pub const MAX_ACTIVE_AGENTS: i64 = 12;
    pub const PAGE_DEFAULT: i64 = 50;
    pub const PAGE_MAX: i64 = 200;
}

/// `POST /api/rooms`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateRoom {
    pub name: String,
    #[serde(default = "default_mode")]
    pub mode: RoomMode,
    #[serde(default = "default_visibility")]
    pub visibility: RoomVisibility,
    #[serde(default)]
    pub run_limits: RunLimits,
}

fn default_mode() -> RoomMode {
    RoomMode::Manual
}

fn default_visibility() -> RoomVisibility {
    RoomVisibility::Private
}

/// `PATCH /api/rooms/:id`: only the fields present change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateRoom {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<RoomMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<RoomVisibility>,
    /// All three limits at once: `{max_steps, max_seconds, budget_tokens}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_limits: Option<RunLimits>,
}

/// The room as `POST /api/rooms` answers it: `{id, name, mode}` plus its creation time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomSummary {
    pub id: Uuid,
    pub name: String,
    pub mode: RoomMode,
    pub visibility: RoomVisibility,
    pub run_limits: RunLimits,
    pub created_at: DateTime<Utc>,
    /// How many messages the room holds (in room lists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_count: Option<i64>,
    /// When its newest message was written, else when it was created (in room lists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_activity_at: Option<DateTime<Utc>>,
}

impl From<Room> for RoomSummary {
    fn from(room: Room) -> Self {
        Self {
            id: room.id,
            name: room.name,
            mode: room.mode,
            visibility: room.visibility,
            run_limits: room.run_limits,
            created_at: room.created_at,
            message_count: None,
            last_activity_at: None,
        }
    }
}

/// `POST /api/rooms/:id/agents`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateAgent {
    pub name: String,
    pub model: String,
    #[serde(default)]
    pub system_prompt: String,
    #[serde(default = "default_temperature")]
    pub temperature: f64,
    /// For example `["propose_task"]`; none by default.
    #[serde(default)]
    pub tools: Vec<AgentTool>,
}

pub fn default_temperature() -> f64 {
    0.7
}

/// `PATCH /api/rooms/:id/agents/:agent_id`: only the fields present change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateAgent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
    /// The whole list at once; `[]` takes every tool away.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<AgentTool>>,
}

/// `POST /api/rooms/:id/messages`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PostMessage {
    pub content: String,
}

/// `POST /api/rooms/:id/messages` answers `{message}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PostedMessage {
    pub message: Message,
}

/// `GET /api/rooms/:id/messages`: a page in chronological order and the cursor of the older page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessagePage {
    pub messages: Vec<Message>,
    /// Pass as `cursor` to get the previous page; `null` when this page starts at the first message.
    pub next_cursor: Option<Uuid>,
}

/// A field that breaks a rule, with a message meant for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self { field, message: message.into() }
    }
}

/// Checks a display name (room or agent): 1 to 100 characters after trimming, no control characters.
pub fn validate_name(field: &'static str, label: &str, value: &str) -> Result<String, FieldError> {
    let trimmed = value.trim();
    let chars = trimmed.chars().count();
    if chars == 0 {
        return Err(FieldError::new(field, format!("{label} must not be empty.")));
    }
    if chars > limits::NAME_MAX_CHARS {
        return Err(FieldError::new(
            field,
            format!("{label} must be at most {} characters (got {chars}).", limits::NAME_MAX_CHARS),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(FieldError::new(field, format!("{label} must not contain control characters.")));
    }
    Ok(trimmed.to_owned())
}

pub fn validate_model(value: &str) -> Result<String, FieldError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(FieldError::new("model", "Model must not be empty (use \"demo\" for the offline model)."));
    }
    if trimmed.chars().count() > limits::MODEL_MAX_CHARS {
        return Err(FieldError::new("model", format!("Model must be at most {} characters.", limits::MODEL_MAX_CHARS)));
    }
    if trimmed.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(FieldError::new("model", "Model must not contain spaces or control characters."));
    }
    Ok(trimmed.to_owned())
}

pub fn validate_system_prompt(value: &str) -> Result<String, FieldError> {
    let chars = value.chars().count();
    if chars > limits::SYSTEM_PROMPT_MAX_CHARS {
        return Err(FieldError::new(
            "system_prompt",
            format!("System prompt must be at most {} characters (got {chars}).", limits::SYSTEM_PROMPT_MAX_CHARS),
        ));
    }
    Ok(value.to_owned())
}

pub fn validate_temperature(value: f64) -> Result<f64, FieldError> {
    if !value.is_finite() || !(limits::TEMPERATURE_MIN..=limits::TEMPERATURE_MAX).contains(&value) {
        return Err(FieldError::new("temperature", "Temperature must be a number from 0 to 2."));
    }
    Ok(value)
}

pub fn validate_content(value: &str) -> Result<String, FieldError> {
    if value.trim().is_empty() {
        return Err(FieldError::new("content", "A message must not be empty."));
    }
    let chars = value.chars().count();
    if chars > limits::CONTENT_MAX_CHARS {
        return Err(FieldError::new(
            "content",
            format!("A message must be at most {} characters (got {chars}).", limits::CONTENT_MAX_CHARS),
        ));
    }
    Ok(value.trim_end().to_owned())
}

#[cfg(test)]
mod validation_tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(validate_name("name", "Name", "  Lobby ").unwrap(), "Lobby");
        assert!(validate_name("name", "Name", "   ").is_err());
        assert!(validate_name("name", "Name", &"x".repeat(100)).is_ok());
        let err = validate_name("name", "Name", &"x".repeat(101)).unwrap_err();
        assert!(err.message.contains("101"));
        assert!(validate_name("name", "Name", "a\u{0}b").is_err());
        // Characters, not bytes, are counted.
        assert!(validate_name("name", "Name", &"é".repeat(100)).is_ok());
    }

    #[test]
    fn prompts_temperatures_and_content_are_bounded() {
        assert!(validate_system_prompt(&"p".repeat(20_000)).is_ok());
        assert!(validate_system_prompt(&"p".repeat(20_001)).is_err());
        assert!(validate_temperature(0.0).is_ok() && validate_temperature(2.0).is_ok());
        assert!(validate_temperature(-0.01).is_err() && validate_temperature(2.01).is_err());
        assert!(validate_temperature(f64::NAN).is_err());
        assert!(validate_content("").is_err() && validate_content(" \n ").is_err());
        assert!(validate_content(&"c".repeat(32_000)).is_ok());
        assert!(validate_content(&"c".repeat(32_001)).is_err());
        assert!(validate_model("gpt 4").is_err());
        assert_eq!(validate_model(" azure:gpt-4o ").unwrap(), "azure:gpt-4o");
    }
}
