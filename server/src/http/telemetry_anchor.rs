//! The head of the control plane's telemetry log as kept in the database, for admins checking a
//! copy of the log (`chatctl verify-telemetry --anchor`).

use axum::extract::State;
use axum::Json;
use domain::control_plane::TelemetryAnchor;
use services::{telemetry_anchors, Services};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::http::ApiError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(gateway_anchor))
}

/// The newest line of the control plane's telemetry as kept in the database (admins only).
#[utoipa::path(get, path = "/api/v1/chat/telemetry/anchor", tag = gateway::TAG,
    responses((status = 200, description = "The anchor: `seq` and `hash`.", body = TelemetryAnchor), error_response::Refusals))]

async fn gateway_anchor(
    State(services): State<Services>,
    Caller(actor): Caller,
) -> Result<Json<TelemetryAnchor>, ApiError> {
    Ok(Json(telemetry_anchors::gateway_anchor(&services, &actor).await?))
}
