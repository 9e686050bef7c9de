//! The REST API's error: a service-layer error, or a request the extractors refused. It is a
//! [`PublicError`] like every other, so it answers through the one path in `error-response`.

use std::fmt;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::response::{IntoResponse, Response};
use domain::{ErrorCode, PublicError};
use error_response::ErrorReply;
use http::StatusCode;
use services::ServiceError;

#[derive(Debug)]
pub enum ApiError {
    Service(ServiceError),
    Json(JsonRejection),
    Path(PathRejection),
    Query(QueryRejection),
    NotFound(&'static str),
    /// A handler panicked; the panic's text was logged where it was caught.
    Panicked,
    /// The request's answer had not begun within `HTTP_REQUEST_TIMEOUT_SECONDS`.
    TimedOut,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Service(error) => error.fmt(f),
            ApiError::Json(rejection) => rejection.fmt(f),
            ApiError::Path(rejection) => rejection.fmt(f),
            ApiError::Query(rejection) => rejection.fmt(f),
            ApiError::NotFound(what) => write!(f, "{what} not found"),
            ApiError::Panicked => f.write_str("a handler panicked"),
            ApiError::TimedOut => f.write_str("the request timed out"),
        }
    }
}

impl PublicError for ApiError {
    fn code(&self) -> ErrorCode {
        match self {
            ApiError::Service(error) => error.code(),
            ApiError::Json(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ErrorCode::PayloadTooLarge
            }
            ApiError::Json(_) => ErrorCode::MalformedJson,
            ApiError::Path(_) | ApiError::NotFound(_) => ErrorCode::NotFound,
            ApiError::Query(_) => ErrorCode::ValidationFailed,
            ApiError::Panicked => ErrorCode::Internal,
            ApiError::TimedOut => ErrorCode::RequestTimeout,
        }
    }

    fn http_status(&self) -> u16 {
        match self {
            ApiError::Json(JsonRejection::MissingJsonContentType(_)) => StatusCode::UNSUPPORTED_MEDIA_TYPE.as_u16(),
            // A query string that does not parse is a bad request, not a value that breaks a rule.
            ApiError::Query(_) => StatusCode::BAD_REQUEST.as_u16(),
            other => other.code().http_status(),
        }
    }

    fn public_message(&self) -> String {
        match self {
            ApiError::Service(error) => error.public_message(),
            ApiError::Json(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                format!("The request body is larger than {} bytes.", super::MAX_BODY_BYTES)
            }
            ApiError::Json(JsonRejection::MissingJsonContentType(_)) => {
                "Send the body as JSON with Content-Type: application/json.".to_owned()
            }
            // The extractors' texts describe the request, never the server: safe to show.
            ApiError::Json(rejection) => rejection.body_text(),
            ApiError::Query(rejection) => rejection.body_text(),
            ApiError::Path(_) => "No such resource.".to_owned(),
            ApiError::NotFound(what) => format!("{what} not found"),
            ApiError::Panicked => "Something went wrong on our side; it has been logged.".to_owned(),
            ApiError::TimedOut => {
                "The request took too long: its body did not arrive, or its answer could not begin, in time (HTTP_REQUEST_TIMEOUT_SECONDS).".to_owned()
            }
        }
    }

    /// A limit that lifts says when, so clients can wait instead of retrying blindly.
    fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::Service(error) => error.retry_after(),
            _ => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        ErrorReply::new(&self).into_response()
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        ApiError::Service(error)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        ApiError::Json(rejection)
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::Path(rejection)
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::Query(rejection)
    }
}
