//! The product's one error vocabulary: the codes every API answers with, the trait every
//! layer's error implements, and the body `{"error": {"code", "message"}}`.

use serde::{Deserialize, Serialize};

use crate::string_enum::string_enum;

string_enum! {
    /// Machine-readable error codes shared by every API of the product, spelled in
    /// `SCREAMING_SNAKE_CASE`. They are a contract with every client: never renamed.
    ErrorCode {
        /// The request body is not valid JSON, not sent as JSON, or does not have the expected shape.
        MalformedJson => "MALFORMED_JSON",
        /// A field is present but its value breaks a rule (length, range, format).
        ValidationFailed => "VALIDATION_FAILED",
        /// The request body is larger than the server accepts.
        PayloadTooLarge => "PAYLOAD_TOO_LARGE",
        /// The addressed resource does not exist.
        NotFound => "NOT_FOUND",
        /// The request conflicts with the current state (a run already active, ...).
        Conflict => "CONFLICT",
        /// A limit on stored things was reached (too many active agents, ...).
        LimitReached => "LIMIT_REACHED",
        /// The database or another dependency is not available right now.
        Unavailable => "UNAVAILABLE",
        /// The request's body did not arrive, or its answer could not begin, in time.
        RequestTimeout => "REQUEST_TIMEOUT",
        /// Something failed inside the server; details are in the server log only.
        Internal => "INTERNAL",
        /// The request needs a signed-in person (or a valid API token), and has none.
        Unauthenticated => "UNAUTHENTICATED",
        /// The person is signed in but may not do this.
        Forbidden => "FORBIDDEN",
        /// A browser sent a state-changing request on behalf of another site (cross-site request
        /// forgery): refused whoever is signed in.
        CrossSite => "CROSS_SITE",
        /// The request named a host this server does not answer for (`ALLOWED_HOSTS`).
        HostNotAllowed => "HOST_NOT_ALLOWED",
        /// The agent's model is not on the server's list of allowed models.
        ModelNotAllowed => "MODEL_NOT_ALLOWED",
        /// A spending or usage limit was reached; the message names it and when it resets.
        QuotaExceeded => "QUOTA_EXCEEDED",
        /// Control plane: the preview's time to live (or its session's) ran out.
        PreviewExpired => "PREVIEW_EXPIRED",
        /// Control plane: the session does not own the preview, or is bound to another channel.
        SessionMismatch => "SESSION_MISMATCH",
        /// Control plane: every generated task id collided with an existing task.
        TaskCollision => "TASK_COLLISION",
        /// Control plane: the task (or its structured override) failed schema validation.
        SchemaInvalid => "SCHEMA_INVALID",
        /// Control plane: too many requests from one session or one address.
        RateLimited => "RATE_LIMITED",
        /// Control plane: no preview with that id exists.
        PreviewNotFound => "PREVIEW_NOT_FOUND",
        /// Control plane: the preview was already confirmed (or is being confirmed); confirm is single-use.
        PreviewAlreadyConfirmed => "PREVIEW_ALREADY_CONFIRMED",
        /// Control plane: the session already holds the most unconfirmed previews it may.
        TooManyPreviews => "TOO_MANY_PREVIEWS",
        /// Control plane: the server holds as many sessions as it may.
        TooManySessions => "TOO_MANY_SESSIONS",
        /// Control plane: a structured override was sent for an input that a rule recognised.
        OverrideNotAllowed => "OVERRIDE_NOT_ALLOWED",
        /// Control plane: no task with that id exists in this session.
        TaskNotFound => "TASK_NOT_FOUND",
        /// Control plane: `session_id` is not a UUIDv4.
        InvalidSessionId => "INVALID_SESSION_ID",
        /// Control plane: `raw_input` is empty or too long.
        InvalidInput => "INVALID_INPUT",
        /// Control plane: a field is missing or has the wrong type or value.
        InvalidField => "INVALID_FIELD",
        /// Control plane: its folder is (nearly) full or cannot be written, so nothing was written
        /// and nothing was confirmed; the rooms keep working.
        StorageUnavailable => "STORAGE_UNAVAILABLE",
        /// Never sent by a server: the browser could not reach it.
        Network => "NETWORK",
    }
}

