//! Auto-dialogue runs: their state and why they ended.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::string_enum::string_enum;

string_enum! {
    RunStatus { Running => "running", Completed => "completed", Stopped => "stopped", Failed => "failed" }
}

string_enum! {
    StopReason {
        MaxSteps => "max_steps",
        MaxSeconds => "max_seconds",
        BudgetTokens => "budget_tokens",
        UserStop => "user_stop",
        Error => "error",
        ServerShutdown => "server_shutdown",
        ServerRestart => "server_restart",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Run {
    pub id: Uuid,
    pub room_id: Uuid,
    pub status: RunStatus,
    pub max_steps: i64,
    pub max_seconds: i64,
    pub budget_tokens: Option<i64>,
    pub steps: i64,
    pub tokens_used: i64,
    pub started_at: DateTime<Utc>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub stop_reason: Option<StopReason>,
}

/// `run.status`: the state and meters of an auto-dialogue run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunStatusEvent {
    pub run_id: Uuid,
    pub status: RunStatus,
    pub step: i64,
    pub max_steps: i64,
    pub elapsed_ms: i64,
    pub max_seconds: i64,
    pub tokens_used: i64,
    pub budget_tokens: Option<i64>,
    pub stop_reason: Option<StopReason>,
    /// Summed cost of the run's generations, in US dollars.
    #[serde(default)]
    pub cost: f64,
}

/// Limits on auto-dialogue runs.
pub mod limits {
    pub const MAX_STEPS: i64 = 500;
    pub const MAX_SECONDS: i64 = 3600;
    pub const MIN_AGENTS: usize = 2;
}

/// `POST /api/rooms/:id/auto/start`; also a room's `run_limits`, the limits a person's message
/// in an `auto` room starts a run with.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StartRun {
    pub max_steps: i64,
    pub max_seconds: i64,
    #[serde(default)]
    pub budget_tokens: Option<i64>,
}

/// The limits a run starts with: what `POST /auto/start` takes and what a room keeps for its
/// `auto` mode.
pub type RunLimits = StartRun;

impl Default for StartRun {
    /// What a new room keeps, and what the run form offers first.
    fn default() -> Self {
        Self { max_steps: 20, max_seconds: 300, budget_tokens: None }
    }
}

impl StartRun {
    /// Checks each limit against the server's bounds.
    pub fn validate(&self) -> Result<(), crate::rooms::FieldError> {
        use crate::rooms::FieldError;
        if !(1..=limits::MAX_STEPS).contains(&self.max_steps) {
            return Err(FieldError::new("max_steps", format!("max_steps must be from 1 to {}.", limits::MAX_STEPS)));
        }
        if !(1..=limits::MAX_SECONDS).contains(&self.max_seconds) {
            return Err(FieldError::new(
                "max_seconds",
                format!("max_seconds must be from 1 to {}.", limits::MAX_SECONDS),
            ));
        }
        if self.budget_tokens.is_some_and(|b| b < 1) {
            return Err(FieldError::new("budget_tokens", "budget_tokens must be a positive number of tokens."));
        }
        Ok(())
    }
}

/// `POST /api/rooms/:id/auto/start` answers `{run_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunStarted {
    pub run_id: Uuid,
}

/// `POST /api/rooms/:id/auto/stop` answers `{status}`: the stopped run's final status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunStopped {
    pub status: RunStatus,
    pub run_id: Uuid,
}

impl StopReason {
    /// The run status a stop reason ends in: limits complete a run, people and servers stop it,
    /// errors fail it.
    pub fn final_status(self) -> RunStatus {
        match self {
            StopReason::MaxSteps | StopReason::MaxSeconds | StopReason::BudgetTokens => RunStatus::Completed,
            StopReason::UserStop | StopReason::ServerShutdown | StopReason::ServerRestart => RunStatus::Stopped,
            StopReason::Error => RunStatus::Failed,
        }
    }
}

/// One turn of a run as its timeline shows it: who spoke, when, how long the provider took to
/// answer and to finish, and the tokens it cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunTurn {
    pub message_id: Uuid,
    /// The agent who spoke; absent for a person's message sent during the run.
    pub agent_id: Option<Uuid>,
    pub speaker: String,
    pub status: crate::rooms::MessageStatus,
    /// When the turn began, in milliseconds after the run started.
    pub started_ms: i64,
    /// Time from the request to the provider until its first token.
    pub first_token_ms: Option<i64>,
    /// How long the turn took in all; absent while it is still being written.
    pub duration_ms: Option<i64>,
    pub tokens_in: Option<i64>,
    pub tokens_out: Option<i64>,
    pub model: Option<String>,
}

/// `GET /api/rooms/:id/runs/:run_id/turns`: a run's meters and its turns in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunTimeline {
    pub run: RunStatusEvent,
    pub started_at: DateTime<Utc>,
    pub turns: Vec<RunTurn>,
}
