//! The heads of hash-chained telemetry logs, kept in the database, outside the logs: a log cut
//! short or with its end rewritten still has a sound chain, but no longer reaches its anchor.

use domain::accounts::Role;
use domain::control_plane::TelemetryAnchor;

use crate::access::Actor;
use crate::{ServiceError, ServiceResult, Services};

/// The anchor of the gateway log `log` (`gateway`, or this instance's `gateway-<instance>`), for
/// admins, who audit it.
pub async fn gateway_anchor(services: &Services, actor: &Actor, log: &str) -> ServiceResult<TelemetryAnchor> {
    actor.require_role(Role::may_manage_people, "admins")?;
    let (seq, hash) = kept(services, log).await?.ok_or(ServiceError::NotFound("telemetry anchor"))?;
    Ok(TelemetryAnchor { log: log.to_owned(), seq, hash })
}

/// The head last kept for `log`.
pub async fn kept(services: &Services, log: &str) -> ServiceResult<Option<(i64, String)>> {
    Ok(services.store.telemetry_anchor(log).await?)
}

/// Keeps `log`'s head.
pub async fn keep(services: &Services, log: &str, seq: u64, hash: &str) -> ServiceResult<()> {
    let seq = i64::try_from(seq).map_err(|_| ServiceError::Internal("a telemetry seq past i64".into()))?;
    Ok(services.store.keep_telemetry_anchor(log, seq, hash).await?)
}
