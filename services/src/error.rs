//! The service layer's error: what went wrong, in terms a client may be told.

use domain::rooms::FieldError;
use domain::{ErrorCode, PublicError};
use storage::StorageError;
use thiserror::Error;

pub type ServiceResult<T> = Result<T, ServiceError>;

#[derive(Debug, Error)]
pub enum ServiceError {
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A field broke a rule; the message says which and how.
    #[error("{message}")]
    Invalid { field: &'static str, message: String },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    LimitReached(String),
    /// The request needs a signed-in person.
    #[error("not signed in")]
    Unauthenticated,
    /// Signing in failed; one message whether the address is unknown or the password wrong.
    #[error("wrong email or password")]
    WrongCredentials,
    /// Signed in, but not allowed; the message says what would be needed.
    #[error("{0}")]
    Forbidden(String),
    /// Too many requests; `limit` names the limit in words for people, and waiting the given
    /// number of seconds helps.
    #[error("rate limited ({limit}) for {retry_after_seconds} s")]
    RateLimited { limit: String, retry_after_seconds: u64 },
    /// The agent's model is not on the server's list; the message names the list.
    #[error("{0}")]
    ModelNotAllowed(String),
    /// A spending limit was reached; the message names it, and when it resets if it does.
    #[error("{message}")]
    QuotaExceeded { message: String, retry_after_seconds: Option<u64> },
    /// A dependency (the database, a provider) cannot be reached; the text is for the log.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The control plane's gateway refused, in its own code and words (`PREVIEW_EXPIRED`,
    /// `PREVIEW_ALREADY_CONFIRMED`, ...), as it answers in the panel.
    #[error("{message}")]
    ControlPlane { code: ErrorCode, message: String, retry_after: Option<u64> },
    /// Anything else. Its details go to the server log, never to a client.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        ServiceError::Invalid { field, message: message.into() }
    }
}

impl PublicError for ServiceError {
    fn code(&self) -> ErrorCode {
        match self {
            ServiceError::NotFound(_) => ErrorCode::NotFound,
            ServiceError::Invalid { .. } => ErrorCode::ValidationFailed,
            ServiceError::Conflict(_) => ErrorCode::Conflict,
            ServiceError::LimitReached(_) => ErrorCode::LimitReached,
            ServiceError::Unauthenticated | ServiceError::WrongCredentials => ErrorCode::Unauthenticated,
            ServiceError::Forbidden(_) => ErrorCode::Forbidden,
            ServiceError::RateLimited { .. } => ErrorCode::RateLimited,
            ServiceError::ModelNotAllowed(_) => ErrorCode::ModelNotAllowed,
            ServiceError::QuotaExceeded { .. } => ErrorCode::QuotaExceeded,
            ServiceError::Unavailable(_) => ErrorCode::Unavailable,
            ServiceError::ControlPlane { code, .. } => *code,
            ServiceError::Internal(_) => ErrorCode::Internal,
        }
    }

    fn public_message(&self) -> String {
        match self {
            ServiceError::NotFound(what) => format!("{what} not found"),
            ServiceError::Invalid { message, .. } => message.clone(),
            ServiceError::Conflict(message) | ServiceError::LimitReached(message) => message.clone(),
            ServiceError::Unauthenticated => "Sign in first.".to_owned(),
            ServiceError::WrongCredentials => "The email or password is wrong.".to_owned(),
            ServiceError::Forbidden(message) => message.clone(),
            ServiceError::RateLimited { limit, retry_after_seconds } => {
                format!("{limit}; wait {retry_after_seconds} seconds and try again.")
            }
            ServiceError::ModelNotAllowed(message) => message.clone(),
            ServiceError::QuotaExceeded { message, .. } => message.clone(),
            ServiceError::Unavailable(_) => "The service is temporarily unavailable; please retry.".to_owned(),
            ServiceError::ControlPlane { message, .. } => message.clone(),
            ServiceError::Internal(_) => "Something went wrong on our side; it has been logged.".to_owned(),
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            ServiceError::RateLimited { retry_after_seconds, .. } => Some(*retry_after_seconds),
            ServiceError::QuotaExceeded { retry_after_seconds, .. } => *retry_after_seconds,
            ServiceError::ControlPlane { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl From<FieldError> for ServiceError {
    fn from(error: FieldError) -> Self {
        ServiceError::Invalid { field: error.field, message: error.message }
    }
}

impl From<StorageError> for ServiceError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::NotFound(what) => ServiceError::NotFound(what),
            StorageError::Conflict(message) => ServiceError::Conflict(message.to_owned()),
            StorageError::LimitReached(message) => ServiceError::LimitReached(message.to_owned()),
            StorageError::Unavailable(_) => ServiceError::Unavailable(error.to_string()),
            other => ServiceError::Internal(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_details_never_reach_the_public_message() {
        let error = ServiceError::Internal("syntax error at or near \"SELEC\"".to_owned());
        assert!(!error.public_message().contains("SELEC"));
        assert_eq!(error.code(), ErrorCode::Internal);
    }

    #[test]
    fn storage_errors_map_to_client_codes() {
        assert_eq!(ServiceError::from(StorageError::NotFound("room")).code(), ErrorCode::NotFound);
        assert_eq!(ServiceError::from(StorageError::Conflict("x")).code(), ErrorCode::Conflict);
        assert_eq!(ServiceError::from(StorageError::LimitReached("x")).code(), ErrorCode::LimitReached);
        assert_eq!(ServiceError::from(StorageError::Corrupt("x".into())).code(), ErrorCode::Internal);
    }
}
