//! The usage report: tokens and cost summed per day, room, agent or model over a time range.

use serde::{Deserialize, Serialize};

use crate::string_enum::string_enum;

string_enum! {
    /// What the usage report sums by.
    UsageGroup { Day => "day", Agent => "agent", Model => "model", Room => "room" }
}

impl UsageGroup {
    /// The heading of the report's first column.
    pub fn heading(self) -> &'static str {
        match self {
            UsageGroup::Day => "Day",
            UsageGroup::Agent => "Agent",
            UsageGroup::Model => "Model",
            UsageGroup::Room => "Room",
        }
    }
}

/// One row of `GET /api/usage`: what was used under one key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageTotal {
    /// The group's key: a day (`YYYY-MM-DD`, UTC), a room's or agent's id (`none` for usage
    /// without an agent), or `provider/model`.
    pub key: String,
    /// The key as people read it: the day, the room's name, the agent's name with its room, the
    /// model.
    pub label: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// In US dollars, as the server's price list reckons it (0 for the demo model).
    pub cost: f64,
}

impl UsageTotal {
    pub fn tokens(&self) -> i64 {
        self.input_tokens + self.output_tokens
    }
}
