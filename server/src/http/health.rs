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

/// The process can do useful work: the database answers within two seconds.
#[utoipa::path(get, path = "/readyz", tag = "operations", security(()),
    responses(
        (status = 200, description = "`{\"status\": \"ready\", \"database\": \"sqlite\"|\"postgres\"}`", body = Object),
        error_response::Refusals,
    ))]
async fn readyz(State(services): State<Services>) -> Result<Json<Value>, ApiError> {
    match tokio::time::timeout(Duration::from_secs(2), services.store.ping()).await {
        Ok(Ok(())) => Ok(Json(json!({ "status": "ready", "database": services.store.backend().as_str() }))),
        Ok(Err(error)) => {
            tracing::warn!(error = %error, "readiness check failed");
            Err(ServiceError::from(error).into())
        }
        Err(_) => {
            tracing::warn!("readiness check timed out");
            Err(ServiceError::Unavailable("the database did not answer within 2 s".to_owned()).into())
        }
    }
}
