//! The control plane's HTTP surface: thin handlers over [`Gateway`]'s operations.
//!
//! - `POST /api/v1/chat/preview` → [`PreviewResponse`](domain::control_plane::PreviewResponse)
//! - `POST /api/v1/chat/confirm` → [`ConfirmResponse`](domain::control_plane::ConfirmResponse)
//! - `GET /api/v1/chat/watch/{task_id}?session_id=` → [`WatchResponse`](domain::control_plane::WatchResponse)
//! - `GET /api/v1/chat/tasks?session_id=` → [`SessionTasksResponse`](domain::control_plane::SessionTasksResponse)
//!
//! Both GETs also take the session in an `X-Session-Id` header instead of the query (the header
//! wins): a session id is its person's bearer secret, and addresses end up in access logs.
//!
//! Errors answer `{"error": {"code", "message"}}` with the code's status, and `Retry-After` when
//! waiting helps. A body that is not JSON, or larger than [`MAX_BODY_BYTES`], is logged to
//! telemetry like any refused request. A request without an [`Operator`] in its extensions is
//! refused with `UNAUTHENTICATED` before anything is read or logged: whatever serves these routes
//! signs people in and puts the authorized person there.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::connect_info::MockConnectInfo;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRef, FromRequestParts, Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use domain::control_plane::{
    ConfirmRequest, ConfirmResponse, PreviewRequest, PreviewResponse, SessionEnded, SessionTasksResponse, WatchResponse,
};
use error_response::{ErrorReply, Refusals};
use http::request::Parts;
use http::StatusCode;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{GatewayError, GatewayResult};
use crate::operator::Operator;
use crate::service::Gateway;
use crate::telemetry::TelemetryEvent;

/// The header that carries the session of a watch or a task list instead of the query.
pub const SESSION_HEADER: &str = "x-session-id";

/// The query of a watch or a task list; the session may come in [`SESSION_HEADER`] instead.
#[derive(Debug, serde::Deserialize)]
pub struct SessionParam {
    pub session_id: Option<String>,
}

/// The session a GET names: its `X-Session-Id` header, else its `session_id` query parameter.
fn session_of(headers: &http::HeaderMap, query: Result<Query<SessionParam>, QueryRejection>) -> GatewayResult<String> {
    if let Some(value) = headers.get(SESSION_HEADER) {
        return value.to_str().map(str::to_owned).map_err(|_| GatewayError::InvalidSessionId);
    }
    match query {
        Ok(Query(SessionParam { session_id: Some(session_id) })) => Ok(session_id),
        Ok(_) => Err(GatewayError::InvalidField(
            "session_id is missing: send it in the X-Session-Id header or the session_id query parameter.".to_owned(),
        )),
        Err(rejection) => Err(from_query_rejection(&rejection)),
    }
}

/// The largest request body the routes read, the same as the server's limit; larger ones are
/// refused with `PAYLOAD_TOO_LARGE` wherever the router is served.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The control plane's routes, for any state that can hand out the shared [`Gateway`].
pub fn router<S>() -> Router<S>
where
    Arc<Gateway>: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    documented_router().into()
}

/// [`router`] with each route's OpenAPI description, for a server that publishes its contract.
pub fn documented_router<S>() -> OpenApiRouter<S>
where
    Arc<Gateway>: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    OpenApiRouter::new()
        .routes(routes!(preview))
        .routes(routes!(confirm))
        .routes(routes!(watch))
        .routes(routes!(session_tasks))
        .routes(routes!(end_session))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// The OpenAPI tag of the control plane's routes.
pub const TAG: &str = "control plane";

/// The client's IP address. A server that resolves it itself (behind proxies it trusts) leaves
/// it in the request's extensions as a `ClientAddr`, which wins; otherwise it is the peer from
/// `ConnectInfo<SocketAddr>` (or axum's `MockConnectInfo` in tests). Forwarding headers are
/// never read here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if let Some(resolved) = parts.extensions.get::<ClientAddr>() {
            return Ok(*resolved);
        }
        let connected = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0);
        let mocked = || parts.extensions.get::<MockConnectInfo<SocketAddr>>().map(|info| info.0);
        Ok(ClientAddr(connected.or_else(mocked).map(|address| address.ip())))
    }
}

/// Turns a plain-language command into a task with its risk and lane, kept for the same session
/// to confirm. Writes no task.
#[utoipa::path(post, path = "/api/v1/chat/preview", tag = TAG, request_body = PreviewRequest,
    responses((status = 200, description = "The task as it would be written.", body = PreviewResponse), Refusals))]
async fn preview(
    State(gateway): State<Arc<Gateway>>,
    operator: Operator,
    ClientAddr(client): ClientAddr,
    body: Result<Json<PreviewRequest>, JsonRejection>,
) -> Response {
    let result = match body {
        Ok(Json(request)) => gateway.preview(request, operator, client).await,
        Err(rejection) => {
            Err(gateway.refuse(TelemetryEvent::Preview, operator, client, from_json_rejection(&rejection)).await)
        }
    };
    respond(result)
}

/// Writes the previewed task for the execution plane, once, for the session that previewed it.
#[utoipa::path(post, path = "/api/v1/chat/confirm", tag = TAG, request_body = ConfirmRequest,
    responses((status = 200, description = "The task file was written.", body = ConfirmResponse), Refusals))]
