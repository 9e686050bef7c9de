//! Accounts over HTTP: signing up, in and out, who is signed in, personal API tokens, and what
//! admins do with people. Each handler hands the caller to the service layer, which decides.

use app::accounts::session;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use domain::accounts::{ApiToken, CreatedToken, Login, Me, NewToken, SetRole, Signup, UserSummary};
use error_response::Refusals;
use gateway::ClientAddr;
use serde::Deserialize;
use services::{accounts, Services};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::{AuthSession, Caller};
use crate::http::extract::{ApiJson, ApiPath};
use crate::http::ApiError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(delete_token))
        .routes(routes!(list_users))
        .routes(routes!(set_role))
        .routes(routes!(invite))
}

const TAG: &str = "accounts";

type ApiResult<T> = Result<T, ApiError>;

/// Creates an account and signs it in (a session cookie); the first account is the admin.
#[utoipa::path(post, path = "/api/auth/signup", tag = TAG, request_body = Signup, security(()),
    responses((status = 201, description = "Signed up and in.", body = Me), Refusals))]
async fn signup(mut auth: AuthSession, ApiJson(input): ApiJson<Signup>) -> ApiResult<(StatusCode, Json<Me>)> {
    Ok((StatusCode::CREATED, Json(session::sign_up(&mut auth, input).await?)))
}

/// Signs in with email and password (a session cookie).
#[utoipa::path(post, path = "/api/auth/login", tag = TAG, request_body = Login, security(()),
    responses((status = 200, description = "Signed in.", body = Me), Refusals))]
async fn login(
    mut auth: AuthSession,
    ClientAddr(client): ClientAddr,
    ApiJson(login): ApiJson<Login>,
) -> ApiResult<Json<Me>> {
    Ok(Json(session::sign_in(&mut auth, login, client).await?))
}

/// Signs out of this session.
#[utoipa::path(post, path = "/api/auth/logout", tag = TAG,
    responses((status = 204, description = "Signed out."), Refusals))]
async fn logout(mut auth: AuthSession) -> ApiResult<StatusCode> {
    session::sign_out(&mut auth).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who is signed in.
#[utoipa::path(get, path = "/api/auth/me", tag = TAG,
    responses((status = 200, description = "The person.", body = Me), Refusals))]
async fn me(Caller(actor): Caller) -> ApiResult<Json<Me>> {
    Ok(Json(accounts::me(actor.require_person()?)))
}

/// The caller's personal API tokens (never their secrets).
#[utoipa::path(get, path = "/api/tokens", tag = TAG,
    responses((status = 200, description = "The tokens.", body = Vec<ApiToken>), Refusals))]
async fn list_tokens(State(services): State<Services>, Caller(actor): Caller) -> ApiResult<Json<Vec<ApiToken>>> {
    Ok(Json(accounts::list_tokens(&services, &actor).await?))
}

/// Makes a personal API token; its secret is shown this once.
#[utoipa::path(post, path = "/api/tokens", tag = TAG, request_body = NewToken,
    responses((status = 201, description = "The token and its secret.", body = CreatedToken), Refusals))]
async fn create_token(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<NewToken>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    Ok((StatusCode::CREATED, Json(accounts::create_token(&services, &actor, input).await?)))
}

/// Revokes one of the caller's tokens.
#[utoipa::path(delete, path = "/api/tokens/{token_id}", tag = TAG,
    params(("token_id" = Uuid, Path, description = "The token.")),
    responses((status = 204, description = "Revoked."), Refusals))]
async fn delete_token(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath(token_id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    accounts::delete_token(&services, &actor, token_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Everyone with an account (admins only).
#[utoipa::path(get, path = "/api/users", tag = TAG,
    responses((status = 200, description = "The people.", body = Vec<UserSummary>), Refusals))]
async fn list_users(State(services): State<Services>, Caller(actor): Caller) -> ApiResult<Json<Vec<UserSummary>>> {
    Ok(Json(accounts::list_users(&services, &actor).await?))
}

/// Changes a person's role (admins only).
#[utoipa::path(patch, path = "/api/users/{user_id}", tag = TAG,
    params(("user_id" = Uuid, Path, description = "The person.")), request_body = SetRole,
    responses((status = 200, description = "The person as they are now.", body = UserSummary), Refusals))]
async fn set_role(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiPath(user_id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<SetRole>,
) -> ApiResult<Json<UserSummary>> {
    Ok(Json(accounts::set_role(&services, &actor, user_id, input).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct Invite {
    email: String,
}

/// Lets an email address sign up while sign-up is by invitation (admins only).
#[utoipa::path(post, path = "/api/invites", tag = TAG, request_body = Invite,
    responses((status = 201, description = "Invited."), Refusals))]
async fn invite(
    State(services): State<Services>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<Invite>,
) -> ApiResult<StatusCode> {
    accounts::invite(&services, &actor, &input.email).await?;
    Ok(StatusCode::CREATED)
}
