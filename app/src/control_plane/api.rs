//! Server functions of the governance panel. They call the same gateway operations as
//! `/api/v1/chat/*`, so every rule, limit and telemetry line applies to them too.

use domain::control_plane::{
    Channel, ConfirmResponse, PreviewResponse, SessionTasksResponse, StructuredOverride, WatchResponse,
};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::error::AppError;

#[cfg(feature = "ssr")]
mod ssr {
    use std::net::IpAddr;
    use std::sync::Arc;

    use crate::error::AppError;

    /// The gateway, for operators and admins only: the same rule the REST routes apply.
    pub async fn gateway() -> Result<Arc<gateway::Gateway>, AppError> {
        let actor = crate::caller::actor().await;
        actor.require_role(domain::accounts::Role::may_operate, "operators and admins")?;
        Ok(leptos::prelude::expect_context::<Arc<gateway::Gateway>>())
    }

    /// The caller's address, for the per-address rate limit.
    pub async fn client() -> Option<IpAddr> {
        leptos_axum::extract::<axum::extract::ConnectInfo<std::net::SocketAddr>>().await.ok().map(|info| info.0.ip())
    }
}

/// Whether the caller may use the panel: the same rule every operation of the gateway applies.
#[server(prefix = "/api/fn", endpoint = "control-plane/access")]
pub async fn panel_access() -> Result<(), AppError> {
    ssr::gateway().await.map(|_| ())
}

#[server(prefix = "/api/fn", endpoint = "control-plane/preview", input = Json)]
pub async fn preview_command(
    raw_input: String,
    channel: Channel,
    session_id: String,
) -> Result<PreviewResponse, AppError> {
    let request = domain::control_plane::PreviewRequest { raw_input, channel, session_id };
    ssr::gateway().await?.preview(request, ssr::client().await).await.map_err(AppError::from)
}

#[server(prefix = "/api/fn", endpoint = "control-plane/confirm", input = Json)]
pub async fn confirm_preview(
    preview_id: String,
    session_id: String,
    structured_override: Option<StructuredOverride>,
) -> Result<ConfirmResponse, AppError> {
    let request = domain::control_plane::ConfirmRequest { preview_id, session_id, structured_override };
    ssr::gateway().await?.confirm(request, ssr::client().await).await.map_err(AppError::from)
}

#[server(prefix = "/api/fn", endpoint = "control-plane/watch", input = Json)]
pub async fn watch_task(task_id: String, session_id: String) -> Result<WatchResponse, AppError> {
    ssr::gateway().await?.watch(&task_id, &session_id, ssr::client().await).await.map_err(AppError::from)
}

#[server(prefix = "/api/fn", endpoint = "control-plane/tasks", input = Json)]
pub async fn session_tasks(session_id: String) -> Result<SessionTasksResponse, AppError> {
    ssr::gateway().await?.session_tasks(&session_id, ssr::client().await).await.map_err(AppError::from)
}
