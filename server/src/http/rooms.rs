//! The rooms REST API: rooms, agents, messages and auto-mode runs. Each handler only translates
//! HTTP to a call of the service layer, which the server functions call too.

use axum::extract::State;
use axum::Json;
use domain::accounts::{AddMember, Member, UpdateMember};
use domain::proposals::{ProposalDecision, ProposalList};
use domain::rooms::{
    Agent, CreateAgent, CreateRoom, MessagePage, PostMessage, PostedMessage, Room, RoomSummary, UpdateAgent, UpdateRoom,
};
use domain::runs::{Run, RunStarted, RunStopped, RunTimeline, StartRun};
use error_response::Refusals;
use gateway::ClientAddr;
use http::StatusCode;
use serde::Deserialize;
use services::{members, persona_cards, proposals, rooms, runs, transcripts, Services};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Caller;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::ApiError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_rooms, create_room))
        .routes(routes!(get_room, update_room, delete_room))
        .routes(routes!(list_members, add_member))
        .routes(routes!(update_member, remove_member))
        .routes(routes!(list_agents, create_agent))
        .routes(routes!(update_agent))
        .routes(routes!(import_agent))
        .routes(routes!(agent_card))
        .routes(routes!(list_messages, post_message))
        .routes(routes!(super::stream::room_stream))
        .routes(routes!(export_room))
        .routes(routes!(start_run))
        .routes(routes!(stop_run))
        .routes(routes!(stop_replies))
        .routes(routes!(list_runs))
        .routes(routes!(get_run))
        .routes(routes!(run_turns))
        .routes(routes!(list_proposals))
        .routes(routes!(confirm_proposal))
        .routes(routes!(reject_proposal))
}

const TAG: &str = "rooms";

type ApiResult<T> = Result<T, ApiError>;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct RoomListQuery {
    /// Only rooms whose name contains this (any case).
    #[serde(default)]
    q: Option<String>,
    /// Which page, from 1.
    #[serde(default)]
    page: Option<i64>,
    /// Rooms per page: 1 to 200, 50 when absent.
    #[serde(default)]
    per_page: Option<i64>,
}

/// The rooms the caller may see, the most recently active first, with their message counts;
/// `X-Total-Count` says how many match in all.
#[utoipa::path(get, path = "/api/rooms", tag = TAG, params(RoomListQuery),
    responses((status = 200, description = "A page of rooms.", body = Vec<RoomSummary>,
        headers(("X-Total-Count" = usize, description = "How many rooms match, on every page."))), Refusals))]
async fn list_rooms(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiQuery(query): ApiQuery<RoomListQuery>,
) -> ApiResult<([(http::HeaderName, String); 1], Json<Vec<RoomSummary>>)> {
    let search = rooms::RoomSearch { name: query.q, page: query.page, per_page: query.per_page };
    let listed = rooms::search_rooms(&services, &actor, &search).await?;
    let total = [(http::HeaderName::from_static("x-total-count"), listed.total.to_string())];
    Ok((total, Json(listed.rooms)))
}

/// Creates a room; its maker owns it.
#[utoipa::path(post, path = "/api/rooms", tag = TAG, request_body = CreateRoom,
    responses((status = 201, description = "The new room.", body = RoomSummary), Refusals))]
async fn create_room(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<CreateRoom>,
) -> ApiResult<(StatusCode, Json<RoomSummary>)> {
    Ok((StatusCode::CREATED, Json(rooms::create_room(&services, &actor, input).await?)))
}

/// A room.
#[utoipa::path(get, path = "/api/rooms/{room_id}", tag = TAG, params(("room_id" = Uuid, Path, description = "The room.")),
    responses((status = 200, description = "The room.", body = Room), Refusals))]
async fn get_room(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath(room_id): ApiPath<Uuid>,
) -> ApiResult<Json<Room>> {
    Ok(Json(rooms::get_room(&services, &actor, room_id).await?))
}

/// The room's agents.
#[utoipa::path(get, path = "/api/rooms/{room_id}/agents", tag = TAG, params(("room_id" = Uuid, Path, description = "The room.")),
    responses((status = 200, description = "The agents.", body = Vec<Agent>), Refusals))]
async fn list_agents(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath(room_id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<Agent>>> {
    Ok(Json(rooms::list_agents(&services, &actor, room_id).await?))
}

/// Adds an agent to the room.
#[utoipa::path(post, path = "/api/rooms/{room_id}/agents", tag = TAG, params(("room_id" = Uuid, Path, description = "The room.")), request_body = CreateAgent,
    responses((status = 201, description = "The new agent.", body = Agent), Refusals))]
