//! The error every server function returns: the same `{code, message}` the REST API sends,
//! with the code typed so pages branch on it without comparing strings.

use domain::{ErrorBody, ErrorCode};

use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
}

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    /// A 404 for something the page itself knows cannot exist (e.g. a malformed id).
    pub fn not_found(what: &str) -> Self {
        #[cfg(feature = "ssr")]
        ssr::set_status(ErrorCode::NotFound.http_status());
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }
}

impl From<ErrorBody> for AppError {
    fn from(body: ErrorBody) -> Self {
        Self { code: body.code().unwrap_or(ErrorCode::Internal), message: body.error.message }
    }
}

impl FromServerFnError for AppError {
    type Encoder = crate::codec::JsonTextEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            // Arguments the server could not read are the client's fault, and safe to describe.
            ServerFnErrorErr::Args(_) | ServerFnErrorErr::MissingArg(_) => {
                #[cfg(feature = "ssr")]
                ssr::set_status(ErrorCode::MalformedJson.http_status());
                AppError::new(ErrorCode::MalformedJson, "The request could not be read.")
            }
            ServerFnErrorErr::Request(_) => {
                AppError::new(ErrorCode::Network, "The server could not be reached. Check your connection and retry.")
            }
            _ => AppError::new(ErrorCode::Internal, "Something went wrong; please retry."),
        }
    }
}

#[cfg(feature = "ssr")]
mod ssr {
    use domain::PublicError;
    use error_response::ErrorReply;

    use super::AppError;

    pub fn set_status(status: u16) {
        if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            if let Ok(status) = http::StatusCode::from_u16(status) {
                response.set_status(status);
            }
        }
    }

    /// A server function's failure takes the one path every error takes to a response: its
    /// status (and `Retry-After`, for a limit that lifts) goes on the response, its public body
    /// to the browser.
    fn reply(error: &impl PublicError) -> AppError {
        let reply = ErrorReply::new(error);
        set_status(reply.status.as_u16());
        if let Some(seconds) = reply.retry_after {
            if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
                response.insert_header(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
            }
        }
        AppError::from(reply.body)
    }

    impl From<services::ServiceError> for AppError {
        fn from(error: services::ServiceError) -> Self {
            reply(&error)
        }
    }

    impl From<gateway::GatewayError> for AppError {
        fn from(error: gateway::GatewayError) -> Self {
            reply(&error)
        }
    }
}
