//! The control plane's Telegram channel over HTTP: a person with the operator role gets a
//! one-time code to link a chat, sees their linked chats and unlinks one; in webhook mode,
//! Telegram delivers updates to `/api/telegram/webhook`. The service layer decides who may.

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

/// The routes people use (operators and admins).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_link_code)).routes(routes!(list_links)).routes(routes!(unlink))
}

/// The route Telegram delivers to in webhook mode; it carries no person's credentials.
pub fn webhook_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(webhook))
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

/// Telegram delivers one update (webhook mode). Only a request carrying the webhook's secret in
/// `X-Telegram-Bot-Api-Secret-Token` is Telegram's (`UNAUTHENTICATED` otherwise, whatever else it
/// carries); the update's chat then meets the same rules as a polled one. A body that is not an
/// update is logged and answered `200` too, so Telegram does not deliver it again. `NOT_FOUND`
/// when the server runs no bot in webhook mode.
#[utoipa::path(post, path = "/api/telegram/webhook", tag = TAG, security(()),
    request_body(content = Object, description = "A Telegram `Update` object.", content_type = "application/json"),
    params(("X-Telegram-Bot-Api-Secret-Token" = String, Header, description = "The webhook's secret.")),
    responses((status = 200, description = "Taken."), Refusals))]
async fn webhook(
    State(bot): State<crate::state::TelegramSlot>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    use ::telegram::Delivery;
    let Some(bot) = bot.get() else {
        return Err(ApiError::NotFound("endpoint"));
    };
    let secret = headers.get(::telegram::SECRET_HEADER).map(|value| value.as_bytes());
    match bot.receive(secret, &body).await {
        Delivery::Accepted | Delivery::Ignored => Ok(StatusCode::OK),
        Delivery::NotWebhook => Err(ApiError::NotFound("endpoint")),
        Delivery::WrongSecret => Err(services::ServiceError::Unauthenticated.into()),
    }
}
