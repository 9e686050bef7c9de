//! The error every server function returns: the same `{code, message}` the REST API sends.

use domain::ErrorBody;
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct AppError {
    pub code: String,
    pub message: String,
}

impl AppError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self { code: code.into(), message: message.into() }
    }

    /// A 404 for something the page itself knows cannot exist (e.g. a malformed id).
    pub fn not_found(what: &str) -> Self {
        #[cfg(feature = "ssr")]
        if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(http::StatusCode::NOT_FOUND);
        }
        Self::new("NOT_FOUND", format!("{what} not found"))
    }
}

impl From<ErrorBody> for AppError {
    fn from(body: ErrorBody) -> Self {
        Self { code: body.error.code, message: body.error.message }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            // Arguments the server could not read are the client's fault, and safe to describe.
            ServerFnErrorErr::Args(_) | ServerFnErrorErr::MissingArg(_) => {
                AppError::new("MALFORMED_JSON", "The request could not be read.")
            }
            ServerFnErrorErr::Request(_) => {
                AppError::new("NETWORK", "The server could not be reached. Check your connection and retry.")
            }
            _ => AppError::new("INTERNAL", "Something went wrong; please retry."),
        }
    }
}

#[cfg(feature = "ssr")]
impl From<services::ServiceError> for AppError {
    /// Logs server faults once, with their details, and sets the HTTP status of the response.
    fn from(error: services::ServiceError) -> Self {
        if error.is_server_fault() {
            tracing::error!(error = %error, "server function failed");
        }
        let code = error.code();
        if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            if let Ok(status) = http::StatusCode::from_u16(code.http_status()) {
                response.set_status(status);
            }
        }
        AppError::new(code.as_str(), error.public_message())
    }
}
