//! A room's transcript as people take it away: `GET /api/rooms/:id/export?format=md|json`. The
//! JSON form is this structure; the Markdown form is rendered from it on the server.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::rooms::{Agent, MessageStatus, Room, SenderType};
use crate::string_enum::string_enum;

string_enum! {
    /// The transcript's file format.
    ExportFormat { Markdown => "md", Json => "json" }
}

impl ExportFormat {
    /// The media type the file is served with.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Markdown => "text/markdown; charset=utf-8",
            ExportFormat::Json => "application/json",
        }
    }
}

/// Everything a room said, in order, with who said it, when, on which model and at what cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Transcript {
    pub room: Room,
    pub exported_at: DateTime<Utc>,
    pub agents: Vec<Agent>,
    /// Oldest first.
    pub messages: Vec<TranscriptMessage>,
    pub totals: TranscriptTotals,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TranscriptMessage {
    pub id: Uuid,
    pub sender_type: SenderType,
    /// The person or agent who wrote it (absent for guests and the system).
    pub sender_id: Option<Uuid>,
    pub sender_name: String,
    /// As written, in Markdown.
    pub content: String,
    pub status: MessageStatus,
    /// The model an agent's message came from.
    pub model: Option<String>,
    pub tokens_in: Option<i64>,
    pub tokens_out: Option<i64>,
    /// True when the provider sent no usage and the token counts are estimates.
    pub usage_estimated: bool,
    /// What generating it cost, in US dollars (absent for people's messages).
    pub cost: Option<f64>,
    /// Why an agent's message failed.
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When its author last changed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<DateTime<Utc>>,
    /// When it was removed (its text is gone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
    /// How many versions of the reply were written; the one shown is exported.
    #[serde(default = "one")]
    pub alternatives: i64,
    #[serde(default)]
    pub alternative_index: i64,
}

fn one() -> i64 {
    1
}

/// The room's usage over the whole transcript.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TranscriptTotals {
    pub messages: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// In US dollars.
    pub cost: f64,
}