async fn create_agent(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath(room_id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<CreateAgent>,
) -> ApiResult<(StatusCode, Json<Agent>)> {
    Ok((StatusCode::CREATED, Json(rooms::create_agent(&services, &actor, room_id, input).await?)))
}

/// Changes an agent.
#[utoipa::path(patch, path = "/api/rooms/{room_id}/agents/{agent_id}", tag = TAG,
    params(("room_id" = Uuid, Path, description = "The room."), ("agent_id" = Uuid, Path, description = "The agent.")), request_body = UpdateAgent,
    responses((status = 200, description = "The agent as it is now.", body = Agent), Refusals))]
async fn update_agent(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath((room_id, agent_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(input): ApiJson<UpdateAgent>,
) -> ApiResult<Json<Agent>> {
    Ok(Json(rooms::update_agent(&services, &actor, room_id, agent_id, input).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ImportQuery {
    /// The model the new agent speaks with; when absent, the card's own (from a card exported
    /// here), else `demo`.
    #[serde(default)]
    model: Option<String>,
}

/// Adds an agent from a Character Card V2 persona card (`"spec": "chara_card_v2"`), as SillyTavern
/// and other chat tools export them: its name, and a system prompt made of the card's system
/// prompt, description, personality, scenario, opening line and examples. Fields it has no use
/// for are ignored.
#[utoipa::path(post, path = "/api/rooms/{room_id}/agents/import", tag = TAG,
    params(("room_id" = Uuid, Path, description = "The room."), ImportQuery),
    request_body = domain::persona_cards::CharacterCard,
    responses((status = 201, description = "The new agent.", body = Agent), Refusals))]
async fn import_agent(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath(room_id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<ImportQuery>,
    ApiJson(card): ApiJson<domain::persona_cards::CharacterCard>,
) -> ApiResult<(StatusCode, Json<Agent>)> {
    let model = query.model.map(|model| model.trim().to_owned()).filter(|model| !model.is_empty());
    Ok((StatusCode::CREATED, Json(persona_cards::import_agent(&services, &actor, room_id, card, model).await?)))
}

/// The agent as a Character Card V2 persona card, for other rooms or other chat tools; its model,
/// temperature and tools travel in `data.extensions.ais_chatrooms`.
#[utoipa::path(get, path = "/api/rooms/{room_id}/agents/{agent_id}/card", tag = TAG,
    params(("room_id" = Uuid, Path, description = "The room."), ("agent_id" = Uuid, Path, description = "The agent.")),
    responses((status = 200, description = "The card, as an attachment.", body = domain::persona_cards::CharacterCard), Refusals))]
async fn agent_card(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath((room_id, agent_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;

    let card = persona_cards::agent_card(&services, &actor, room_id, agent_id).await?;
    let disposition = format!("attachment; filename=\"{}.card.json\"", file_stem(&card.data.name));
    Ok(([(http::header::CONTENT_DISPOSITION, disposition)], Json(card)).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    /// A `next_cursor` from an earlier page; empty or absent for the newest page.
    #[serde(default)]
    cursor: Option<String>,
    /// How many messages (1 to 200; 50 when absent).
    #[serde(default)]
    limit: Option<i64>,
}

/// A page of the room's messages, oldest first; `next_cursor` pages back.
#[utoipa::path(get, path = "/api/rooms/{room_id}/messages", tag = TAG, params(("room_id" = Uuid, Path, description = "The room."), PageQuery),
    responses((status = 200, description = "The page.", body = MessagePage), Refusals))]
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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ExportQuery {
    /// `md` (Markdown, when absent) or `json`.
    #[serde(default)]
    format: Option<String>,
}

/// The room's transcript as a file to keep: every message in order with its speaker, time, model,
/// tokens and cost, as Markdown or as JSON (a `Transcript`).
#[utoipa::path(get, path = "/api/rooms/{room_id}/export", tag = TAG, params(("room_id" = Uuid, Path, description = "The room."), ExportQuery),
    responses((status = 200, description = "The transcript, as an attachment.", content(
        (domain::transcripts::Transcript = "application/json"),
        (String = "text/markdown")
    )), Refusals))]
async fn export_room(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath(room_id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<ExportQuery>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    use domain::transcripts::ExportFormat;

    let format = match query.format.as_deref().map(str::trim) {
        None | Some("") => ExportFormat::Markdown,
        Some(text) => text
            .parse::<ExportFormat>()
            .map_err(|_| services::ServiceError::invalid("format", "format must be md or json."))?,
    };
    let transcript = transcripts::export_room(&services, &actor, room_id).await?;
    let body = match format {
        ExportFormat::Markdown => transcripts::to_markdown(&transcript),
        ExportFormat::Json => serde_json::to_string_pretty(&transcript)
            .map_err(|error| services::ServiceError::Internal(format!("transcript to JSON: {error}")))?,
    };
    let file_name = format!(
        "{}-{}.{}",
        file_stem(&transcript.room.name),
        transcript.exported_at.format("%Y%m%d-%H%M"),
        format.as_str()
    );
    let headers = [
        (http::header::CONTENT_TYPE, format.content_type().to_owned()),
        (http::header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file_name}\"")),
    ];
    Ok((headers, body).into_response())
}

