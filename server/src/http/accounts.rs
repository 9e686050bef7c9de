//! Accounts over HTTP: signing up, in and out, who is signed in, personal API tokens, and what
//! admins do with people. Each handler hands the caller to the service layer, which decides.

use app::accounts::session;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, patch, post};
use axum::{Json, Router};
use domain::accounts::{ApiToken, CreatedToken, Login, Me, NewToken, SetRole, Signup, UserSummary};
use gateway::ClientAddr;
use serde::Deserialize;
use services::{accounts, Services};
use uuid::Uuid;

use crate::auth::{AuthSession, Caller};
use crate::http::extract::{ApiJson, ApiPath};
use crate::http::ApiError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/signup", post(signup))
        .route("/api/auth/login", post(login))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/me", get(me))
        .route("/api/tokens", get(list_tokens).post(create_token))
        .route("/api/tokens/{token_id}", delete(delete_token))
        .route("/api/users", get(list_users))
        .route("/api/users/{user_id}", patch(set_role))
        .route("/api/invites", post(invite))
}

type ApiResult<T> = Result<T, ApiError>;

async fn signup(mut auth: AuthSession, ApiJson(input): ApiJson<Signup>) -> ApiResult<(StatusCode, Json<Me>)> {
    Ok((StatusCode::CREATED, Json(session::sign_up(&mut auth, input).await?)))
}

async fn login(
    mut auth: AuthSession,
    ClientAddr(client): ClientAddr,
    ApiJson(login): ApiJson<Login>,
) -> ApiResult<Json<Me>> {
    Ok(Json(session::sign_in(&mut auth, login, client).await?))
}

async fn logout(mut auth: AuthSession) -> ApiResult<StatusCode> {
    session::sign_out(&mut auth).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn me(Caller(actor): Caller) -> ApiResult<Json<Me>> {
    Ok(Json(accounts::me(actor.require_person()?)))
}

async fn list_tokens(State(services): State<Services>, Caller(actor): Caller) -> ApiResult<Json<Vec<ApiToken>>> {
    Ok(Json(accounts::list_tokens(&services, &actor).await?))
}

async fn create_token(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<NewToken>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    Ok((StatusCode::CREATED, Json(accounts::create_token(&services, &actor, input).await?)))
}

async fn delete_token(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath(token_id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    accounts::delete_token(&services, &actor, token_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_users(State(services): State<Services>, Caller(actor): Caller) -> ApiResult<Json<Vec<UserSummary>>> {
    Ok(Json(accounts::list_users(&services, &actor).await?))
}

async fn set_role(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath(user_id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<SetRole>,
) -> ApiResult<Json<UserSummary>> {
    Ok(Json(accounts::set_role(&services, &actor, user_id, input).await?))
}

#[derive(Debug, Deserialize)]
struct Invite {
    email: String,
}

async fn invite(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<Invite>,
) -> ApiResult<StatusCode> {
    accounts::invite(&services, &actor, &input.email).await?;
    Ok(StatusCode::CREATED)
}
