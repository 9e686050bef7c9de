//! Changing messages over HTTP: a reply regenerated or retried, one of its versions chosen, a
//! message edited or removed. The service layer decides who may and announces each change.

use axum::extract::State;
use axum::Json;
use domain::rooms::{EditMessage, Message};
use error_response::Refusals;
use services::{message_changes, Services};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Caller;
use crate::http::extract::{ApiJson, ApiPath};
use crate::http::ApiError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(edit_message, delete_message))
        .routes(routes!(regenerate_message))
        .routes(routes!(retry_message))
        .routes(routes!(select_alternative))
}

const TAG: &str = "rooms";

type ApiResult<T> = Result<T, ApiError>;

/// The agent writes its reply again from the same context; the version shown until now is kept
/// as an alternative. The answer is the new version as it starts (empty, `streaming`); its text
/// follows on the room's stream like any reply's.
#[utoipa::path(post, path = "/api/rooms/{room_id}/messages/{message_id}/regenerate", tag = TAG,
    params(("room_id" = Uuid, Path, description = "The room."), ("message_id" = Uuid, Path, description = "An agent's reply.")),
    responses((status = 200, description = "The new version, starting.", body = Message), Refusals))]
async fn regenerate_message(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath((room_id, message_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<Message>> {
    Ok(Json(message_changes::regenerate(&services, &actor, room_id, message_id).await?))
}

/// Writes a failed, stopped or cut-off reply again in its place.
#[utoipa::path(post, path = "/api/rooms/{room_id}/messages/{message_id}/retry", tag = TAG,
    params(("room_id" = Uuid, Path, description = "The room."), ("message_id" = Uuid, Path, description = "A failed reply.")),
    responses((status = 200, description = "The reply, starting again.", body = Message), Refusals))]
async fn retry_message(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath((room_id, message_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<Message>> {
    Ok(Json(message_changes::retry(&services, &actor, room_id, message_id).await?))
}

/// Shows the reply's version at `index` (from 0).
#[utoipa::path(post, path = "/api/rooms/{room_id}/messages/{message_id}/alternatives/{index}/select", tag = TAG,
    params(
        ("room_id" = Uuid, Path, description = "The room."),
        ("message_id" = Uuid, Path, description = "An agent's reply."),
        ("index" = i64, Path, description = "Which version, from 0 to `alternatives - 1`."),
    ),
    responses((status = 200, description = "The message showing that version.", body = Message), Refusals))]
async fn select_alternative(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath((room_id, message_id, index)): ApiPath<(Uuid, Uuid, i64)>,
) -> ApiResult<Json<Message>> {
    Ok(Json(message_changes::select_alternative(&services, &actor, room_id, message_id, index).await?))
}

/// Changes the text of the caller's own message; it is marked edited.
#[utoipa::path(patch, path = "/api/rooms/{room_id}/messages/{message_id}", tag = TAG,
    params(("room_id" = Uuid, Path, description = "The room."), ("message_id" = Uuid, Path, description = "The caller's message.")),
    request_body = EditMessage,
    responses((status = 200, description = "The edited message.", body = Message), Refusals))]
async fn edit_message(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath((room_id, message_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(input): ApiJson<EditMessage>,
) -> ApiResult<Json<Message>> {
    Ok(Json(message_changes::edit(&services, &actor, room_id, message_id, input).await?))
}

/// Removes a message: its text is gone, it stays in place marked removed.
#[utoipa::path(delete, path = "/api/rooms/{room_id}/messages/{message_id}", tag = TAG,
    params(("room_id" = Uuid, Path, description = "The room."), ("message_id" = Uuid, Path, description = "The message.")),
    responses((status = 200, description = "The message as it now shows.", body = Message), Refusals))]
async fn delete_message(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath((room_id, message_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<Message>> {
    Ok(Json(message_changes::delete(&services, &actor, room_id, message_id).await?))
}
