//! Liveness and readiness.

use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use services::{ServiceError, Services};

use crate::http::ApiError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz))
}

/// The process is up and serving.
async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The process can do useful work: the database answers within two seconds.
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
