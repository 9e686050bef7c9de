//! The gateway's errors: what a client is told ([`GatewayError`]) and why start-up failed
//! ([`GatewayStartupError`]).

use std::path::PathBuf;
use std::time::Duration;

use domain::{ErrorCode, PublicError};
use thiserror::Error;

pub type GatewayResult<T> = Result<T, GatewayError>;

/// Why a preview, confirm or watch was refused. Every variant but [`GatewayError::Internal`]
/// carries only text a client may see; internal details are logged, never sent.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum GatewayError {
    #[error("preview has expired")]
    PreviewExpired,
    #[error("session mismatch: {0}")]
    SessionMismatch(&'static str),
    #[error("every generated task id collided with an existing task")]
    TaskCollision,
    #[error("schema invalid: {0}")]
    SchemaInvalid(String),
    #[error("rate limited for {retry_after_seconds} s")]
    RateLimited { retry_after_seconds: u64 },
    #[error("preview not found")]
    PreviewNotFound,
    /// The preview was already used; `task_id` is the task it became, if it is finished.
    #[error("preview already confirmed")]
    PreviewAlreadyConfirmed { task_id: Option<String> },
    #[error("too many pending previews (oldest expires in {oldest_expires_in_seconds} s)")]
    TooManyPreviews { oldest_expires_in_seconds: u64 },
    #[error("too many sessions")]
    TooManySessions,
    #[error("structured override not allowed for a recognised input")]
    OverrideNotAllowed,
    #[error("task not found")]
    TaskNotFound,
    #[error("invalid session id")]
    InvalidSessionId,
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The body is not JSON or not sent as JSON; the text is the parser's, safe to show.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// A field is missing or has the wrong type; the text is the parser's, safe to show.
    #[error("invalid field: {0}")]
    InvalidField(String),
    #[error("payload too large")]
    PayloadTooLarge,
    /// The body was sent with another content type than `application/json`.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// No operator was named by whatever serves the routes: nobody signed in, or a server that
    /// does not identify people. Never logged: there is nobody to log it for.
    #[error("no operator")]
    Unauthenticated,
    /// The control plane's folder is (nearly) full or refuses writes: the call fails closed, having
    /// written nothing. The text (paths, the system's error) is for the log only.
    #[error("storage unavailable: {0}")]
    StorageUnavailable(String),
    /// A fault inside the gateway (file system, telemetry). The text is for the log only.
    #[error("internal error: {0}")]
    Internal(String),
}

impl GatewayError {
    pub fn internal(context: &str, error: impl std::fmt::Display) -> Self {
        GatewayError::Internal(format!("{context}: {error}"))
    }

    /// A failed write: `STORAGE_UNAVAILABLE` when the disk is full, over quota or read-only, or
    /// the folder refuses writes; `INTERNAL` for anything else.
    pub fn from_write(context: &str, error: &std::io::Error) -> Self {
        if is_storage_refusal(error) {
            GatewayError::StorageUnavailable(format!("{context}: {error}"))
        } else {
            GatewayError::internal(context, error)
        }
    }
}

/// True for a write refused by the disk or the file system rather than by a bug.
pub fn is_storage_refusal(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        error.kind(),
        ErrorKind::StorageFull
            | ErrorKind::QuotaExceeded
            | ErrorKind::ReadOnlyFilesystem
            | ErrorKind::PermissionDenied
            | ErrorKind::FileTooLarge
    )
}

impl PublicError for GatewayError {
    fn code(&self) -> ErrorCode {
        use ErrorCode as Code;
        match self {
            GatewayError::PreviewExpired => Code::PreviewExpired,
            GatewayError::SessionMismatch(_) => Code::SessionMismatch,
            GatewayError::TaskCollision => Code::TaskCollision,
            GatewayError::SchemaInvalid(_) => Code::SchemaInvalid,
            GatewayError::RateLimited { .. } => Code::RateLimited,
            GatewayError::PreviewNotFound => Code::PreviewNotFound,
            GatewayError::PreviewAlreadyConfirmed { .. } => Code::PreviewAlreadyConfirmed,
            GatewayError::TooManyPreviews { .. } => Code::TooManyPreviews,
            GatewayError::TooManySessions => Code::TooManySessions,
            GatewayError::OverrideNotAllowed => Code::OverrideNotAllowed,
            GatewayError::TaskNotFound => Code::TaskNotFound,
            GatewayError::InvalidSessionId => Code::InvalidSessionId,
            GatewayError::InvalidInput(_) => Code::InvalidInput,
            GatewayError::MalformedJson(_) => Code::MalformedJson,
            GatewayError::InvalidField(_) => Code::InvalidField,
            GatewayError::PayloadTooLarge => Code::PayloadTooLarge,
            GatewayError::UnsupportedMediaType => Code::MalformedJson,
            GatewayError::Unauthenticated => Code::Unauthenticated,
            GatewayError::StorageUnavailable(_) => Code::StorageUnavailable,
            GatewayError::Internal(_) => Code::Internal,
        }
    }

    fn http_status(&self) -> u16 {
        match self {
            GatewayError::UnsupportedMediaType => 415,
            other => other.code().http_status(),
        }
    }