impl ErrorCode {
    /// The HTTP status that goes with this code.
    pub fn http_status(self) -> u16 {
        use ErrorCode::*;
        match self {
            MalformedJson => 400,
            Unauthenticated => 401,
            SessionMismatch | Forbidden | CrossSite => 403,
            NotFound | PreviewNotFound | TaskNotFound => 404,
            Conflict | TaskCollision | PreviewAlreadyConfirmed | TooManyPreviews => 409,
            RequestTimeout => 408,
            PreviewExpired => 410,
            PayloadTooLarge => 413,
            HostNotAllowed => 421,
            ValidationFailed | LimitReached | ModelNotAllowed | SchemaInvalid | OverrideNotAllowed
            | InvalidSessionId | InvalidInput | InvalidField => 422,
            RateLimited | QuotaExceeded => 429,
            Internal => 500,
            Unavailable | TooManySessions | StorageUnavailable | Network => 503,
        }
    }
}

/// What every layer's error tells a client, and what only the server log may know.
///
/// `Display` is the detailed text for the log; [`PublicError::public_message`] is what a client
/// sees. Turning one into an HTTP response happens in one place, the `error-response` crate.
pub trait PublicError: std::fmt::Display {
    fn code(&self) -> ErrorCode;

    /// The message a client may see: never database, file-system or internal error text.
    fn public_message(&self) -> String;

    /// True for errors that reveal a fault in the server rather than in the request; these are
    /// logged with their details.
    fn is_server_fault(&self) -> bool {
        self.code().http_status() >= 500
    }

    /// The HTTP status to answer with.
    fn http_status(&self) -> u16 {
        self.code().http_status()
    }

    /// Seconds a client should wait before trying again (`Retry-After`), when waiting helps.
    fn retry_after(&self) -> Option<u64> {
        None
    }

    /// The body a client receives.
    fn to_body(&self) -> ErrorBody {
        ErrorBody::new(self.code(), self.public_message())
    }
}

/// The inner object of an error response. The code stays a string on the wire, so a client
/// still reads the message of a code it does not know yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

/// The whole error response: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { error: ErrorDetail { code: code.as_str().to_owned(), message: message.into() } }
    }

    /// The code, when this version of the product knows it.
    pub fn code(&self) -> Option<ErrorCode> {
        self.error.code.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_in_screaming_snake_case() {
        let json = serde_json::to_string(&ErrorCode::MalformedJson).unwrap();
        assert_eq!(json, "\"MALFORMED_JSON\"");
        assert_eq!(serde_json::to_string(&ErrorCode::PreviewExpired).unwrap(), "\"PREVIEW_EXPIRED\"");
        for code in ErrorCode::ALL {
            assert_eq!(code.as_str().parse::<ErrorCode>().unwrap(), *code);
            assert!(code.as_str().chars().all(|c| c.is_ascii_uppercase() || c == '_'), "{code}");
        }
    }

    #[test]
    fn control_plane_codes_have_their_specified_statuses() {
        assert_eq!(ErrorCode::PreviewExpired.http_status(), 410);
        assert_eq!(ErrorCode::SessionMismatch.http_status(), 403);
        assert_eq!(ErrorCode::TaskCollision.http_status(), 409);
        assert_eq!(ErrorCode::SchemaInvalid.http_status(), 422);
        assert_eq!(ErrorCode::RateLimited.http_status(), 429);
        for code in ErrorCode::ALL {
            assert!((400..600).contains(&code.http_status()), "{code}");
        }
    }

    #[test]
    fn error_body_has_the_contract_shape() {
        let body = ErrorBody::new(ErrorCode::NotFound, "room not found");
        let value = serde_json::to_value(&body).unwrap();
        assert_eq!(value, serde_json::json!({"error": {"code": "NOT_FOUND", "message": "room not found"}}));
        assert_eq!(body.code(), Some(ErrorCode::NotFound));
        let unknown: ErrorBody = serde_json::from_str(r#"{"error":{"code":"NEWER","message":"m"}}"#).unwrap();
        assert_eq!(unknown.code(), None);
    }
}
