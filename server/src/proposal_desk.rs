//! The gateway as the service layer's [`ProposalDesk`]: agents' proposals are previewed,
//! confirmed and rejected by the same gateway, rules, limits and telemetry as the panel's.

use std::net::IpAddr;
use std::sync::Arc;

use domain::control_plane::{ConfirmResponse, PreviewResponse};
use domain::proposals::Proposal;
use domain::{ErrorCode, PublicError};
use futures::future::BoxFuture;
use futures::FutureExt;
use gateway::{Gateway, GatewayError, RoomProposal};
use services::proposals::{DeskError, ProposalDesk, TaskReport};
use uuid::Uuid;

pub struct GatewayDesk {
    gateway: Arc<Gateway>,
}

impl GatewayDesk {
    pub fn new(gateway: Arc<Gateway>) -> Self {
        Self { gateway }
    }
}

/// The gateway's refusal in its own code and words; a fault is logged here and told as `INTERNAL`.
fn desk_error(error: GatewayError) -> DeskError {
    if error.is_server_fault() && error.code() == ErrorCode::Internal {
        tracing::error!(%error, "the gateway failed on an agent's proposal");
    }
    DeskError { code: error.code(), message: error.public_message(), retry_after: error.retry_after() }
}

impl ProposalDesk for GatewayDesk {
    fn propose(
        &self,
        room_id: Uuid,
        agent_id: Uuid,
        command: String,
    ) -> BoxFuture<'_, Result<PreviewResponse, DeskError>> {
        async move { self.gateway.propose(RoomProposal { room_id, agent_id, command }).await.map_err(desk_error) }
            .boxed()
    }

    fn confirm<'a>(
        &'a self,
        proposal: &'a Proposal,
        person: Uuid,
        client: Option<IpAddr>,
    ) -> BoxFuture<'a, Result<ConfirmResponse, DeskError>> {
        async move {
            let preview_id = proposal.preview_id.as_deref().unwrap_or_default();
            self.gateway
                .confirm_proposal(proposal.room_id, proposal.agent_id, preview_id, person, client)
                .await
                .map_err(desk_error)
        }
        .boxed()
    }

    fn reject<'a>(
        &'a self,
        proposal: &'a Proposal,
        person: Uuid,
        client: Option<IpAddr>,
    ) -> BoxFuture<'a, Result<(), DeskError>> {
        async move {
            let preview_id = proposal.preview_id.as_deref().unwrap_or_default();
            self.gateway
                .reject_proposal(proposal.room_id, proposal.agent_id, preview_id, person, client)
                .await
                .map_err(desk_error)
        }
        .boxed()
    }

    fn task_reports(&self, task_ids: Vec<String>) -> BoxFuture<'_, Vec<Option<TaskReport>>> {
        async move {
            let progress = self.gateway.task_progress(task_ids).await;
            let report = |p: gateway::TaskProgress| TaskReport { state: p.state, result_summary: p.result_summary };
            progress.into_iter().map(|progress| progress.map(report)).collect()
        }
        .boxed()
    }
}
