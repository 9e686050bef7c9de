//! Where the two halves meet: an agent in a room proposes a control-plane task, the gateway
//! previews it exactly as it previews a person's command, and only a person confirms it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::control_plane::{Lane, Operation, Risk, TaskState};
use crate::rooms::FieldError;
use crate::string_enum::string_enum;

string_enum! {
    /// What an agent may do besides talking.
    AgentTool {
        /// Propose a control-plane task for a person to confirm.
        ProposeTask => "propose_task",
    }
}

string_enum! {
    /// Where a proposal is in its life.
    ProposalState {
        /// Previewed; waiting for a person until it expires.
        Pending => "pending",
        /// A person confirmed it: the task file is written and `task_state` follows it.
        Confirmed => "confirmed",
        /// A person turned it down; nothing was written.
        Rejected => "rejected",
        /// Nobody decided before the preview expired; nothing was written.
        Expired => "expired",
        /// The gateway refused to preview it (a limit, an empty or oversized command).
        Refused => "refused",
    }
}

impl ProposalState {
    /// Whether a person may still decide it.
    pub fn is_open(self) -> bool {
        self == ProposalState::Pending
    }
}

/// Limits on what an agent may propose.
pub mod limits {
    /// The gateway's own limit on a command.
    pub const COMMAND_MAX_BYTES: usize = 4096;
    pub const REASON_MAX_CHARS: usize = 1000;
    /// Open (pending) proposals one room may hold; more are refused until a person decides.
    pub const MAX_OPEN_PER_ROOM: i64 = 5;
    /// Tools one agent may have.
    pub const MAX_TOOLS: usize = 8;
}

/// An agent's proposal as the room's timeline shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Proposal {
    pub id: Uuid,
    pub room_id: Uuid,
    /// The agent message the proposal came with.
    pub message_id: Option<Uuid>,
    pub agent_id: Option<Uuid>,
    pub agent_name: String,
    /// The auto-dialogue run it was made in, if any.
    pub run_id: Option<Uuid>,
    /// The command as the agent wrote it: what the gateway normalized.
    pub command: String,
    /// Why the agent proposes it, in its own words.
    pub reason: String,
    /// The gateway's preview; absent when the gateway refused to preview.
    pub preview_id: Option<String>,
    pub intent: Option<String>,
    pub operations: Vec<Operation>,
    pub risk: Option<Risk>,
    pub lane: Option<Lane>,
    /// The gateway rule that matched, or `fallback`.
    pub rule_id: Option<String>,
    pub risk_reason: Option<String>,
    /// The command was not recognised: only a person in the control panel, with a structured
    /// override, can turn it into a task; it cannot be confirmed from the room.
    pub requires_structured_override: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub state: ProposalState,
    /// Why the gateway refused it, when `state` is `refused`.
    pub error: Option<String>,
    /// The person who confirmed or rejected it.
    pub decided_by: Option<Uuid>,
    pub decided_by_name: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    /// The task written on confirm, and its state as the execution plane reports it.
    pub task_id: Option<String>,
    pub task_state: Option<TaskState>,
    pub path_written: Option<String>,
    pub result_summary: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Proposal {
    /// Whether a person could confirm it from the room at `now`.
    pub fn confirmable(&self, now: DateTime<Utc>) -> bool {
        self.state.is_open() && !self.requires_structured_override && self.expires_at.is_some_and(|at| at > now)
    }

    /// What the proposing agent is told about it: the preview, then what people did with it.
    pub fn tool_result(&self) -> String {
        let mut text = format!("Proposal of `{}`: ", self.command);
        match self.state {
            ProposalState::Refused => {
                text.push_str(&format!("refused by the gateway ({}).", self.error.as_deref().unwrap_or("no reason")));
                return text;
            }
            _ => text.push_str(&format!(
                "previewed as intent {} (risk {}, lane {}, rule {}).",
                self.intent.as_deref().unwrap_or("unknown"),
                self.risk.map(Risk::as_str).unwrap_or("high"),
                self.lane.map(Lane::as_str).unwrap_or("approval"),
                self.rule_id.as_deref().unwrap_or("fallback"),
            )),
        }
        let who = self.decided_by_name.as_deref().unwrap_or("a person");
        let outcome = match self.state {
            ProposalState::Pending if self.requires_structured_override => {
                " It was not recognised; only a person in the control panel can turn it into a task.".to_owned()
            }
            ProposalState::Pending => " Awaiting a person's confirmation; you cannot confirm it.".to_owned(),
            ProposalState::Rejected => format!(" {who} rejected it; nothing was run."),
            ProposalState::Expired => " Nobody confirmed it before it expired; nothing was run.".to_owned(),
            ProposalState::Confirmed => {
                let mut line = format!(
                    " {who} confirmed it as task {}; its state is {}.",
                    self.task_id.as_deref().unwrap_or("?"),
                    self.task_state.map(TaskState::as_str).unwrap_or("accepted"),
                );
                if let Some(summary) = &self.result_summary {
                    line.push_str(&format!(" Result: {summary}"));
                }
                line
            }
            ProposalState::Refused => String::new(),
        };
        text.push_str(&outcome);
        text
    }
}

