//! Start-up after an abrupt stop: what a killed process left half-done is closed, with nothing
//! that was stored lost.

use domain::runs::{RunStatus, StopReason};

use crate::{ServiceResult, Services};

/// What start-up found left over by a process that stopped abruptly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Agent messages that were streaming, now `interrupted` with their text kept.
    pub interrupted_messages: u64,
    /// Runs that were marked running, now stopped with `server_restart`.
    pub closed_runs: usize,
}

/// Brings the stored state in line after a crash: messages left streaming keep their text and
/// become `interrupted`; runs left running end with `server_restart`. Called once, at start-up,
/// before anything is served. With several instances nothing is closed here: what is streaming
/// or running may belong to a live instance, and what a dead one left is taken over once its
/// lease expires (see [`crate::ownership`]).
pub async fn recover(services: &Services) -> ServiceResult<Recovered> {
    if services.ownership.is_some() {
        return Ok(Recovered::default());
    }
    let interrupted_messages = services.store.interrupt_streaming_messages().await?;
    if interrupted_messages > 0 {
        tracing::warn!(interrupted_messages, "messages left streaming by an earlier run were marked interrupted");
    }
    let closed = services.store.close_running_runs(RunStatus::Stopped, StopReason::ServerRestart).await?;
    for run in &closed {
        tracing::warn!(run_id = %run.id, room_id = %run.room_id, "a run left running by an earlier server was closed");
    }
    Ok(Recovered { interrupted_messages, closed_runs: closed.len() })
}
