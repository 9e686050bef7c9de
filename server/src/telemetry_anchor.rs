//! The control plane's telemetry chain is anchored in the database: its head (newest `seq` and
//! `hash`) is kept there as lines are written and checked against the log at start-up, so a log
//! cut short or with its end rewritten and re-hashed is found, though its chain alone is sound.

use std::sync::Arc;

use gateway::ChainHead;
use services::telemetry_anchors::{keep, kept};

use crate::startup::StartupError;
use crate::state::AppState;

/// Compares the log with the head kept for it and keeps the log's head now. A log that does not
/// reach the kept head stops start-up, unless `GATEWAY_TELEMETRY_REANCHOR` says to anchor it afresh.
pub async fn check(state: &AppState) -> Result<(), StartupError> {
    let services = &state.services;
    let stored = |error: services::ServiceError| StartupError::TelemetryAnchor(format!("the database: {error}"));
    if let Some((seq, hash)) = kept(services, state.gateway.log_name()).await.map_err(stored)? {
        let anchor = ChainHead { seq: u64::try_from(seq).unwrap_or(0), hash };
        let gateway = state.gateway.clone();
        let checked = tokio::task::spawn_blocking(move || gateway.check_telemetry_anchor(&anchor))
            .await
            .map_err(|error| StartupError::TelemetryAnchor(error.to_string()))?;
        match checked {
            Ok(()) => tracing::info!(seq, "the control plane's telemetry log reaches its anchor"),
            Err(broken) if state.config.gateway_telemetry_reanchor => {
                tracing::error!(%broken, "the control plane's telemetry log does not reach its anchor; anchoring it afresh");
            }
            Err(broken) => return Err(StartupError::TelemetryAnchor(broken.to_string())),
        }
    }
    let head = state.gateway.telemetry_head().borrow().clone();
    keep(services, state.gateway.log_name(), head.seq, &head.hash).await.map_err(stored)
}

/// Keeps the log's head in the database as lines are written: the newest head each time, so a
/// burst of lines costs one write, until shutdown, when [`keep_head`] has the last word once the
/// connections have drained. Also writes the counted refusals of each closed window.
pub fn spawn_keeper(state: &AppState) {
    let services = state.services.clone();
    let gateway = state.gateway.clone();
    let mut heads = state.gateway.telemetry_head();
    let shutdown = services.shutdown.clone();
    services.tasks.clone().spawn(async move {
        loop {
            tokio::select! {
                changed = heads.changed() => if changed.is_err() { break },
                _ = shutdown.cancelled() => break,
            }
            if let Err(error) = keep_head(&services, &gateway).await {
                tracing::warn!(%error, "could not keep the telemetry anchor");
            }
        }
    });
    let services = state.services.clone();
    let gateway = state.gateway.clone();
    let window = state.config.gateway.refusal_window;
    let shutdown = services.shutdown.clone();
    services.tasks.clone().spawn(async move {
        let mut tick = tokio::time::interval(window);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.cancelled() => break,
            }
            let flushing = Arc::clone(&gateway);
            match tokio::task::spawn_blocking(move || flushing.flush_refusals()).await {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => tracing::warn!(%error, "could not write the counted refusals"),
                Err(error) => tracing::warn!(%error, "the refusal writer stopped"),
            }
        }
    });
}

/// The key of the session hashes in the control plane's telemetry, made once and kept in the
/// database so that hashes agree across restarts and instances.
pub async fn kept_session_key(store: &storage::DynStore) -> Result<gateway::SessionKey, StartupError> {
    let fresh = gateway::SessionKey::random().to_hex();
    let kept = store
        .server_key("gateway_session_key", &fresh)
        .await
        .map_err(|error| StartupError::TelemetryAnchor(format!("the database: {error}")))?;
    gateway::SessionKey::from_hex(&kept)
        .ok_or_else(|| StartupError::TelemetryAnchor("the kept session key is not 32 bytes of hex".to_owned()))
}

/// Puts the log's lines on the disk, then keeps its head: the anchor never runs ahead of what a
/// crash of the machine would leave in the file.
pub async fn keep_head(services: &services::Services, gateway: &Arc<gateway::Gateway>) -> Result<(), String> {
    // The head is read before the sync, so the line it names is among those synced.
    let head = gateway.telemetry_head().borrow().clone();
    let synced = Arc::clone(gateway);
    tokio::task::spawn_blocking(move || synced.sync_telemetry())
        .await
        .map_err(|error| error.to_string())?
        .map_err(|error| format!("syncing the log: {error}"))?;
    keep(services, gateway.log_name(), head.seq, &head.hash).await.map_err(|error| error.to_string())
}
