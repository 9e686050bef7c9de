//! Agents' proposals of control-plane tasks. An agent with the `propose_task` tool may call it in
//! a turn; the call becomes a gateway preview made on behalf of the room, kept as a timeline item,
//! and only a person the access rule allows (an operator or admin taking part in the room)
//! confirms or rejects it. The gateway itself sits behind [`ProposalDesk`], so this layer stays
//! free of the control plane's internals.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use domain::control_plane::{ConfirmResponse, PreviewResponse, TaskState};
use domain::events::RoomEvent;
use domain::proposals::{limits, AgentTool, Proposal, ProposalList, ProposalState};
use domain::rooms::{Agent, Message};
use domain::ErrorCode;
use futures::future::BoxFuture;
use serde::Deserialize;
use storage::{NewProposal, ProposalDecisionRecord};
use uuid::Uuid;

use crate::access::{authorize_room, Actor, RoomAction};
use crate::llm::{ToolCall, ToolSpec};
use crate::{ServiceError, ServiceResult, Services};

/// The tool's name, as models call it.
pub const PROPOSE_TASK: &str = "propose_task";
/// How many proposals one turn may make; further calls in the same reply are ignored.
pub const MAX_PER_TURN: usize = 1;
/// How many of a room's proposals a prompt and a page show.
pub const RECENT: i64 = 50;

/// The `propose_task` function as offered to models.
pub fn propose_task_tool() -> ToolSpec {
    ToolSpec {
        name: PROPOSE_TASK,
        description: "Propose a control-plane task (for example \"lisa run backup_db\") for a person in this room \
                      to confirm. Nothing runs unless a person confirms it; you only see the preview and, later, \
                      what the person decided.",
        parameters: serde_json::json!({
            "type": "object",
            "properties": {
                "command": {
                    "type": "string",
                    "description": "The command in plain words, as a person would type it in the control panel."
                },
                "reason": { "type": "string", "description": "Why the task should run, in one sentence." }
            },
            "required": ["command", "reason"],
            "additionalProperties": false
        }),
    }
}

/// The tools an agent's request offers.
pub fn tools_for(services: &Services, agent: &Agent) -> Vec<ToolSpec> {
    if agent.tools.contains(&AgentTool::ProposeTask) && services.proposal_desk().is_some() {
        vec![propose_task_tool()]
    } else {
        Vec::new()
    }
}

/// The gateway refused or failed; said in its own code and words.
#[derive(Debug, Clone, PartialEq)]
pub struct DeskError {
    pub code: ErrorCode,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl From<DeskError> for ServiceError {
    fn from(error: DeskError) -> Self {
        match error.code {
            ErrorCode::Internal => ServiceError::Internal(error.message),
            _ => {
                ServiceError::ControlPlane { code: error.code, message: error.message, retry_after: error.retry_after }
            }
        }
    }
}

/// Where a confirmed task stands, as the execution plane reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskReport {
    pub state: TaskState,
    pub result_summary: Option<String>,
}

/// The control plane as proposals need it: preview for a room, confirm or reject for a person
/// already authorized here, and the state of a written task.
pub trait ProposalDesk: Send + Sync {
    fn propose(
        &self,
        room_id: Uuid,
        agent_id: Uuid,
        command: String,
    ) -> BoxFuture<'_, Result<PreviewResponse, DeskError>>;
    fn confirm<'a>(
        &'a self,
        proposal: &'a Proposal,
        person: Uuid,
        client: Option<IpAddr>,
    ) -> BoxFuture<'a, Result<ConfirmResponse, DeskError>>;
    fn reject<'a>(
        &'a self,
        proposal: &'a Proposal,
        person: Uuid,
        client: Option<IpAddr>,
    ) -> BoxFuture<'a, Result<(), DeskError>>;
    /// Where each task stands, in order; the execution plane's reports are read once for all.
    fn task_reports(&self, task_ids: Vec<String>) -> BoxFuture<'_, Vec<Option<TaskReport>>>;
}

#[derive(Deserialize)]
struct ProposeArguments {
    command: String,
    #[serde(default)]
    reason: String,
}

/// Reads a `propose_task` call's arguments; the error says what was wrong, for the agent.
fn parse_arguments(arguments: &str) -> Result<(String, String), String> {
    let parsed: ProposeArguments = serde_json::from_str(arguments)
        .map_err(|_| "the arguments were not a JSON object with a string \"command\"".to_owned())?;
    let command = parsed.command.trim().to_owned();
    if command.is_empty() {
        return Err("the command was empty".to_owned());
    }
    if command.len() > limits::COMMAND_MAX_BYTES {
        return Err(format!("the command was longer than {} bytes", limits::COMMAND_MAX_BYTES));
    }
    let reason: String = parsed.reason.trim().chars().take(limits::REASON_MAX_CHARS).collect();
    Ok((command, reason))
}

