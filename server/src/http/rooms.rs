//! The rooms REST API: rooms, agents, messages and auto-mode runs. Each handler only translates
//! HTTP to a call of the service layer, which the server functions call too.

use axum::extract::State;
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use domain::accounts::{AddMember, Member, UpdateMember};
use domain::rooms::{
    Agent, CreateAgent, CreateRoom, MessagePage, PostMessage, PostedMessage, Room, RoomSummary, UpdateAgent, UpdateRoom,
};
use domain::runs::{Run, RunStarted, RunStopped, StartRun};
use http::StatusCode;
use serde::Deserialize;
use services::{members, rooms, runs, Services};
use uuid::Uuid;

use crate::auth::Caller;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::ApiError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/rooms", get(list_rooms).post(create_room))
        .route("/api/rooms/{room_id}", get(get_room).patch(update_room).delete(delete_room))
        .route("/api/rooms/{room_id}/members", get(list_members).post(add_member))
        .route("/api/rooms/{room_id}/members/{user_id}", patch(update_member).delete(remove_member))
        .route("/api/rooms/{room_id}/agents", get(list_agents).post(create_agent))
        .route("/api/rooms/{room_id}/agents/{agent_id}", patch(update_agent))
        .route("/api/rooms/{room_id}/messages", get(list_messages).post(post_message))
        .route("/api/rooms/{room_id}/stream", get(super::stream::room_stream))
        .route("/api/rooms/{room_id}/auto/start", post(start_run))
        .route("/api/rooms/{room_id}/auto/stop", post(stop_run))
        .route("/api/rooms/{room_id}/runs", get(list_runs))
        .route("/api/rooms/{room_id}/runs/{run_id}", get(get_run))
}

type ApiResult<T> = Result<T, ApiError>;

async fn list_rooms(State(services): State<Services>, Caller(actor): Caller) -> ApiResult<Json<Vec<RoomSummary>>> {
    Ok(Json(rooms::list_rooms(&services, &actor).await?))
}

async fn create_room(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<CreateRoom>,
) -> ApiResult<(StatusCode, Json<RoomSummary>)> {
    Ok((StatusCode::CREATED, Json(rooms::create_room(&services, &actor, input).await?)))
}

async fn get_room(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath(room_id): ApiPath<Uuid>,
) -> ApiResult<Json<Room>> {
    Ok(Json(rooms::get_room(&services, &actor, room_id).await?))
}

async fn list_agents(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath(room_id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<Agent>>> {
    Ok(Json(rooms::list_agents(&services, &actor, room_id).await?))
}

async fn create_agent(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath(room_id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<CreateAgent>,
) -> ApiResult<(StatusCode, Json<Agent>)> {
    Ok((StatusCode::CREATED, Json(rooms::create_agent(&services, &actor, room_id, input).await?)))
}

async fn update_agent(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath((room_id, agent_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(input): ApiJson<UpdateAgent>,
) -> ApiResult<Json<Agent>> {
    Ok(Json(rooms::update_agent(&services, &actor, room_id, agent_id, input).await?))
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    /// Empty means "the newest page", so a client may send `?cursor=` for the first page.
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
}

async fn list_messages(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath(room_id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<MessagePage>> {
    let cursor = match query.cursor.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        None => None,
        Some(text) => Some(Uuid::parse_str(text).map_err(|_| {
            services::ServiceError::invalid("cursor", "cursor must be a next_cursor value from an earlier page.")
        })?),
    };
    Ok(Json(rooms::list_messages(&services, &actor, room_id, cursor, query.limit).await?))
}

async fn post_message(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath(room_id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<PostMessage>,
) -> ApiResult<(StatusCode, Json<PostedMessage>)> {
    let message = rooms::post_message(&services, &actor, room_id, input).await?;
    Ok((StatusCode::CREATED, Json(PostedMessage { message })))
}

async fn start_run(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath(room_id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<StartRun>,
) -> ApiResult<(StatusCode, Json<RunStarted>)> {
    Ok((StatusCode::CREATED, Json(runs::start(&services, &actor, room_id, input).await?)))
}

async fn stop_run(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath(room_id): ApiPath<Uuid>,
) -> ApiResult<Json<RunStopped>> {
    Ok(Json(runs::stop(&services, &actor, room_id).await?))
}

async fn list_runs(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath(room_id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<Run>>> {
    Ok(Json(runs::list_runs(&services, &actor, room_id).await?))
}

async fn get_run(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath((room_id, run_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<Run>> {
    Ok(Json(runs::get_run(&services, &actor, room_id, run_id).await?))
}

async fn update_room(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath(room_id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<UpdateRoom>,
) -> ApiResult<Json<RoomSummary>> {
    Ok(Json(rooms::update_room(&services, &actor, room_id, input).await?.into()))
}

async fn delete_room(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath(room_id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    rooms::delete_room(&services, &actor, room_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_members(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath(room_id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<Member>>> {
    Ok(Json(members::list_members(&services, &actor, room_id).await?))
}

async fn add_member(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath(room_id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<AddMember>,
) -> ApiResult<(StatusCode, Json<Member>)> {
    Ok((StatusCode::CREATED, Json(members::add_member(&services, &actor, room_id, input).await?)))
}

async fn update_member(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath((room_id, user_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(input): ApiJson<UpdateMember>,
) -> ApiResult<Json<Member>> {
    Ok(Json(members::update_member(&services, &actor, room_id, user_id, input).await?))
}

async fn remove_member(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath((room_id, user_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    members::remove_member(&services, &actor, room_id, user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