    /// Only a fault inside the gateway or its disk; a full session table is a refusal, not a fault.
    fn is_server_fault(&self) -> bool {
        matches!(self, GatewayError::Internal(_) | GatewayError::StorageUnavailable(_))
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            GatewayError::RateLimited { retry_after_seconds } => Some(*retry_after_seconds),
            GatewayError::TooManySessions | GatewayError::StorageUnavailable(_) => Some(60),
            _ => None,
        }
    }

    /// The first five messages are part of the API contract, word for word: clients show them.
    fn public_message(&self) -> String {
        match self {
            GatewayError::PreviewExpired => "Preview has expired, please re-preview".to_owned(),
            GatewayError::SessionMismatch(detail) => format!("Session ID does not match preview: {detail}"),
            GatewayError::TaskCollision => "Task ID already exists".to_owned(),
            GatewayError::SchemaInvalid(detail) => {
                format!("Normalized task failed schema validation: {detail}")
            }
            GatewayError::RateLimited { retry_after_seconds } => {
                format!("Too many requests, wait {retry_after_seconds} seconds")
            }
            GatewayError::PreviewNotFound => {
                "No preview with this id exists; preview the command again.".to_owned()
            }
            GatewayError::PreviewAlreadyConfirmed { task_id: Some(task_id) } => {
                format!("This preview was already confirmed as {task_id}; watch that task instead.")
            }
            GatewayError::PreviewAlreadyConfirmed { task_id: None } => {
                "This preview is being confirmed by another request; a preview can be confirmed once.".to_owned()
            }
            GatewayError::TooManyPreviews { oldest_expires_in_seconds } => format!(
                "This session already has {} unconfirmed previews; confirm one or wait {oldest_expires_in_seconds} seconds for the oldest to expire.",
                domain::control_plane::MAX_PENDING_PREVIEWS_PER_SESSION
            ),
            GatewayError::TooManySessions => {
                "The gateway holds as many sessions as it may; try again later.".to_owned()
            }
            GatewayError::OverrideNotAllowed => {
                "A structured override is only accepted for an input that no rule recognised.".to_owned()
            }
            GatewayError::TaskNotFound => "No task with this id exists in this session.".to_owned(),
            GatewayError::InvalidSessionId => {
                "session_id must be a UUID version 4 generated by the client.".to_owned()
            }
            GatewayError::InvalidInput(detail) => detail.clone(),
            GatewayError::MalformedJson(detail) | GatewayError::InvalidField(detail) => detail.clone(),
            GatewayError::PayloadTooLarge => "The request body is too large.".to_owned(),
            GatewayError::UnsupportedMediaType => {
                "Send the body as JSON with Content-Type: application/json.".to_owned()
            }
            GatewayError::Unauthenticated => {
                "Sign in as an operator or admin to use the control plane.".to_owned()
            }
            GatewayError::StorageUnavailable(_) => "The control plane cannot write its records right now (its disk is full or read-only, or its shared store does not answer), so nothing was previewed or written. Chat rooms keep working; try again later.".to_owned(),
            GatewayError::Internal(_) => "Something went wrong on our side; it has been logged.".to_owned(),
        }
    }
}

/// Rounds a wait up to whole seconds, at least one, for `Retry-After`.
pub(crate) fn whole_seconds_at_least_one(wait: Duration) -> u64 {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    seconds.max(1)
}

/// Why the gateway could not start. Each names what to fix.
#[derive(Debug, Error)]
pub enum GatewayStartupError {
    #[error("the rules file is invalid: {0}")]
    InvalidRules(String),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} resolves outside the gateway root {root}")]
    OutsideRoot { path: PathBuf, root: PathBuf },
    #[error("the telemetry log {path} cannot be continued: {problem} (check it with `chatctl verify-telemetry`)")]
    TelemetryTail { path: PathBuf, problem: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_details_never_reach_the_public_message() {
        let error = GatewayError::internal("writing /srv/secret/inbox", "permission denied");
        assert!(!error.public_message().contains("secret"));
        assert!(!error.public_message().contains("permission"));
        assert_eq!(error.http_status(), 500);
        assert!(error.is_server_fault());
    }

    #[test]
    fn spec_messages_are_verbatim() {
        assert_eq!(GatewayError::PreviewExpired.public_message(), "Preview has expired, please re-preview");
        assert_eq!(GatewayError::TaskCollision.public_message(), "Task ID already exists");
        assert_eq!(
            GatewayError::RateLimited { retry_after_seconds: 3 }.public_message(),
            "Too many requests, wait 3 seconds"
        );
        assert_eq!(GatewayError::RateLimited { retry_after_seconds: 3 }.retry_after(), Some(3));
        assert!(GatewayError::SessionMismatch("x").public_message().starts_with("Session ID does not match preview"));
        assert!(GatewayError::SchemaInvalid("x".into())
            .public_message()
            .starts_with("Normalized task failed schema validation"));
    }

    #[test]
    fn waits_round_up_to_whole_seconds() {
        assert_eq!(whole_seconds_at_least_one(Duration::ZERO), 1);
        assert_eq!(whole_seconds_at_least_one(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds_at_least_one(Duration::from_millis(1001)), 2);
        assert_eq!(whole_seconds_at_least_one(Duration::from_secs(3)), 3);
    }
}
