//! Typed server functions for the rooms UI. Each one calls the same service function as the
//! matching REST endpoint, so no rule is written twice.

use domain::rooms::{Agent, Message, MessagePage, RoomSummary};
use domain::snapshot::RoomSnapshot;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use uuid::Uuid;

use crate::error::AppError;

#[cfg(feature = "ssr")]
use crate::caller::{actor, services};

#[server(prefix = "/api/fn", endpoint = "rooms/list")]
pub async fn list_rooms() -> Result<Vec<RoomSummary>, AppError> {
    Ok(services::rooms::list_rooms(&services(), &actor().await).await?)
}

/// Creates a room from the rooms page's form (works without JavaScript too).
#[server(prefix = "/api/fn", endpoint = "rooms/create")]
pub async fn create_room(name: String) -> Result<RoomSummary, AppError> {
    let input = domain::rooms::CreateRoom {
        name,
        mode: domain::rooms::RoomMode::Manual,
        visibility: domain::rooms::RoomVisibility::Private,
    };
    Ok(services::rooms::create_room(&services(), &actor().await, input).await?)
}

#[server(prefix = "/api/fn", endpoint = "rooms/snapshot", input = Json)]
pub async fn load_room(room_id: Uuid) -> Result<RoomSnapshot, AppError> {
    Ok(services::snapshot::room_snapshot(&services(), &actor().await, room_id).await?)
}

#[server(prefix = "/api/fn", endpoint = "rooms/messages", input = Json)]
pub async fn older_messages(room_id: Uuid, cursor: Uuid) -> Result<MessagePage, AppError> {
    Ok(services::rooms::list_messages(&services(), &actor().await, room_id, Some(cursor), None).await?)
}

#[server(prefix = "/api/fn", endpoint = "rooms/post", input = Json)]
pub async fn send_message(room_id: Uuid, content: String) -> Result<Message, AppError> {
    let input = domain::rooms::PostMessage { content };
    Ok(services::rooms::post_message(&services(), &actor().await, room_id, input).await?)
}

#[server(prefix = "/api/fn", endpoint = "agents/create", input = Json)]
pub async fn add_agent(room_id: Uuid, input: domain::rooms::CreateAgent) -> Result<Agent, AppError> {
    Ok(services::rooms::create_agent(&services(), &actor().await, room_id, input).await?)
}

#[server(prefix = "/api/fn", endpoint = "agents/update", input = Json)]
pub async fn edit_agent(room_id: Uuid, agent_id: Uuid, input: domain::rooms::UpdateAgent) -> Result<Agent, AppError> {
    Ok(services::rooms::update_agent(&services(), &actor().await, room_id, agent_id, input).await?)
}

#[server(prefix = "/api/fn", endpoint = "runs/start", input = Json)]
pub async fn start_auto(room_id: Uuid, input: domain::runs::StartRun) -> Result<domain::runs::RunStarted, AppError> {
    Ok(services::runs::start(&services(), &actor().await, room_id, input).await?)
}

#[server(prefix = "/api/fn", endpoint = "runs/stop", input = Json)]
pub async fn stop_auto(room_id: Uuid) -> Result<domain::runs::RunStopped, AppError> {
    Ok(services::runs::stop(&services(), &actor().await, room_id).await?)
}
