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

    /// The gateway and the person calling it, for operators and admins only: the same rule the
    /// REST routes apply.
    pub async fn gateway() -> Result<(Arc<gateway::Gateway>, gateway::Operator), AppError> {
        let actor = crate::caller::actor().await;
        let person = actor.require_role(domain::accounts::Role::may_operate, "operators and admins")?;
        let operator = gateway::Operator::new(person.id);
        Ok((leptos::prelude::expect_context::<Arc<gateway::Gateway>>(), operator))
    }

    /// The caller's address as the server resolved it (trusting only `TRUSTED_PROXIES`), the
    /// same one the REST routes see, for the per-address rate limit.
    pub async fn client() -> Option<IpAddr> {
        leptos_axum::extract::<gateway::ClientAddr>().await.ok().and_then(|gateway::ClientAddr(address)| address)
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
    let (gateway, operator) = ssr::gateway().await?;
    gateway.preview(request, operator, ssr::client().await).await.map_err(AppError::from)
}

#[server(prefix = "/api/fn", endpoint = "control-plane/confirm", input = Json)]
pub async fn confirm_preview(
    preview_id: String,
    session_id: String,
    structured_override: Option<StructuredOverride>,
) -> Result<ConfirmResponse, AppError> {
    let request = domain::control_plane::ConfirmRequest { preview_id, session_id, structured_override };
    let (gateway, operator) = ssr::gateway().await?;
    gateway.confirm(request, operator, ssr::client().await).await.map_err(AppError::from)
}

#[server(prefix = "/api/fn", endpoint = "control-plane/watch", input = Json)]
pub async fn watch_task(task_id: String, session_id: String) -> Result<WatchResponse, AppError> {
    let (gateway, operator) = ssr::gateway().await?;
    gateway.watch(&task_id, &session_id, operator, ssr::client().await).await.map_err(AppError::from)
}

#[server(prefix = "/api/fn", endpoint = "control-plane/tasks", input = Json)]
pub async fn session_tasks(session_id: String) -> Result<SessionTasksResponse, AppError> {
    let (gateway, operator) = ssr::gateway().await?;
    gateway.session_tasks(&session_id, operator, ssr::client().await).await.map_err(AppError::from)
}