async fn confirm(
    State(gateway): State<Arc<Gateway>>,
    operator: Operator,
    ClientAddr(client): ClientAddr,
    body: Result<Json<ConfirmRequest>, JsonRejection>,
) -> Response {
    let result = match body {
        Ok(Json(request)) => gateway.confirm(request, operator, client).await,
        Err(rejection) => {
            Err(gateway.refuse(TelemetryEvent::Confirm, operator, client, from_json_rejection(&rejection)).await)
        }
    };
    respond(result)
}

/// The state of a task the session confirmed.
#[utoipa::path(get, path = "/api/v1/chat/watch/{task_id}", tag = TAG,
    params(
        ("task_id" = String, Path, description = "The task's id, as confirm answered it."),
        ("session_id" = Option<String>, Query, description = "The session, a UUIDv4 the client made. Prefer the X-Session-Id header."),
        ("X-Session-Id" = Option<String>, Header, description = "The session, kept out of addresses and so out of access logs; wins over the query."),
    ),
    responses((status = 200, description = "The task's state.", body = WatchResponse), Refusals))]
async fn watch(
    State(gateway): State<Arc<Gateway>>,
    operator: Operator,
    ClientAddr(client): ClientAddr,
    Path(task_id): Path<String>,
    headers: http::HeaderMap,
    query: Result<Query<SessionParam>, QueryRejection>,
) -> Response {
    let result = match session_of(&headers, query) {
        Ok(session_id) => gateway.watch(&task_id, &session_id, operator, client).await,
        Err(refused) => Err(gateway.refuse(TelemetryEvent::Watch, operator, client, refused).await),
    };
    respond(result)
}

/// The tasks the session confirmed, newest first.
#[utoipa::path(get, path = "/api/v1/chat/tasks", tag = TAG, params(
        ("session_id" = Option<String>, Query, description = "The session, a UUIDv4 the client made. Prefer the X-Session-Id header."),
        ("X-Session-Id" = Option<String>, Header, description = "The session, kept out of addresses and so out of access logs; wins over the query."),
    ),
    responses((status = 200, description = "The session's tasks.", body = SessionTasksResponse), Refusals))]
async fn session_tasks(
    State(gateway): State<Arc<Gateway>>,
    operator: Operator,
    ClientAddr(client): ClientAddr,
    headers: http::HeaderMap,
    query: Result<Query<SessionParam>, QueryRejection>,
) -> Response {
    let result = match session_of(&headers, query) {
        Ok(session_id) => gateway.session_tasks(&session_id, operator, client).await,
        Err(refused) => Err(gateway.refuse(TelemetryEvent::Watch, operator, client, refused).await),
    };
    respond(result)
}

/// Ends the session and drops its unconfirmed previews; its tasks stay watchable.
#[utoipa::path(delete, path = "/api/v1/chat/session/{session_id}", tag = TAG,
    params(("session_id" = String, Path, description = "The session, a UUIDv4 the client made.")),
    responses((status = 200, description = "What ending it did.", body = SessionEnded), Refusals))]
async fn end_session(
    State(gateway): State<Arc<Gateway>>,
    operator: Operator,
    ClientAddr(client): ClientAddr,
    Path(session_id): Path<String>,
) -> Response {
    respond(gateway.end_session(&session_id, operator, client).await)
}

fn respond<T: Serialize>(result: GatewayResult<T>) -> Response {
    match result {
        Ok(body) => Json(body).into_response(),
        Err(error) => error.into_response(),
    }
}

/// A body the JSON extractor refused, as a gateway error whose text is safe to show.
pub fn from_json_rejection(rejection: &JsonRejection) -> GatewayError {
    match rejection {
        JsonRejection::JsonDataError(_) => GatewayError::InvalidField(rejection.body_text()),
        JsonRejection::JsonSyntaxError(_) => GatewayError::MalformedJson(rejection.body_text()),
        JsonRejection::MissingJsonContentType(_) => GatewayError::UnsupportedMediaType,
        _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => GatewayError::PayloadTooLarge,
        _ => GatewayError::MalformedJson("The request body could not be read as JSON.".to_owned()),
    }
}

/// A query string the extractor refused (a missing `session_id`).
pub fn from_query_rejection(rejection: &QueryRejection) -> GatewayError {
    GatewayError::InvalidField(rejection.body_text())
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        ErrorReply::new(&self).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn client_of(request: http::Request<()>) -> Option<IpAddr> {
        let (mut parts, ()) = request.into_parts();
        let Ok(ClientAddr(client)) = ClientAddr::from_request_parts(&mut parts, &()).await;
        client
    }

    fn peer(address: &str) -> ConnectInfo<SocketAddr> {
        ConnectInfo(SocketAddr::new(address.parse().unwrap(), 40_000))
    }

    #[tokio::test]
    async fn the_address_the_server_resolved_wins_over_the_peer() {
        let mut request = http::Request::new(());
        request.extensions_mut().insert(peer("10.0.0.2"));
        request.headers_mut().insert("x-forwarded-for", "198.51.100.1".parse().unwrap());
        assert_eq!(client_of(request).await, Some("10.0.0.2".parse().unwrap()), "headers are never read here");

        let mut request = http::Request::new(());
        request.extensions_mut().insert(peer("10.0.0.2"));
        request.extensions_mut().insert(ClientAddr(Some("203.0.113.4".parse().unwrap())));
        assert_eq!(client_of(request).await, Some("203.0.113.4".parse().unwrap()));

        let mut request = http::Request::new(());
        request.extensions_mut().insert(MockConnectInfo(SocketAddr::new("192.0.2.9".parse().unwrap(), 1)));
        assert_eq!(client_of(request).await, Some("192.0.2.9".parse().unwrap()));
        assert_eq!(client_of(http::Request::new(())).await, None);
    }
}
