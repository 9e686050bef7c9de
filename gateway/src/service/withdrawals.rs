//! Withdrawing one preview that was never confirmed: a person's "Cancel" (the Telegram channel's
//! button), or a person turning down an agent's proposal for a room. Nothing is written; a later
//! confirm of it is told `PREVIEW_EXPIRED`. Logged as a `reject`.

use std::net::IpAddr;

use tracing::instrument;
use uuid::Uuid;

use super::{Gateway, Settle, Shared};
use crate::error::GatewayResult;
use crate::operator::Operator;
use crate::sessions::PreviewEntry;
use crate::telemetry::{Durability, TelemetryEvent, TelemetryRecord};

impl Gateway {
    /// Drops a preview of `session_id`'s, which must be `operator`'s, that waits for its confirm.
    #[instrument(skip_all, err(level = "info"))]
    pub async fn cancel(
        &self,
        preview_id: &str,
        session_id: &str,
        operator: Operator,
        client: Option<IpAddr>,
    ) -> GatewayResult<()> {
        let (preview_id, session_id) = (preview_id.to_owned(), session_id.to_owned());
        self.operate(TelemetryEvent::Reject, operator, client, Durability::Flushed, move |shared, record| {
            shared.withdraw(&preview_id, &session_id, operator.user_id, client, record)
        })
        .await
    }
}

impl Shared {
    /// Claims the preview for `owner`'s session and names it on the line; the claim is dropped
    /// once the line is written, or given back if it cannot be.
    pub(super) fn withdraw(
        &self,
        preview_id: &str,
        session_id: &str,
        owner: Uuid,
        client: Option<IpAddr>,
        record: &mut TelemetryRecord,
    ) -> GatewayResult<((), Withdrawn)> {
        let session_id = self.admit(client, session_id, record)?;
        record.preview_id = Some(super::clip(preview_id, 128));
        let entry = self.sessions.claim(preview_id, session_id, owner, self.clock.now())?;
        record.channel = Some(entry.channel);
        record.raw_input = Some(entry.raw_input.clone());
        record.normalized_intent = Some(entry.task.intent.clone());
        record.risk = Some(entry.task.risk);
        record.lane = Some(entry.task.lane);
        record.rule_id = Some(entry.rule_id.clone());
        Ok(((), Withdrawn(entry)))
    }
}

/// A preview claimed for withdrawal.
pub(super) struct Withdrawn(PreviewEntry);

impl Settle for Withdrawn {
    fn commit(self, shared: &Shared) {
        shared.sessions.withdraw(&self.0, shared.clock.now());
    }

    fn undo(self, shared: &Shared) {
        shared.sessions.release(self.0.preview_id);
    }
}
