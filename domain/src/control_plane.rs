//! The governed control plane's wire types: preview, confirm and watch, shared by
//! the gateway, the browser and `chatctl`.
//!
//! Field names, states and error codes are a contract with every client (the panel, `chatctl`,
//! the execution plane): never rename them. Fields beside the contract
//! ones (`rule_id`, `risk_reason`, `expires_at`, ...) are additions that clients may ignore.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::string_enum::string_enum;

/// How long a preview can be confirmed, unless the server is configured otherwise.
pub const DEFAULT_PREVIEW_TTL_SECONDS: u64 = 300;
/// How long a session lives without a request, unless configured otherwise.
pub const DEFAULT_SESSION_TTL_SECONDS: u64 = 600;
/// The most previews one session may hold unconfirmed at once.
pub const MAX_PENDING_PREVIEWS_PER_SESSION: usize = 5;
/// The one author of every task file; injected by the server, never taken from a client.
pub const TASK_AUTHOR: &str = "gmx";
/// The intent of an input no rule recognises; such a task is always high risk.
pub const UNKNOWN_INTENT: &str = "unknown";

string_enum! {
    /// Where a request comes from.
    Channel {
        Terminal => "terminal",
        Telegram => "telegram",
        Web => "web",
        /// An agent's proposal in a room; only the server makes these, never a client.
        Room => "room",
    }
}

string_enum! {
    /// How dangerous a task is.
    Risk { Low => "low", High => "high" }
}

string_enum! {
    /// Where a confirmed task goes: `fast` straight to the inbox, `approval` to wait for a person.
    Lane { Fast => "fast", Approval => "approval" }
}

string_enum! {
    /// Where a confirmed task is in its life.
    TaskState {
        /// In the inbox, waiting for the execution plane.
        Accepted => "accepted",
        /// Waiting for a person to approve it.
        PendingApproval => "pending_approval",
        /// The execution plane reported that it started.
        Running => "running",
        /// The execution plane reported success.
        Done => "done",
        /// The execution plane reported failure.
        Failed => "failed",
    }
}

string_enum! {
    /// Whether a confirm wrote its task (`ok`) or not (`error`).
    ConfirmStatus { Ok => "ok", Error => "error" }
}

impl Channel {
    /// The channels a client may preview in; `room` is the server's own, for agents' proposals.
    pub const FOR_CLIENTS: &'static [Channel] = &[Channel::Terminal, Channel::Telegram, Channel::Web];
}

impl Risk {
    /// The lane a task of this risk goes to: low → `fast`, high → `approval`.
    pub fn lane(self) -> Lane {
        match self {
            Risk::Low => Lane::Fast,
            Risk::High => Lane::Approval,
        }
    }
}

impl TaskState {
    /// True for `done` and `failed`: nothing follows them.
    pub fn is_final(self) -> bool {
        matches!(self, TaskState::Done | TaskState::Failed)
    }
}

/// One structured step of a task: a tool and its arguments.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Operation {
    pub tool: String,
    #[serde(default)]
    pub args: BTreeMap<String, String>,
}

/// The task that an input was normalized into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NormalizedTask {
    /// The proposed id; confirm keeps it unless it collides with an existing task.
    pub task_id: String,
    pub intent: String,
    pub operations: Vec<Operation>,
    pub risk: Risk,
    pub lane: Lane,
}

/// `POST /api/v1/chat/preview`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PreviewRequest {
    pub raw_input: String,
    pub channel: Channel,
    /// A client-generated UUIDv4.
    pub session_id: String,
}

/// The answer to a preview: nothing has been written yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PreviewResponse {
    pub preview_id: String,
    pub normalized_task: NormalizedTask,
    /// Always `true`: no task exists until the same session confirms.
    pub requires_confirm: bool,
    pub ttl_seconds: u64,
    /// When the preview stops being confirmable.
    pub expires_at: DateTime<Utc>,
    /// The rule that matched, or `fallback`.
    pub rule_id: String,
    /// Why the task has its risk.
    pub risk_reason: String,
    /// True when confirm needs a `structured_override` (the input was not recognised).
    pub requires_structured_override: bool,
    /// The version of the rules file that produced this preview.
    pub rules_version: String,
}

/// What a session may confirm in place of an unrecognised input: a known intent and
/// well-formed operations for it. The risk stays `high`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StructuredOverride {
    pub intent: String,
    pub operations: Vec<Operation>,
}

/// `POST /api/v1/chat/confirm`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConfirmRequest {
    pub preview_id: String,
    pub session_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structured_override: Option<StructuredOverride>,
}

/// The answer to a successful confirm: the task file exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConfirmResponse {
    pub status: ConfirmStatus,
    pub task_id: String,
    /// Relative to the control plane's root, e.g. `interface/inbox/task_....yaml`.
    pub path_written: String,
    /// A sentence for people.
    pub ack: String,
    pub lane: Lane,
    pub state: TaskState,
}

/// `GET /api/v1/chat/watch/{task_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WatchResponse {
    pub task_id: String,
    pub state: TaskState,
    /// The latest event about the task: the execution plane's last line, or the gateway's confirm.
    pub last_event: serde_json::Value,
    /// The execution plane's summary, once it gave one.
    pub result_summary: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// One task confirmed in a session, as listed by `GET /api/v1/chat/tasks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionTask {
    pub task_id: String,
    pub intent: String,
    pub risk: Risk,
    pub lane: Lane,
    pub state: TaskState,
    pub raw_input: String,
    pub path_written: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub result_summary: Option<String>,
}

/// `DELETE /api/v1/chat/session/{session_id}`: the session is gone, with its unconfirmed
/// previews (a late confirm of one is told `PREVIEW_EXPIRED`). Ending a session that is not live
/// (never used, expired, already ended) is not an error: `ended` is then false.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionEnded {
    pub session_id: String,
    pub ended: bool,
    pub dropped_previews: usize,
}

/// `GET /api/v1/chat/telemetry/anchor`: the head of the gateway's hash-chained log (its newest
/// line's `seq` and `hash`) as the server keeps it outside the log, to check a copy of the log
/// with `chatctl verify-telemetry --anchor <seq>:<hash>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TelemetryAnchor {
    pub log: String,
    pub seq: i64,
    pub hash: String,
}

/// The tasks a session confirmed, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionTasksResponse {
    pub session_id: String,
    pub tasks: Vec<SessionTask>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_use_the_spec_spelling() {
        assert_eq!(serde_json::to_string(&TaskState::PendingApproval).unwrap(), "\"pending_approval\"");
        assert_eq!(serde_json::to_string(&Channel::Telegram).unwrap(), "\"telegram\"");
        assert_eq!("web".parse::<Channel>().unwrap(), Channel::Web);
        assert!("irc".parse::<Channel>().is_err());
        assert_eq!(Risk::Low.lane(), Lane::Fast);
        assert_eq!(Risk::High.lane(), Lane::Approval);
        assert!(TaskState::Done.is_final() && TaskState::Failed.is_final());
        assert!(!TaskState::Accepted.is_final() && !TaskState::PendingApproval.is_final());
    }

    #[test]
    fn confirm_request_override_is_optional_and_unknown_fields_are_ignored() {
        let request: ConfirmRequest =
            serde_json::from_str(r#"{"preview_id":"p","session_id":"s","author":"mallory"}"#).unwrap();
        assert_eq!(request.structured_override, None);
        let text = serde_json::to_string(&request).unwrap();
        assert!(!text.contains("structured_override"), "{text}");
    }
}
