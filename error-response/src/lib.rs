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