/// A room's name as a file name: letters and digits, words joined by hyphens.
fn file_stem(name: &str) -> String {
    let words: Vec<String> = name
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| word.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_lowercase())
        .filter(|word| !word.is_empty())
        .collect();
    let stem: String = words.join("-").chars().take(60).collect();
    if stem.is_empty() {
        "room".to_owned()
    } else {
        stem
    }
}

/// Posts a person's message; agents answer it by the room's mode.
#[utoipa::path(post, path = "/api/rooms/{room_id}/messages", tag = TAG, params(("room_id" = Uuid, Path, description = "The room.")), request_body = PostMessage,
    responses((status = 201, description = "The message.", body = PostedMessage), Refusals))]
async fn post_message(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath(room_id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<PostMessage>,
) -> ApiResult<(StatusCode, Json<PostedMessage>)> {
    let message = rooms::post_message(&services, &actor, room_id, input).await?;
    Ok((StatusCode::CREATED, Json(PostedMessage { message })))
}

/// Starts an auto-dialogue run within its limits.
#[utoipa::path(post, path = "/api/rooms/{room_id}/auto/start", tag = TAG, params(("room_id" = Uuid, Path, description = "The room.")), request_body = StartRun,
    responses((status = 201, description = "The run started.", body = RunStarted), Refusals))]
async fn start_run(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath(room_id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<StartRun>,
) -> ApiResult<(StatusCode, Json<RunStarted>)> {
    Ok((StatusCode::CREATED, Json(runs::start(&services, &actor, room_id, input).await?)))
}

/// Stops the room's run, if one is going.
#[utoipa::path(post, path = "/api/rooms/{room_id}/auto/stop", tag = TAG, params(("room_id" = Uuid, Path, description = "The room.")),
    responses((status = 200, description = "What was stopped.", body = RunStopped), Refusals))]
async fn stop_run(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath(room_id): ApiPath<Uuid>,
) -> ApiResult<Json<RunStopped>> {
    Ok(Json(runs::stop(&services, &actor, room_id).await?))
}

/// Stops the reply an agent is writing outside a run (it keeps its text, marked `stopped`) and
/// the one waiting for its turn, whichever instance writes them. Nothing to stop is no error.
#[utoipa::path(post, path = "/api/rooms/{room_id}/replies/stop", tag = TAG, params(("room_id" = Uuid, Path, description = "The room.")),
    responses((status = 204, description = "Stopped, or nothing was being written."), Refusals))]
