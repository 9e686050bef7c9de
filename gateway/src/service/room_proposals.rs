//! Agents' proposals: a preview made on behalf of a room, in the `room` channel, with the same
//! rules, limits and telemetry as a person's; and its confirm or reject by a person whom the
//! service layer has already checked may decide for that room.
//!
//! The room owns its session (the session's "person" is the room's id), so the binding of a
//! preview to its session holds exactly as for people, and no session of a person can confirm
//! a room's preview or the other way round.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use domain::control_plane::{Channel, ConfirmRequest, ConfirmResponse, PreviewRequest, PreviewResponse, TaskState};
use tracing::instrument;
use uuid::Uuid;

use super::{initial_state, Gateway, Shared};
use crate::error::GatewayResult;
use crate::operator::Operator;
use crate::telemetry::{Durability, TelemetryEvent, TelemetryRecord};

/// What an agent asks the gateway to preview.
#[derive(Debug, Clone)]
pub struct RoomProposal {
    pub room_id: Uuid,
    pub agent_id: Uuid,
    pub command: String,
}

/// Where a confirmed task stands, read without a telemetry line (the server follows its rooms'
/// tasks on a timer; a person's watch is logged as always).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskProgress {
    pub state: TaskState,
    pub result_summary: Option<String>,
    pub updated_at: DateTime<Utc>,
}

impl Gateway {
    /// The session a room's proposals live in: derived from the room's id, shaped as the version
    /// 4 UUID every session id is.
    pub fn room_session(room_id: Uuid) -> Uuid {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!("room-proposals:{room_id}").as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }

    /// Previews an agent's command for its room. Writes no task.
    #[instrument(skip_all, fields(room_id = %proposal.room_id), err(level = "info"))]
    pub async fn propose(&self, proposal: RoomProposal) -> GatewayResult<PreviewResponse> {
        let room = Operator::new(proposal.room_id);
        self.operate(TelemetryEvent::Preview, room, None, Durability::Flushed, move |shared, record| {
            mark(record, proposal.room_id, Some(proposal.agent_id));
            let request = PreviewRequest {
                raw_input: proposal.command,
                channel: Channel::Room,
                session_id: Gateway::room_session(proposal.room_id).to_string(),
            };
            Ok((shared.preview_in_channel(request, room, None, record)?, ()))
        })
        .await
    }

    /// Writes the task of a room's preview, once, for `person` (the service layer has checked
    /// that they may). A preview that needs a structured override is refused here: only a
    /// person's own session in the control panel may give one.
    #[instrument(skip_all, fields(room_id = %room_id), err(level = "info"))]
    pub async fn confirm_proposal(
        &self,
        room_id: Uuid,
        agent_id: Option<Uuid>,
        preview_id: &str,
        person: Uuid,
        client: Option<IpAddr>,
    ) -> GatewayResult<ConfirmResponse> {
        let preview_id = preview_id.to_owned();
        let operator = Operator::new(person);
        self.operate(TelemetryEvent::Confirm, operator, client, Durability::Synced, move |shared, record| {
            mark(record, room_id, agent_id);
            let request = ConfirmRequest {
                preview_id,
                session_id: Gateway::room_session(room_id).to_string(),
                structured_override: None,
            };
            shared.confirm(request, Operator::new(room_id), client, record)
        })
        .await
    }

    /// Drops a room's preview that `person` turned down: nothing is written, and a later confirm
    /// of it is told `PREVIEW_EXPIRED`.
    #[instrument(skip_all, fields(room_id = %room_id), err(level = "info"))]
    pub async fn reject_proposal(
        &self,
        room_id: Uuid,
        agent_id: Option<Uuid>,
        preview_id: &str,
        person: Uuid,
        client: Option<IpAddr>,
    ) -> GatewayResult<()> {
        let preview_id = preview_id.to_owned();
        let operator = Operator::new(person);
        self.operate(TelemetryEvent::Reject, operator, client, Durability::Flushed, move |shared, record| {
            mark(record, room_id, agent_id);
            shared.withdraw(&preview_id, &Gateway::room_session(room_id).to_string(), room_id, client, record)
        })
        .await
    }

