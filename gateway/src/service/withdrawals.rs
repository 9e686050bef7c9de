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

#[cfg(test)]
mod tests {
    use domain::control_plane::{Channel, ConfirmRequest, PreviewRequest};
    use uuid::Uuid;

    use crate::error::GatewayError;
    use crate::operator::Operator;
    use crate::Gateway;

    #[tokio::test]
    async fn a_cancelled_preview_is_gone_only_for_its_owner_and_logged_as_a_reject() {
        let dir = tempfile::tempdir().unwrap();
        let gateway = Gateway::new(crate::GatewayConfig::with_root(dir.path())).unwrap();
        let (alice, bob) = (Operator::new(Uuid::from_u128(1)), Operator::new(Uuid::from_u128(2)));
        let session = Uuid::new_v4().to_string();
        let request = PreviewRequest {
            raw_input: "lisa run backup_db".into(),
            channel: Channel::Telegram,
            session_id: session.clone(),
        };
        let preview = gateway.preview(request, alice, None).await.unwrap();

        // Another person cannot cancel it, even with the session's id; it stays confirmable.
        assert!(gateway.cancel(&preview.preview_id, &session, bob, None).await.is_err());
        gateway.cancel(&preview.preview_id, &session, alice, None).await.unwrap();
        let again = gateway.cancel(&preview.preview_id, &session, alice, None).await.unwrap_err();
        assert_eq!(again, GatewayError::PreviewExpired);
        let confirm =
            ConfirmRequest { preview_id: preview.preview_id.clone(), session_id: session, structured_override: None };
        assert_eq!(gateway.confirm(confirm, alice, None).await.unwrap_err(), GatewayError::PreviewExpired);

        let log = std::fs::read_to_string(gateway.telemetry_path()).unwrap();
        let reject =
            log.lines().find(|line| line.contains("\"event\":\"reject\"") && line.contains("\"outcome\":\"ok\""));
        let reject = reject.expect("a reject line");
        assert!(reject.contains("\"channel\":\"telegram\""), "{reject}");
        assert!(reject.contains("\"normalized_intent\":\"task_execution\""), "{reject}");
    }
}