async fn stop_replies(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath(room_id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    rooms::stop_replies(&services, &actor, room_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The room's runs, newest first.
#[utoipa::path(get, path = "/api/rooms/{room_id}/runs", tag = TAG, params(("room_id" = Uuid, Path, description = "The room.")),
    responses((status = 200, description = "The runs.", body = Vec<Run>), Refusals))]
async fn list_runs(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath(room_id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<Run>>> {
    Ok(Json(runs::list_runs(&services, &actor, room_id).await?))
}

/// A run with its meters.
#[utoipa::path(get, path = "/api/rooms/{room_id}/runs/{run_id}", tag = TAG,
    params(("room_id" = Uuid, Path, description = "The room."), ("run_id" = Uuid, Path, description = "The run.")),
    responses((status = 200, description = "The run.", body = Run), Refusals))]
async fn get_run(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath((room_id, run_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<Run>> {
    Ok(Json(runs::get_run(&services, &actor, room_id, run_id).await?))
}

/// A run's meters and its turns in order: who spoke, when, the time to the first token, the
/// turn's duration and its tokens.
#[utoipa::path(get, path = "/api/rooms/{room_id}/runs/{run_id}/turns", tag = TAG,
    params(("room_id" = Uuid, Path, description = "The room."), ("run_id" = Uuid, Path, description = "The run.")),
    responses((status = 200, description = "The run's timeline.", body = RunTimeline), Refusals))]
async fn run_turns(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath((room_id, run_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<RunTimeline>> {
    Ok(Json(runs::run_timeline(&services, &actor, room_id, run_id).await?))
}

/// Changes a room's name, visibility, mode or run limits.
#[utoipa::path(patch, path = "/api/rooms/{room_id}", tag = TAG, params(("room_id" = Uuid, Path, description = "The room.")), request_body = UpdateRoom,
    responses((status = 200, description = "The room as it is now.", body = RoomSummary), Refusals))]
async fn update_room(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath(room_id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<UpdateRoom>,
) -> ApiResult<Json<RoomSummary>> {
    Ok(Json(rooms::update_room(&services, &actor, room_id, input).await?.into()))
}

/// Deletes a room with its messages, runs and usage.
#[utoipa::path(delete, path = "/api/rooms/{room_id}", tag = TAG, params(("room_id" = Uuid, Path, description = "The room.")),
    responses((status = 204, description = "Deleted."), Refusals))]
async fn delete_room(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath(room_id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    rooms::delete_room(&services, &actor, room_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The room's members and their roles.
#[utoipa::path(get, path = "/api/rooms/{room_id}/members", tag = TAG, params(("room_id" = Uuid, Path, description = "The room.")),
    responses((status = 200, description = "The members.", body = Vec<Member>), Refusals))]
async fn list_members(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath(room_id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<Member>>> {
    Ok(Json(members::list_members(&services, &actor, room_id).await?))
}

/// Adds a person to the room with a role.
#[utoipa::path(post, path = "/api/rooms/{room_id}/members", tag = TAG, params(("room_id" = Uuid, Path, description = "The room.")), request_body = AddMember,
    responses((status = 201, description = "The member.", body = Member), Refusals))]
async fn add_member(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath(room_id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<AddMember>,
) -> ApiResult<(StatusCode, Json<Member>)> {
    Ok((StatusCode::CREATED, Json(members::add_member(&services, &actor, room_id, input).await?)))
}

/// Changes a member's role.
#[utoipa::path(patch, path = "/api/rooms/{room_id}/members/{user_id}", tag = TAG,
    params(("room_id" = Uuid, Path, description = "The room."), ("user_id" = Uuid, Path, description = "The member.")), request_body = UpdateMember,
    responses((status = 200, description = "The member as they are now.", body = Member), Refusals))]
async fn update_member(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath((room_id, user_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(input): ApiJson<UpdateMember>,
) -> ApiResult<Json<Member>> {
    Ok(Json(members::update_member(&services, &actor, room_id, user_id, input).await?))
}

/// Removes a member from the room.
#[utoipa::path(delete, path = "/api/rooms/{room_id}/members/{user_id}", tag = TAG,
    params(("room_id" = Uuid, Path, description = "The room."), ("user_id" = Uuid, Path, description = "The member.")),
    responses((status = 204, description = "Removed."), Refusals))]
async fn remove_member(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath((room_id, user_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    members::remove_member(&services, &actor, room_id, user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The agents' proposals of control-plane tasks in the room, oldest first.
#[utoipa::path(get, path = "/api/rooms/{room_id}/proposals", tag = TAG, params(("room_id" = Uuid, Path, description = "The room.")),
    responses((status = 200, description = "The proposals.", body = ProposalList), Refusals))]
async fn list_proposals(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath(room_id): ApiPath<Uuid>,
) -> ApiResult<Json<ProposalList>> {
    Ok(Json(proposals::list(&services, &actor, room_id).await?))
}

/// Confirms an agent's proposal: the gateway writes its task file, as a confirm in the panel does.
/// Only operators and admins taking part in the room may; an expired preview answers
/// `PREVIEW_EXPIRED`, a second confirm `PREVIEW_ALREADY_CONFIRMED`.
#[utoipa::path(post, path = "/api/rooms/{room_id}/proposals/{proposal_id}/confirm", tag = TAG,
    params(("room_id" = Uuid, Path, description = "The room."), ("proposal_id" = Uuid, Path, description = "The proposal.")),
    responses((status = 200, description = "The proposal, confirmed, with its task.", body = ProposalDecision), Refusals))]
async fn confirm_proposal(
    State(services): State<Services>,
    Caller(actor): Caller,
    ClientAddr(client): ClientAddr,
    ApiPath((room_id, proposal_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<ProposalDecision>> {
    let proposal = proposals::confirm(&services, &actor, room_id, proposal_id, client).await?;
    Ok(Json(ProposalDecision { proposal }))
}

/// Rejects an agent's proposal: nothing is written, and it can no longer be confirmed.
#[utoipa::path(post, path = "/api/rooms/{room_id}/proposals/{proposal_id}/reject", tag = TAG,
    params(("room_id" = Uuid, Path, description = "The room."), ("proposal_id" = Uuid, Path, description = "The proposal.")),
    responses((status = 200, description = "The proposal, rejected.", body = ProposalDecision), Refusals))]
async fn reject_proposal(
    State(services): State<Services>,
    Caller(actor): Caller,
    ClientAddr(client): ClientAddr,
    ApiPath((room_id, proposal_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<ProposalDecision>> {
    let proposal = proposals::reject(&services, &actor, room_id, proposal_id, client).await?;
    Ok(Json(ProposalDecision { proposal }))
}
