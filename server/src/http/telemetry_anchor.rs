//! The head of the control plane's telemetry log as kept in the database, for admins checking a
//! copy of the log (`chatctl verify-telemetry --anchor`).

use axum::extract::State;
use axum::Json;
use domain::control_plane::TelemetryAnchor;
use serde::Deserialize;
use services::telemetry_anchors;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::http::extract::ApiQuery;
use crate::http::ApiError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(gateway_anchor))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AnchorQuery {
    /// The log: `gateway`, or `gateway-<instance>` with several instances; by default the log of
    /// the instance that answers.
    #[serde(default)]
    log: Option<String>,
}

/// The newest line of the control plane's telemetry as kept in the database (admins only).
#[utoipa::path(get, path = "/api/v1/chat/telemetry/anchor", tag = gateway::TAG, params(AnchorQuery),
    responses((status = 200, description = "The anchor: `log`, `seq` and `hash`.", body = TelemetryAnchor), error_response::Refusals))]
async fn gateway_anchor(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiQuery(query): ApiQuery<AnchorQuery>,
) -> Result<Json<TelemetryAnchor>, ApiError> {
    let log = query.log.unwrap_or_else(|| state.gateway.log_name().to_owned());
    Ok(Json(telemetry_anchors::gateway_anchor(&state.services, &actor, &log).await?))
}
