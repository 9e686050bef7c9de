//! The control plane's Telegram channel over HTTP: a person with the operator role gets a
//! one-time code to link a chat, sees their linked chats and unlinks one. The service layer
//! decides who may; the bot itself talks to Telegram, not through these routes.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use domain::telegram::{LinkCode, TelegramLink};
use error_response::Refusals;
use services::{telegram, Services};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::config::Config;
use crate::http::extract::ApiPath;
use crate::http::ApiError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_link_code)).routes(routes!(list_links)).routes(routes!(unlink))
}

const TAG: &str = "telegram";

type ApiResult<T> = Result<T, ApiError>;

/// A one-time code, valid for ten minutes, to send to the bot as `/link <code>`; it binds that
/// chat to the caller. A new code replaces the caller's last one. Operators and admins only;
/// `NOT_FOUND` when this server runs no bot.
#[utoipa::path(post, path = "/api/telegram/link-code", tag = TAG,
    responses((status = 201, description = "The code.", body = LinkCode), Refusals))]
async fn create_link_code(
    State(services): State<Services>,
    State(config): State<Arc<Config>>,
    Caller(actor): Caller,
) -> ApiResult<(StatusCode, Json<LinkCode>)> {
    let code = telegram::create_link_code(&services, &actor, config.telegram.is_some()).await?;
    Ok((StatusCode::CREATED, Json(code)))
}

/// The Telegram chats linked to the caller.
#[utoipa::path(get, path = "/api/telegram/links", tag = TAG,
    responses((status = 200, description = "The chats.", body = Vec<TelegramLink>), Refusals))]
async fn list_links(State(services): State<Services>, Caller(actor): Caller) -> ApiResult<Json<Vec<TelegramLink>>> {
    Ok(Json(telegram::list_links(&services, &actor).await?))
}

/// Unlinks one of the caller's chats: it no longer speaks for them.
#[utoipa::path(delete, path = "/api/telegram/links/{chat_id}", tag = TAG,
    params(("chat_id" = i64, Path, description = "The Telegram chat.")),
    responses((status = 204, description = "Unlinked."), Refusals))]
async fn unlink(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath(chat_id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    telegram::unlink(&services, &actor, chat_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
