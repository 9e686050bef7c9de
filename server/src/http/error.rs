//! The API's one error type: every failure becomes `{"error": {"code", "message"}}` with the
//! matching status. Server faults are logged here, once, with their details; the client only
//! ever sees the public message.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::response::{IntoResponse, Response};
use axum::Json;
use domain::{ErrorBody, ErrorCode};
use http::StatusCode;
use services::ServiceError;

#[derive(Debug)]
pub enum ApiError {
    Service(ServiceError),
    Json(JsonRejection),
    Path(PathRejection),
    Query(QueryRejection),
    NotFound(&'static str),
    Internal,
}

impl ApiError {
    fn parts(&self) -> (StatusCode, String, String) {
        match self {
            ApiError::Service(error) => {
                if error.is_server_fault() {
                    tracing::error!(error = %error, "request failed in the service layer");
                }
                let code = error.code();
                (status_of(code), code.as_str().to_owned(), error.public_message())
            }
            ApiError::Json(rejection) => {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    (
                        StatusCode::PAYLOAD_TOO_LARGE,
                        ErrorCode::PayloadTooLarge.as_str().to_owned(),
                        format!("The request body is larger than {} bytes.", super::MAX_BODY_BYTES),
                    )
                } else if matches!(rejection, JsonRejection::MissingJsonContentType(_)) {
                    (
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        ErrorCode::MalformedJson.as_str().to_owned(),
                        "Send the body as JSON with Content-Type: application/json.".to_owned(),
                    )
                } else {
                    (StatusCode::BAD_REQUEST, ErrorCode::MalformedJson.as_str().to_owned(), rejection.body_text())
                }
            }
            ApiError::Path(_) => {
                (StatusCode::NOT_FOUND, ErrorCode::NotFound.as_str().to_owned(), "No such resource.".to_owned())
            }
            ApiError::Query(rejection) => {
                (StatusCode::BAD_REQUEST, ErrorCode::ValidationFailed.as_str().to_owned(), rejection.body_text())
            }
            ApiError::NotFound(what) => {
                (StatusCode::NOT_FOUND, ErrorCode::NotFound.as_str().to_owned(), format!("{what} not found"))
            }
            ApiError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal.as_str().to_owned(),
                "Something went wrong on our side; it has been logged.".to_owned(),
            ),
        }
    }
}

fn status_of(code: ErrorCode) -> StatusCode {
    StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        (status, Json(ErrorBody::new(code, message))).into_response()
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