/// Who proposes, from which message.
pub(crate) struct Proposer<'a> {
    pub agent: &'a Agent,
    pub message: &'a Message,
    pub run_id: Option<Uuid>,
}

/// Turns one `propose_task` call into a proposal: previewed by the gateway, or refused with the
/// reason kept so the agent and the people see it. Announced with `proposal.new`.
pub(crate) async fn propose(services: &Services, proposer: Proposer<'_>, call: &ToolCall) -> ServiceResult<Proposal> {
    let room_id = proposer.message.room_id;
    let mut new = NewProposal {
        room_id,
        message_id: Some(proposer.message.id),
        agent_id: Some(proposer.agent.id),
        agent_name: proposer.agent.name.clone(),
        run_id: proposer.run_id,
        command: String::new(),
        reason: String::new(),
        preview_id: None,
        intent: None,
        operations: Vec::new(),
        risk: None,
        lane: None,
        rule_id: None,
        risk_reason: None,
        requires_structured_override: false,
        expires_at: None,
        state: ProposalState::Refused,
        error: None,
    };
    match parse_arguments(&call.arguments) {
        Err(problem) => {
            new.command = call.arguments.chars().take(200).collect();
            new.error = Some(problem);
        }
        Ok((command, reason)) => {
            new.command = command;
            new.reason = reason;
            match preview(services, room_id, proposer.agent.id, &new.command).await? {
                Ok(preview) => {
                    let task = preview.normalized_task;
                    new.preview_id = Some(preview.preview_id);
                    new.intent = Some(task.intent);
                    new.operations = task.operations;
                    new.risk = Some(task.risk);
                    new.lane = Some(task.lane);
                    new.rule_id = Some(preview.rule_id);
                    new.risk_reason = Some(preview.risk_reason);
                    new.requires_structured_override = preview.requires_structured_override;
                    new.expires_at = Some(preview.expires_at);
                    new.state = ProposalState::Pending;
                }
                Err(refusal) => new.error = Some(refusal),
            }
        }
    }
    let proposal = services.store.insert_proposal(new).await?;
    tracing::info!(
        room_id = %room_id,
        proposal_id = %proposal.id,
        agent_id = %proposer.agent.id,
        state = proposal.state.as_str(),
        risk = proposal.risk.map(|risk| risk.as_str()),
        "an agent proposed a task"
    );
    metrics::counter!("proposals_total", "state" => proposal.state.as_str()).increment(1);
    services.events.publish(room_id, &RoomEvent::ProposalNew(proposal.clone()));
    Ok(proposal)
}

/// The gateway's preview, or why there is none (in words for the agent and the people).
async fn preview(
    services: &Services,
    room_id: Uuid,
    agent_id: Uuid,
    command: &str,
) -> ServiceResult<Result<PreviewResponse, String>> {
    let Some(desk) = services.proposal_desk() else {
        return Ok(Err("the control plane is not enabled on this server".to_owned()));
    };
    let open = services.store.count_open_proposals(room_id, Utc::now()).await?;
    if open >= limits::MAX_OPEN_PER_ROOM {
        return Ok(Err(format!(
            "the room already has {open} proposals waiting for a person; wait until they are decided"
        )));
    }
    match desk.propose(room_id, agent_id, command.to_owned()).await {
        Ok(preview) => Ok(Ok(preview)),
        Err(error) if error.code == ErrorCode::Internal => Err(error.into()),
        Err(error) => Ok(Err(format!("{} ({})", error.message.trim_end_matches('.'), error.code.as_str()))),
    }
}

/// The room's proposals, oldest first.
pub async fn list(services: &Services, actor: &Actor, room_id: Uuid) -> ServiceResult<ProposalList> {
    authorize_room(services, actor, room_id, RoomAction::Read).await?;
    Ok(ProposalList { proposals: services.store.list_proposals(room_id, RECENT).await? })
}

