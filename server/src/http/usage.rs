//! The usage report over HTTP: tokens and cost per day, agent, model or room, as JSON rows or
//! as CSV.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use domain::usage::UsageTotal;
use error_response::Refusals;
use serde::Deserialize;
use services::usage::{self, UsageQuery};
use services::Services;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::http::extract::ApiQuery;
use crate::http::ApiError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(usage_report))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct UsageParams {
    /// `day` (when absent), `agent`, `model` or `room`.
    #[serde(default)]
    group_by: Option<String>,
    /// A day (`YYYY-MM-DD`, UTC, from its start) or an RFC 3339 time; 30 days before `to` when
    /// absent.
    #[serde(default)]
    from: Option<String>,
    /// A day (`YYYY-MM-DD`, UTC, to its end) or an RFC 3339 time (exclusive); the end of today
    /// when absent.
    #[serde(default)]
    to: Option<String>,
    /// `json` (when absent) or `csv`.
    #[serde(default)]
    format: Option<String>,
}

/// Tokens and cost summed per day, agent, model or room over the rooms the caller takes part in
/// (every room for admins), the most expensive first (by day: oldest first).
#[utoipa::path(get, path = "/api/usage", tag = "usage", params(UsageParams),
    responses((status = 200, description = "The rows.", content(
        (Vec<UsageTotal> = "application/json"),
        (String = "text/csv")
    )), Refusals))]
async fn usage_report(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiQuery(params): ApiQuery<UsageParams>,
) -> Result<Response, ApiError> {
    let csv = match params.format.as_deref().map(str::trim) {
        None | Some("") | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(services::ServiceError::invalid("format", "format must be json or csv.").into()),
    };
    let query = UsageQuery { group_by: params.group_by, from: params.from, to: params.to };
    let report = usage::usage_report(&services, &actor, &query).await?;
    if !csv {
        return Ok(Json(report.rows).into_response());
    }
    let file_name = format!(
        "usage-by-{}-{}-{}.csv",
        report.group_by.as_str(),
        report.from.format("%Y%m%d"),
        report.to.format("%Y%m%d")
    );
    let headers = [
        (http::header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
        (http::header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file_name}\"")),
    ];
    Ok((headers, usage::to_csv(&report)).into_response())
}
