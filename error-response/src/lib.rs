//! The one path from an error to an HTTP response. Every layer's error implements
//! [`PublicError`]; [`ErrorReply::new`] logs a server fault once, with its details, and keeps
//! only what a client may see: the status, `{"error": {"code", "message"}}` and `Retry-After`.
//! REST handlers answer with it directly; server functions take its status and body.

use axum::response::{IntoResponse, Response};
use axum::Json;
use domain::{ErrorBody, PublicError};
use http::{header, HeaderValue, StatusCode};

/// An error as a client receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReply {
    pub status: StatusCode,
    pub body: ErrorBody,
    pub retry_after: Option<u64>,
}

impl ErrorReply {
    /// The reply for `error`. A server fault is logged here with its details, which never reach
    /// the reply.
    pub fn new<E: PublicError + ?Sized>(error: &E) -> Self {
        let code = error.code();
        if error.is_server_fault() {
            tracing::error!(code = code.as_str(), error = %error, "request failed on the server");
        }
        Self {
            status: StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body: error.to_body(),
            retry_after: error.retry_after(),
        }
    }
}

impl IntoResponse for ErrorReply {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// The refusals every API route may answer with, for its OpenAPI description: each status with
/// the `{"error": {"code", "message"}}` body. Which codes go with which status is
/// [`domain::ErrorCode::http_status`].
pub struct Refusals;

impl utoipa::IntoResponses for Refusals {
    fn responses() -> std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::response::Response>> {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        const STATUSES: &[(u16, &str)] = &[
            (400, "The body is not JSON or not the expected shape (MALFORMED_JSON)."),
            (401, "Nobody is signed in, or the token is not valid (UNAUTHENTICATED)."),
            (403, "The caller may not do this, or another site sent the request (FORBIDDEN, CROSS_SITE, SESSION_MISMATCH)."),
            (404, "The resource does not exist, or the caller may not see it (NOT_FOUND, PREVIEW_NOT_FOUND, TASK_NOT_FOUND)."),
            (408, "The request's body or answer did not come in time (REQUEST_TIMEOUT)."),
            (409, "The request conflicts with the current state (CONFLICT, PREVIEW_ALREADY_CONFIRMED, TOO_MANY_PREVIEWS, TASK_COLLISION)."),
            (410, "The preview has expired (PREVIEW_EXPIRED)."),
            (413, "The body is larger than the server reads (PAYLOAD_TOO_LARGE)."),
            (415, "The body is not sent as JSON (MALFORMED_JSON)."),
            (421, "The request named a host this server does not answer for (HOST_NOT_ALLOWED)."),
            (422, "A field breaks a rule; the message names it (VALIDATION_FAILED, INVALID_FIELD, LIMIT_REACHED, ...)."),
            (429, "A rate or spending limit was reached; Retry-After says when to try again (RATE_LIMITED, QUOTA_EXCEEDED)."),
            (503, "A dependency is unavailable; Retry-After may say when to try again (UNAVAILABLE, STORAGE_UNAVAILABLE, TOO_MANY_SESSIONS)."),
        ];
        STATUSES
            .iter()
            .map(|(status, description)| {
                let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
                let response = ResponseBuilder::new().description(*description).content("application/json", content);
                (status.to_string(), response.build().into())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use domain::ErrorCode;
    use http_body_util::BodyExt;

    use super::*;

    #[derive(Debug)]
    struct Limited;

    impl std::fmt::Display for Limited {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("bucket empty for 10.0.0.1")
        }
    }

    impl PublicError for Limited {
        fn code(&self) -> ErrorCode {
            ErrorCode::RateLimited
        }
        fn public_message(&self) -> String {
            "Too many requests, wait 3 seconds".to_owned()
        }
        fn retry_after(&self) -> Option<u64> {
            Some(3)
        }
    }

    #[derive(Debug)]
    struct DiskFull;

    impl std::fmt::Display for DiskFull {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("writing /srv/secret/inbox: no space left on device")
        }
    }

    impl PublicError for DiskFull {
        fn code(&self) -> ErrorCode {
            ErrorCode::Internal
        }
        fn public_message(&self) -> String {
            "Something went wrong on our side; it has been logged.".to_owned()
        }
    }

    async fn body(response: Response) -> serde_json::Value {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn a_refusal_carries_its_status_code_message_and_wait() {
        let response = ErrorReply::new(&Limited).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "3");
        let body = body(response).await;
        assert_eq!(body["error"]["code"], "RATE_LIMITED");
        assert_eq!(body["error"]["message"], "Too many requests, wait 3 seconds");
    }

    #[tokio::test]
    async fn a_server_fault_never_shows_its_details() {
        let response = ErrorReply::new(&DiskFull).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.headers().get(header::RETRY_AFTER).is_none());
        let text = body(response).await.to_string();
        assert!(!text.contains("secret") && !text.contains("space"), "{text}");
        assert!(text.contains("INTERNAL"));
    }
}