/// Confirms a proposal for `actor`: the gateway writes its task file exactly as for the panel.
pub async fn confirm(
    services: &Services,
    actor: &Actor,
    room_id: Uuid,
    proposal_id: Uuid,
    client: Option<IpAddr>,
) -> ServiceResult<Proposal> {
    let (proposal, person) = decidable(services, actor, room_id, proposal_id).await?;
    if proposal.requires_structured_override {
        return Err(ServiceError::ControlPlane {
            code: ErrorCode::SchemaInvalid,
            message: "The gateway did not recognise this command, so it cannot be confirmed from the room; a \
                      person may type it in the control panel and confirm it there with a structured override."
                .to_owned(),
            retry_after: None,
        });
    }
    let desk = services.proposal_desk().ok_or_else(control_plane_off)?;
    let written = match desk.confirm(&proposal, person.id, client).await {
        Ok(written) => written,
        Err(error) => return Err(after_refusal(services, &proposal, error).await),
    };
    let decision = ProposalDecisionRecord {
        task_id: Some(written.task_id.clone()),
        task_state: Some(written.state),
        path_written: Some(written.path_written.clone()),
        ..decided(ProposalState::Confirmed, &person)
    };
    let Some(confirmed) = services.store.decide_proposal(proposal.id, decision).await? else {
        // The task file exists: the gateway's single-use confirm is the authority here.
        tracing::error!(proposal_id = %proposal.id, task_id = %written.task_id, "a confirmed proposal was decided meanwhile");
        return Err(ServiceError::Conflict("The proposal was decided by someone else meanwhile.".to_owned()));
    };
    tracing::info!(room_id = %room_id, proposal_id = %proposal.id, task_id = %written.task_id, "a person confirmed a proposal");
    services.events.publish(room_id, &RoomEvent::ProposalUpdated(confirmed.clone()));
    Ok(confirmed)
}

/// Rejects a proposal for `actor`: nothing is written, and the preview can no longer be confirmed.
pub async fn reject(
    services: &Services,
    actor: &Actor,
    room_id: Uuid,
    proposal_id: Uuid,
    client: Option<IpAddr>,
) -> ServiceResult<Proposal> {
    let (proposal, person) = decidable(services, actor, room_id, proposal_id).await?;
    let desk = services.proposal_desk().ok_or_else(control_plane_off)?;
    match desk.reject(&proposal, person.id, client).await {
        Ok(()) => {}
        // The gateway no longer holds the preview (it expired, or the server restarted): there is
        // nothing left to confirm, so turning it down still stands.
        Err(error) if matches!(error.code, ErrorCode::PreviewExpired | ErrorCode::PreviewNotFound) => {}
        Err(error) => return Err(error.into()),
    }
    let rejected = services
        .store
        .decide_proposal(proposal.id, decided(ProposalState::Rejected, &person))
        .await?
        .ok_or_else(|| ServiceError::Conflict("The proposal was decided by someone else meanwhile.".to_owned()))?;
    services.events.publish(room_id, &RoomEvent::ProposalUpdated(rejected.clone()));
    Ok(rejected)
}

/// `person`'s decision, with no task.
fn decided(state: ProposalState, person: &crate::Principal) -> ProposalDecisionRecord {
    ProposalDecisionRecord {
        state,
        decided_by: person.id,
        decided_by_name: person.name.clone(),
        task_id: None,
        task_state: None,
        path_written: None,
    }
}

/// Checks the rule and the proposal's state; a decided proposal answers as the gateway would.
async fn decidable(
    services: &Services,
    actor: &Actor,
    room_id: Uuid,
    proposal_id: Uuid,
) -> ServiceResult<(Proposal, crate::Principal)> {
    authorize_room(services, actor, room_id, RoomAction::DecideProposals).await?;
    let person = actor.require_person()?.clone();
    let proposal =
        services.store.get_proposal(room_id, proposal_id).await?.ok_or(ServiceError::NotFound("proposal"))?;
    let refusal = |code, message: String| Err(ServiceError::ControlPlane { code, message, retry_after: None });
    let by = proposal.decided_by_name.clone().unwrap_or_else(|| "someone".to_owned());
    match proposal.state {
        ProposalState::Pending if proposal.expires_at.is_some_and(|at| at <= Utc::now()) => {
            expire(services, &proposal).await?;
            refusal(ErrorCode::PreviewExpired, "The proposal's preview expired; nothing was written.".to_owned())
        }
        ProposalState::Pending => Ok((proposal, person)),
        ProposalState::Confirmed => refusal(
            ErrorCode::PreviewAlreadyConfirmed,
            format!("{by} already confirmed this proposal as task {}.", proposal.task_id.as_deref().unwrap_or("?")),
        ),
        ProposalState::Rejected => {
            refusal(ErrorCode::Conflict, format!("{by} already rejected this proposal; nothing was written."))
        }
        ProposalState::Expired => {
            refusal(ErrorCode::PreviewExpired, "The proposal's preview expired; nothing was written.".to_owned())
        }
        ProposalState::Refused => {
            refusal(ErrorCode::Conflict, "The gateway refused this proposal; there is nothing to decide.".to_owned())
        }
    }
}

/// What a refused confirm leaves behind: a preview the gateway no longer holds is expired here too.
async fn after_refusal(services: &Services, proposal: &Proposal, error: DeskError) -> ServiceError {
    if matches!(error.code, ErrorCode::PreviewExpired | ErrorCode::PreviewNotFound) {
        if let Err(storage) = expire(services, proposal).await {
            return storage;
        }
        return ServiceError::ControlPlane {
            code: ErrorCode::PreviewExpired,
            message: "The proposal's preview expired; nothing was written.".to_owned(),
            retry_after: None,
        };
    }
    error.into()
}