/// `POST /api/rooms/:id/proposals/:proposal_id/confirm` and `…/reject` answer the proposal as it
/// now is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProposalDecision {
    pub proposal: Proposal,
}

/// `GET /api/rooms/:id/proposals`: the room's proposals, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProposalList {
    pub proposals: Vec<Proposal>,
}

/// Checks an agent's tools: known names, each at most once.
pub fn validate_tools(tools: &[AgentTool]) -> Result<Vec<AgentTool>, FieldError> {
    if tools.len() > limits::MAX_TOOLS {
        return Err(FieldError::new("tools", format!("An agent may have at most {} tools.", limits::MAX_TOOLS)));
    }
    let mut kept: Vec<AgentTool> = Vec::with_capacity(tools.len());
    for tool in tools {
        if !kept.contains(tool) {
            kept.push(*tool);
        }
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proposal(state: ProposalState) -> Proposal {
        let now = Utc::now();
        Proposal {
            id: Uuid::nil(),
            room_id: Uuid::nil(),
            message_id: None,
            agent_id: None,
            agent_name: "Ops".into(),
            run_id: None,
            command: "lisa run backup_db".into(),
            reason: "nightly".into(),
            preview_id: Some("p".into()),
            intent: Some("run_job".into()),
            operations: Vec::new(),
            risk: Some(Risk::Low),
            lane: Some(Lane::Fast),
            rule_id: Some("r1".into()),
            risk_reason: None,
            requires_structured_override: false,
            expires_at: Some(now + chrono::Duration::seconds(60)),
            state,
            error: None,
            decided_by: None,
            decided_by_name: Some("Alice".into()),
            decided_at: None,
            task_id: Some("task_1".into()),
            task_state: Some(TaskState::Done),
            path_written: None,
            result_summary: Some("ok".into()),
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn only_open_recognised_unexpired_proposals_are_confirmable() {
        let now = Utc::now();
        assert!(proposal(ProposalState::Pending).confirmable(now));
        assert!(!proposal(ProposalState::Pending).confirmable(now + chrono::Duration::seconds(61)));
        assert!(!proposal(ProposalState::Rejected).confirmable(now));
        let mut unknown = proposal(ProposalState::Pending);
        unknown.requires_structured_override = true;
        assert!(!unknown.confirmable(now));
    }

    #[test]
    fn the_agent_is_told_the_preview_and_the_outcome() {
        let pending = proposal(ProposalState::Pending).tool_result();
        assert!(pending.contains("risk low") && pending.contains("Awaiting a person"), "{pending}");
        let done = proposal(ProposalState::Confirmed).tool_result();
        assert!(done.contains("Alice confirmed") && done.contains("done") && done.contains("Result: ok"), "{done}");
        assert!(proposal(ProposalState::Rejected).tool_result().contains("rejected"));
    }

    #[test]
    fn tools_are_deduplicated_and_bounded() {
        assert_eq!(
            validate_tools(&[AgentTool::ProposeTask, AgentTool::ProposeTask]).unwrap(),
            vec![AgentTool::ProposeTask]
        );
        assert!(validate_tools(&[AgentTool::ProposeTask; 9]).is_err());
        assert_eq!("propose_task".parse::<AgentTool>().unwrap(), AgentTool::ProposeTask);
    }
}
