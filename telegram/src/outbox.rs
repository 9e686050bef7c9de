//! Sending to Telegram: a call told to wait (`429` with `retry_after`) waits that long and tries
//! again; a network failure is tried again after a short pause. Both a bounded number of times,
//! so one chat's trouble cannot hold the bot up for long.

use std::time::Duration;

use teloxide::requests::{Payload, Request};
use teloxide::{ApiError, RequestError};

/// Attempts per call.
const ATTEMPTS: u32 = 4;
/// The longest `retry_after` honoured; a longer one gives up on this call.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Sends `request`, honouring Telegram's `retry_after`.
pub(crate) async fn deliver<R>(request: R) -> Result<<R::Payload as Payload>::Output, RequestError>
where
    R: Request<Err = RequestError>,
{
    let mut attempt = 1;
    loop {
        let error = match request.send_ref().await {
            Ok(output) => return Ok(output),
            Err(error) => error,
        };
        metrics::counter!("telegram_api_errors_total", "kind" => error_kind(&error)).increment(1);
        let pause = match &error {
            RequestError::RetryAfter(seconds) => seconds.duration(),
            RequestError::Network(_) | RequestError::Io(_) => Duration::from_millis(250 * u64::from(attempt)),
            _ => return Err(error),
        };
        if attempt >= ATTEMPTS || pause > MAX_RETRY_AFTER {
            return Err(error);
        }
        tracing::info!(%error, wait_ms = pause.as_millis() as u64, attempt, "Telegram asked to wait; sending again");
        tokio::time::sleep(pause).await;
        attempt += 1;
    }
}

/// Whether an edit failed only because the message already says that (a second instance, or a
/// retried call, got there first).
pub(crate) fn already_so(error: &RequestError) -> bool {
    matches!(error, RequestError::Api(ApiError::MessageNotModified))
}

/// A label for the metrics.
pub(crate) fn error_kind(error: &RequestError) -> &'static str {
    match error {
        RequestError::Api(_) => "api",
        RequestError::MigrateToChatId(_) => "migrated",
        RequestError::RetryAfter(_) => "retry_after",
        RequestError::Network(_) => "network",
        RequestError::InvalidJson { .. } => "invalid_json",
        RequestError::Io(_) => "io",
    }
}