async fn expire(services: &Services, proposal: &Proposal) -> ServiceResult<()> {
    if let Some(expired) = services.store.expire_proposal(proposal.id).await? {
        services.events.publish(expired.room_id, &RoomEvent::ProposalUpdated(expired));
    }
    Ok(())
}

fn control_plane_off() -> ServiceError {
    ServiceError::Unavailable("the control plane is not enabled on this server".to_owned())
}

/// Expires proposals nobody decided and follows confirmed tasks until they end, announcing each
/// change with `proposal.updated`.
pub async fn follow(services: &Services) -> ServiceResult<()> {
    for expired in services.store.expire_proposals(Utc::now()).await? {
        services.events.publish(expired.room_id, &RoomEvent::ProposalUpdated(expired));
    }
    let Some(desk) = services.proposal_desk() else {
        return Ok(());
    };
    let followed = services.store.proposals_to_follow(500).await?;
    if followed.is_empty() {
        return Ok(());
    }
    let task_ids = followed.iter().map(|proposal| proposal.task_id.clone().unwrap_or_default()).collect();
    let reports = desk.task_reports(task_ids).await;
    for (proposal, report) in followed.into_iter().zip(reports) {
        let Some(report) = report else { continue };
        let changed = Some(report.state) != proposal.task_state
            || (report.result_summary.is_some() && report.result_summary != proposal.result_summary);
        if changed {
            let updated = services.store.record_proposal_task(proposal.id, report.state, report.result_summary).await?;
            services.events.publish(updated.room_id, &RoomEvent::ProposalUpdated(updated));
        }
    }
    Ok(())
}

/// Runs [`follow`] every `every` until shutdown.
pub fn spawn_follower(services: &Services, every: Duration) {
    let services = services.clone();
    let tracker = services.tasks.clone();
    tracker.spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = services.shutdown.cancelled() => return,
            }
            if let Err(error) = follow(&services).await {
                tracing::warn!(%error, "could not follow agents' proposals; trying again");
            }
        }
    });
}

/// Sets the desk proposals go through; the server does this once at start-up.
pub fn install_desk(services: &Services, desk: Arc<dyn ProposalDesk>) {
    if services.proposal_desk.set(desk).is_err() {
        tracing::warn!("the proposal desk was already set; keeping the first");
    }
}

/// What a reply that is only a `propose_task` call says in the room.
pub(crate) fn call_summary(call: &ToolCall) -> String {
    match parse_arguments(&call.arguments) {
        Ok((command, reason)) if reason.is_empty() => {
            format!("I propose a task for a person here to confirm: `{command}`.")
        }
        Ok((command, reason)) => format!("I propose a task for a person here to confirm: `{command}` — {reason}"),
        Err(_) => "I tried to propose a task, but the proposal was malformed.".to_owned(),
    }
}

/// The calls of a reply that are proposals, at most [`MAX_PER_TURN`]; calls to tools the agent
/// does not have (a model may invent `confirm_task`) are ignored.
pub(crate) fn proposal_calls<'a>(agent: &Agent, calls: &'a [ToolCall]) -> Vec<&'a ToolCall> {
    if !agent.tools.contains(&AgentTool::ProposeTask) {
        return Vec::new();
    }
    calls.iter().filter(|call| call.name == PROPOSE_TASK).take(MAX_PER_TURN).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_read_strictly_and_bounded() {
        assert_eq!(
            parse_arguments(r#"{"command":" lisa run backup_db ","reason":"nightly"}"#).unwrap(),
            ("lisa run backup_db".to_owned(), "nightly".to_owned())
        );
        assert_eq!(parse_arguments(r#"{"command":"show tasks"}"#).unwrap().1, "");
        assert!(parse_arguments("not json").is_err());
        assert!(parse_arguments(r#"{"command":"   "}"#).is_err());
        assert!(parse_arguments(r#"{"command":42}"#).is_err());
        assert!(parse_arguments(&format!(r#"{{"command":"{}"}}"#, "x".repeat(5000))).is_err());
        // Extra fields (a model claiming a risk) are ignored, never obeyed.
        let (command, _) = parse_arguments(r#"{"command":"show tasks","risk":"low","confirm":true}"#).unwrap();
        assert_eq!(command, "show tasks");
    }

    #[test]
    fn the_tool_takes_a_command_and_a_reason() {
        let tool = propose_task_tool();
        assert_eq!(tool.name, "propose_task");
        assert_eq!(tool.parameters["required"], serde_json::json!(["command", "reason"]));
    }
}
