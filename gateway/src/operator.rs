//! Who a control-plane call acts for. The gateway does not sign anyone in: whatever serves its
//! routes identifies and authorizes the person first and leaves an [`Operator`] in the request's
//! extensions. A request without one is refused before anything is logged.

use http::request::Parts;
use uuid::Uuid;

use crate::error::GatewayError;

/// The person a preview, confirm or watch is made by: a session belongs to the first person who
/// previews in it, and every telemetry line names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Operator {
    pub user_id: Uuid,
}

impl Operator {
    pub fn new(user_id: Uuid) -> Self {
        Self { user_id }
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Operator {
    type Rejection = GatewayError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Operator>().copied().ok_or(GatewayError::Unauthenticated)
    }
}