    /// The state of each task that rooms' proposals wrote, in order: the execution plane's
    /// latest report, else the state its file's folder implies; `None` for an id that names no
    /// task file. The execution plane's files are read once for all of them.
    pub async fn task_progress(&self, task_ids: Vec<String>) -> Vec<Option<TaskProgress>> {
        let shared = std::sync::Arc::clone(&self.shared);
        let count = task_ids.len();
        let read = tokio::task::spawn_blocking(move || {
            shared.refresh_reports();
            task_ids.iter().map(|task_id| shared.task_progress(task_id)).collect()
        });
        read.await.unwrap_or_else(|_| vec![None; count])
    }
}

impl Shared {
    /// [`Gateway::task_progress`] of one task, from the reports as last refreshed.
    fn task_progress(&self, task_id: &str) -> Option<TaskProgress> {
        if !crate::folders::is_task_id(task_id) {
            return None;
        }
        if let Some(report) = self.reports.latest(task_id) {
            return Some(TaskProgress {
                state: report.state,
                result_summary: report.result_summary,
                updated_at: report.updated_at,
            });
        }
        let (lane, _) = self.folders.locate(task_id)?;
        Some(TaskProgress { state: initial_state(lane), result_summary: None, updated_at: Utc::now() })
    }
}

/// Names the room and the proposing agent on a telemetry line.
fn mark(record: &mut TelemetryRecord, room_id: Uuid, agent_id: Option<Uuid>) {
    record.room_id = Some(room_id.to_string());
    record.proposed_by_agent = agent_id.map(|id| id.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::GatewayError;

    #[test]
    fn room_sessions_are_stable_version_4_ids() {
        let room = Uuid::new_v4();
        let session = Gateway::room_session(room);
        assert_eq!(session, Gateway::room_session(room));
        assert_ne!(session, Gateway::room_session(Uuid::new_v4()));
        assert_eq!(session.get_version(), Some(uuid::Version::Random));
    }

    fn proposal(room_id: Uuid, command: &str) -> RoomProposal {
        RoomProposal { room_id, agent_id: Uuid::from_u128(7), command: command.to_owned() }
    }

    fn task_files(dir: &std::path::Path) -> usize {
        [crate::folders::INBOX, crate::folders::PENDING_APPROVAL]
            .iter()
            .filter_map(|sub| std::fs::read_dir(dir.join(sub)).ok())
            .map(|entries| entries.count())
            .sum()
    }

    #[tokio::test]
    async fn a_room_preview_is_confirmed_once_by_a_person_and_only_through_the_room() {
        let dir = tempfile::tempdir().unwrap();
        let gateway = Gateway::new(crate::GatewayConfig::with_root(dir.path())).unwrap();
        let room = Uuid::new_v4();
        let person = Uuid::from_u128(0xada);

        let preview = gateway.propose(proposal(room, "lisa run backup_db")).await.unwrap();
        assert_eq!(task_files(dir.path()), 0, "a proposal writes nothing");
        // A person's own session cannot take the room's preview.
        let elsewhere = ConfirmRequest {
            preview_id: preview.preview_id.clone(),
            session_id: Uuid::new_v4().to_string(),
            structured_override: None,
        };
        assert!(gateway.confirm(elsewhere, Operator::new(person), None).await.is_err());

        let confirmed = gateway.confirm_proposal(room, Some(Uuid::from_u128(7)), &preview.preview_id, person, None);
        let confirmed = confirmed.await.unwrap();
        assert_eq!(task_files(dir.path()), 1);
        let again = gateway.confirm_proposal(room, None, &preview.preview_id, person, None).await.unwrap_err();
        assert!(matches!(again, GatewayError::PreviewAlreadyConfirmed { .. }), "{again:?}");
        let progress = gateway.task_progress(vec![confirmed.task_id.clone(), "task_nope".into()]).await;
        assert_eq!(progress[0].as_ref().unwrap().state, confirmed.state);
        assert_eq!(progress[1], None, "an id that names no task");

        // Another room's session does not hold this preview.
        let other = gateway.confirm_proposal(Uuid::new_v4(), None, &preview.preview_id, person, None).await;
        assert!(other.is_err());

        let log = std::fs::read_to_string(gateway.telemetry_path()).unwrap();
        let confirm_line =
            log.lines().find(|line| line.contains("\"event\":\"confirm\"") && line.contains("\"outcome\":\"ok\""));
        let confirm_line = confirm_line.unwrap();
        assert!(confirm_line.contains(&format!("\"user_id\":\"{person}\"")), "{confirm_line}");
        assert!(confirm_line.contains("\"proposed_by_agent\""), "{confirm_line}");
        assert!(log.contains("\"channel\":\"room\""));
    }

    #[tokio::test]
    async fn a_rejected_proposal_writes_nothing_and_cannot_be_confirmed_later() {
        let dir = tempfile::tempdir().unwrap();
        let gateway = Gateway::new(crate::GatewayConfig::with_root(dir.path())).unwrap();
        let room = Uuid::new_v4();
        let person = Uuid::from_u128(0xada);
        let preview = gateway.propose(proposal(room, "lisa run backup_db")).await.unwrap();
        gateway.reject_proposal(room, None, &preview.preview_id, person, None).await.unwrap();
        let late = gateway.confirm_proposal(room, None, &preview.preview_id, person, None).await.unwrap_err();
        assert_eq!(late, GatewayError::PreviewExpired);
        assert_eq!(task_files(dir.path()), 0);
        let log = std::fs::read_to_string(gateway.telemetry_path()).unwrap();
        assert!(log.contains("\"event\":\"reject\""));
    }

    #[tokio::test]
    async fn unrecognised_commands_need_an_override_no_room_can_give() {
        let dir = tempfile::tempdir().unwrap();
        let gateway = Gateway::new(crate::GatewayConfig::with_root(dir.path())).unwrap();
        let room = Uuid::new_v4();
        let preview = gateway.propose(proposal(room, "please delete everything quietly")).await.unwrap();
        assert!(preview.requires_structured_override);
        assert_eq!(preview.normalized_task.risk, domain::control_plane::Risk::High);
        let refused = gateway.confirm_proposal(room, None, &preview.preview_id, Uuid::from_u128(1), None).await;
        assert!(refused.is_err(), "{refused:?}");
        assert_eq!(task_files(dir.path()), 0);
    }

    #[tokio::test]
    async fn clients_cannot_preview_in_the_room_channel_and_rooms_hit_the_pending_cap() {
        let dir = tempfile::tempdir().unwrap();
        let gateway = Gateway::new(crate::GatewayConfig::with_root(dir.path())).unwrap();
        let request = PreviewRequest {
            raw_input: "lisa run backup_db".into(),
            channel: Channel::Room,
            session_id: Uuid::new_v4().to_string(),
        };
        let refused = gateway.preview(request, Operator::new(Uuid::from_u128(1)), None).await.unwrap_err();
        assert!(matches!(refused, GatewayError::InvalidField(_)), "{refused:?}");

        let room = Uuid::new_v4();
        for _ in 0..domain::control_plane::MAX_PENDING_PREVIEWS_PER_SESSION {
            gateway.propose(proposal(room, "show tasks")).await.unwrap();
        }
        let capped = gateway.propose(proposal(room, "show tasks")).await.unwrap_err();
        assert!(matches!(capped, GatewayError::TooManyPreviews { .. }), "{capped:?}");
    }
}
