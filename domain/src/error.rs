//! The error body every API answers with: `{"error": {"code", "message"}}`.

use serde::{Deserialize, Serialize};

/// Machine-readable error codes shared by every API of the product.
///
/// They are serialized in `SCREAMING_SNAKE_CASE` so the control plane's codes of spec 001 §8
/// (`PREVIEW_EXPIRED`, ...) appear verbatim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// The request body is not valid JSON or does not have the expected shape.
    MalformedJson,
    /// A field is present but its value breaks a rule (length, range, format).
    ValidationFailed,
    /// The request body is larger than the server accepts.
    PayloadTooLarge,
    /// The addressed resource does not exist.
    NotFound,
    /// The request conflicts with the current state (a run already active, ...).
    Conflict,
    /// A limit on stored things was reached (too many active agents, ...).
    LimitReached,
    /// The database or another dependency is not available right now.
    Unavailable,
    /// Something failed inside the server; details are in the server log only.
    Internal,
}

impl ErrorCode {
    /// The HTTP status that goes with this code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::MalformedJson => 400,
            ErrorCode::ValidationFailed => 422,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict => 409,
            ErrorCode::LimitReached => 422,
            ErrorCode::Unavailable => 503,
            ErrorCode::Internal => 500,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedJson => "MALFORMED_JSON",
            ErrorCode::ValidationFailed => "VALIDATION_FAILED",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::LimitReached => "LIMIT_REACHED",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::Internal => "INTERNAL",
        }
    }
}

/// The inner object of an error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

/// The whole error response: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

impl ErrorBody {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self { error: ErrorDetail { code: code.into(), message: message.into() } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_in_screaming_snake_case() {
        let json = serde_json::to_string(&ErrorCode::MalformedJson).unwrap();
        assert_eq!(json, "\"MALFORMED_JSON\"");
        assert_eq!(ErrorCode::MalformedJson.as_str(), "MALFORMED_JSON");
    }

    #[test]
    fn error_body_has_the_contract_shape() {
        let body = ErrorBody::new("NOT_FOUND", "room not found");
        let value = serde_json::to_value(&body).unwrap();
        assert_eq!(value, serde_json::json!({"error": {"code": "NOT_FOUND", "message": "room not found"}}));
    }
}
