//! Request ids, one tracing span per request, and panics turned into a JSON 500.

use std::time::Duration;

use axum::extract::MatchedPath;
use axum::response::{IntoResponse, Response};
use http::{HeaderName, Request};
use tracing::{field, Span};

use crate::http::ApiError;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The observing middleware, outermost first: a request id is set (a well-formed incoming
/// `x-request-id` is kept), a span records the request, the id is echoed on the response, panics
/// become 500s.
macro_rules! observe_layers {
    () => {
        tower::ServiceBuilder::new()
            .layer(tower::util::MapRequestLayer::new($crate::http::observe::drop_malformed_request_id))
            .layer(tower_http::request_id::SetRequestIdLayer::new(
                $crate::http::observe::REQUEST_ID,
                tower_http::request_id::MakeRequestUuid,
            ))
            .layer(
                tower_http::trace::TraceLayer::new_for_http()
                    .make_span_with($crate::http::observe::request_span)
                    .on_request(())
                    .on_response($crate::http::observe::log_response)
                    .on_body_chunk(())
                    .on_eos(())
                    .on_failure(()),
            )
            .layer(tower_http::request_id::PropagateRequestIdLayer::new($crate::http::observe::REQUEST_ID))
            .layer(tower_http::catch_panic::CatchPanicLayer::custom($crate::http::observe::panic_response))
    };
}
pub(crate) use observe_layers;

/// The longest client-chosen request id kept.
const MAX_REQUEST_ID_LEN: usize = 64;

/// A client may name its request (to follow it through logs), but only with a short token of
/// letters, digits and `-_.:`; anything else is dropped and replaced by a generated id, so log
/// lines and response headers never carry arbitrary client text.
pub fn drop_malformed_request_id<B>(mut request: Request<B>) -> Request<B> {
    let well_formed = request.headers().get(&REQUEST_ID).is_none_or(|value| {
        let bytes = value.as_bytes();
        !bytes.is_empty()
            && bytes.len() <= MAX_REQUEST_ID_LEN
            && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
    });
    if !well_formed {
        request.headers_mut().remove(&REQUEST_ID);
    }
    request
}

pub fn request_span<B>(request: &Request<B>) -> Span {
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    let request_id = request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
    tracing::info_span!(
        "request",
        method = %request.method(),
        route = route.as_deref().unwrap_or("unmatched"),
        path = %request.uri().path(),
        request_id = %request_id,
        status = field::Empty,
        latency_ms = field::Empty,
    )
}

pub fn log_response<B>(response: &http::Response<B>, latency: Duration, span: &Span) {
    let status = response.status().as_u16();
    let latency_ms = latency.as_secs_f64() * 1000.0;
    span.record("status", status);
    span.record("latency_ms", latency_ms);
    if response.status().is_server_error() {
        tracing::error!(status, latency_ms, "request failed");
    } else {
        tracing::info!(status, latency_ms, "request completed");
    }
}

pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = detail, "handler panicked");
    ApiError::Panicked.into_response()
}
