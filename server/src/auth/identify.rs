//! Works out who a request comes from, once, and leaves it in the request for handlers, server
//! functions and pages.

use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::AUTHORIZATION;
use http::request::Parts;
use services::{accounts, Actor, Principal, ServiceError, Services};

use super::AuthSession;
use crate::http::ApiError;

/// A bearer token wins over the session cookie; a bad token is refused rather than falling back
/// to the cookie, so a script never acts as the wrong person.
pub async fn identify(State(services): State<Services>, mut request: Request, next: Next) -> Response {
    let actor = match bearer(&request) {
        Some(secret) => match accounts::token_holder(&services, &secret).await {
            Ok(Some(user)) => Actor::Person(Principal::from(&user)),
            Ok(None) => return ApiError::from(ServiceError::Unauthenticated).into_response(),
            Err(error) => return ApiError::from(error).into_response(),
        },
        None => match request.extensions().get::<AuthSession>().and_then(|auth| auth.user.clone()) {
            Some(signed_in) => Actor::Person(signed_in.principal),
            None => Actor::Guest,
        },
    };
    request.extensions_mut().insert(actor);
    next.run(request).await
}

fn bearer(request: &Request) -> Option<String> {
    let value = request.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
}

/// The actor [`identify`] found; a guest when the request did not pass through it.
#[derive(Debug, Clone)]
pub struct Caller(pub Actor);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Caller(parts.extensions.get::<Actor>().cloned().unwrap_or(Actor::Guest)))
    }
}
