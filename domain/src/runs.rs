//! Auto-dialogue runs: their state and why they ended.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::rooms::string_enum;

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
