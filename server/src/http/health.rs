//! Liveness and readiness.

use std::time::Duration;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};
use services::{ServiceError, Services};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::ApiError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(healthz)).routes(routes!(readyz))
}

/// The process is up and serving.
#[utoipa::path(get, path = "/healthz", tag = "operations", security(()),
    responses((status = 200, description = "`{\"status\": \"ok\"}`", body = Object)))]
async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The process can do useful work: the database answers within two seconds, and so does Redis
/// when live events go through it.
#[utoipa::path(get, path = "/readyz", tag = "operations", security(()),
    responses(
        (status = 200, description = "`{\"status\": \"ready\", \"database\": \"sqlite\"|\"postgres\", \"redis\": \"ready\"|\"not used\"}`", body = Object),
        error_response::Refusals,
    ))]
async fn readyz(State(services): State<Services>) -> Result<Json<Value>, ApiError> {
    match tokio::time::timeout(READY_WITHIN, services.store.ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::warn!(error = %error, "readiness check failed");
            return Err(ServiceError::from(error).into());
        }
        Err(_) => {
            tracing::warn!("readiness check timed out");
            return Err(ServiceError::Unavailable("the database did not answer within 2 s".to_owned()).into());
        }
    }
    let redis = match tokio::time::timeout(READY_WITHIN, services.events.ping_shared()).await {
        Ok(None) => "not used",
        Ok(Some(Ok(()))) => "ready",
        Ok(Some(Err(error))) => {
            tracing::warn!(error = %error, "readiness check: Redis failed");
            return Err(ServiceError::Unavailable("Redis does not answer".to_owned()).into());
        }
        Err(_) => {
            tracing::warn!("readiness check: Redis timed out");
            return Err(ServiceError::Unavailable("Redis did not answer within 2 s".to_owned()).into());
        }
    };
    Ok(Json(json!({ "status": "ready", "database": services.store.backend().as_str(), "redis": redis })))
}

const READY_WITHIN: Duration = Duration::from_secs(2);
