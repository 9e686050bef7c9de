//! The head of the control plane's telemetry log as kept in the database, for admins checking a
//! copy of the log (`chatctl verify-telemetry --anchor`).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use domain::control_plane::TelemetryAnchor;
use services::{telemetry_anchors, Services};

use crate::auth::Caller;
use crate::http::ApiError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/chat/telemetry/anchor", get(gateway_anchor))
}

async fn gateway_anchor(
    State(services): State<Services>,
    Caller(actor): Caller,
) -> Result<Json<TelemetryAnchor>, ApiError> {
    Ok(Json(telemetry_anchors::gateway_anchor(&services, &actor).await?))
}
