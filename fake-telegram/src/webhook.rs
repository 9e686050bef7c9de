//! Webhook delivery: while a webhook is set, the oldest pending update is POSTed to it, one at a
//! time, until the bot's endpoint confirms it with a 2xx answer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE, HOST};
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::{unix_now, Shared, WebhookDelivery};

/// How long the bot's endpoint has to answer a delivery.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// A webhook as set with `setWebhook`.
pub(crate) struct Webhook {
    pub url: String,
    pub uri: Uri,
    pub secret: Option<String>,
    pub allowed_updates: Vec<String>,
    pub max_connections: u32,
    /// When the last delivery failed (Unix time) and why, in Telegram's words.
    pub last_error: Option<(i64, String)>,
}

/// Delivers updates for as long as the fake runs.
pub(crate) async fn deliver(shared: Arc<Shared>) {
    let mut changed = shared.subscribe();
    loop {
        changed.borrow_and_update();
        let next = {
            let state = shared.state();
            match (&state.webhook, state.updates.front()) {
                (Some(hook), Some((id, update))) => {
                    Some((hook.uri.clone(), hook.secret.clone(), *id, update.to_string()))
                }
                _ => None,
            }
        };
        let Some((uri, secret, update_id, body)) = next else {
            if changed.changed().await.is_err() {
                return;
            }
            continue;
        };
        let at = Instant::now();
        let outcome = match tokio::time::timeout(ANSWER_TIMEOUT, post(&uri, secret.as_deref(), body)).await {
            Ok(Ok(status)) if status.is_success() => Ok(status),
            Ok(Ok(status)) => Err((Some(status), format!("Wrong response from the webhook: {status}"))),
            Ok(Err(error)) => Err((None, error)),
            Err(_) => Err((None, "Read timeout expired".to_owned())),
        };
        let retry_delay = {
            let mut state = shared.state();
            let status = match &outcome {
                Ok(status) => Some(*status),
                Err((status, _)) => *status,
            };
            state.webhook_deliveries.push(WebhookDelivery { update_id, status: status.map(|s| s.as_u16()), at });
            match outcome {
                Ok(_) => {
                    if state.updates.front().is_some_and(|(id, _)| *id == update_id) {
                        state.updates.pop_front();
                    }
                    None
                }
                Err((_, message)) => {
                    if let Some(hook) = state.webhook.as_mut() {
                        hook.last_error = Some((unix_now(), message));
                    }
                    Some(state.webhook_retry_delay)
                }
            }
        };
        shared.changed();
        if let Some(delay) = retry_delay {
            tokio::time::sleep(delay).await;
        }
    }
}

/// POSTs `body` to `uri` over a connection of its own and returns the answer's status.
async fn post(uri: &Uri, secret: Option<&str>, body: String) -> Result<StatusCode, String> {
    let host = uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
    let stream =
        TcpStream::connect((host, uri.port_u16().unwrap_or(80))).await.map_err(|error| match error.kind() {
            std::io::ErrorKind::ConnectionRefused => "Connection refused".to_owned(),
            _ => error.to_string(),
        })?;
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|error| error.to_string())?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = Request::post(path)
        .header(HOST, uri.authority().map_or(host, |a| a.as_str()))
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|error| error.to_string())?;
    if let Some(secret) = secret {
        let value = HeaderValue::from_str(secret).map_err(|error| error.to_string())?;
        request.headers_mut().insert("x-telegram-bot-api-secret-token", value);
    }
    // The connection is driven here, so it closes as soon as the answer's head has arrived.
    tokio::select! {
        response = sender.send_request(request) => {
            response.map(|r| r.status()).map_err(|error| error.to_string())
        }
        _ = async { let _ = connection.await; std::future::pending::<()>().await } => unreachable!(),
    }
}
