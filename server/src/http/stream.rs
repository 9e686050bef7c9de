//! `GET /api/rooms/:id/stream`: a room's live events over Server-Sent Events.
//!
//! Every event carries an `id:`. A client reconnecting with `Last-Event-ID` (the header browsers
//! send, or the `last_event_id` query parameter for the first connection) gets exactly the events
//! after it while they are retained; beyond that it receives `stream.reset` and reloads.
//!
//! One client address (IPv6 by /64) holds at most `SSE_MAX_STREAMS_PER_ADDRESS` streams at once;
//! past it a new one is refused with `QUOTA_EXCEEDED` until one closes.

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use domain::events::{names, StreamReset};
use futures::Stream;
use http::HeaderMap;
use serde::Deserialize;
use services::events::{Feed, PublishedEvent, Resume};
use services::rooms;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use uuid::Uuid;

use gateway::ClientAddr;

use crate::auth::Caller;
use crate::http::extract::{ApiPath, ApiQuery};
use crate::http::ApiError;
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Where to resume on a first connection; a reconnecting browser sends `Last-Event-ID`.
    #[serde(default)]
    last_event_id: Option<String>,
}

/// The room's live events as Server-Sent Events: `message.new`, `message.delta`, `message.done`,
/// `run.status`, ... and `stream.reset` when the missed events are no longer kept.
#[utoipa::path(get, path = "/api/rooms/{room_id}/stream", tag = "rooms",
    params(
        ("room_id" = Uuid, Path, description = "The room."),
        StreamQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "The id of the last event received; wins over the query."),
    ),
    responses((status = 200, description = "An endless event stream.", content_type = "text/event-stream", body = String), error_response::Refusals))]
pub async fn room_stream(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ClientAddr(client): ClientAddr,
    ApiPath(room_id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<StreamQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    rooms::get_room(&state.services, &actor, room_id).await?;
    let most = state.config.sse_max_streams_per_address;
    let slot = StreamSlots::take(&state.stream_slots, client, most).ok_or_else(|| {
        ApiError::from(services::ServiceError::QuotaExceeded {
            message: format!(
                "Your address has {most} live streams open, the most allowed (SSE_MAX_STREAMS_PER_ADDRESS); close one first."
            ),
            retry_after_seconds: None,
        })
    })?;
    // The header a reconnecting browser sends wins over the query of the first connection.
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or(query.last_event_id)
        .filter(|id| !id.trim().is_empty());
    let subscription = state.services.events.subscribe(room_id, last_event_id.as_deref()).await?;
    let current_id = state.services.events.current_id(room_id).await;
    let keep_alive = KeepAlive::new().interval(state.config.sse_keep_alive).text("keep-alive");
    let events = feed(subscription, current_id, state.services.shutdown.clone(), slot);
    let mut response = Sse::new(events).keep_alive(keep_alive).into_response();
    // Tell reverse proxies such as nginx not to buffer the stream.
    response.headers_mut().insert("x-accel-buffering", http::HeaderValue::from_static("no"));
    Ok(response)
}

fn to_sse(event: &PublishedEvent) -> Event {
    Event::default().id(event.id.as_str()).event(event.name.as_str()).data(event.data.as_str())
}

fn reset_event(id: &str, reason: String) -> Event {
    let data = serde_json::to_string(&StreamReset { reason }).unwrap_or_else(|_| "{}".to_owned());
    Event::default().id(id).event(names::STREAM_RESET).data(data)
}

fn feed(
    mut subscription: services::events::Subscription,
    current_id: String,
    shutdown: tokio_util::sync::CancellationToken,
    slot: Option<StreamSlot>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    async_stream::stream! {
        let _connected = ConnectionGauge::new();
        // Held until the stream ends, however it ends.
        let _slot = slot;
        match std::mem::replace(&mut subscription.resume, Resume::Replay(Vec::new())) {
            Resume::Replay(missed) => {
                for event in &missed {
                    yield Ok(to_sse(event));
                }
            }
            Resume::Reset(reason) => yield Ok(reset_event(&current_id, reason)),
        }
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => break,
                next = subscription.next() => next,
            };
            match next {
                Some(Feed::Event(event)) => yield Ok(to_sse(&event)),
                Some(Feed::Reset(reason)) => {
                    yield Ok(reset_event(&current_id, reason));
                    break;
                }
                None => break,
            }
        }
    }
}

/// Counts open streams in the `sse_connections` gauge for as long as it lives.
struct ConnectionGauge;

impl ConnectionGauge {
    fn new() -> Self {
        metrics::gauge!("sse_connections").increment(1.0);
        ConnectionGauge
    }
}

impl Drop for ConnectionGauge {
    fn drop(&mut self) {
        metrics::gauge!("sse_connections").decrement(1.0);
    }
}

/// The live streams each client address (its rate key: IPv6 by /64) holds open.
#[derive(Debug, Default)]
pub struct StreamSlots {
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl StreamSlots {
    /// A slot for one more stream from `client`, or `None` when it already holds `most`. A request
    /// with no known address (served in-process) takes no slot.
    fn take(slots: &Arc<StreamSlots>, client: Option<IpAddr>, most: usize) -> Option<Option<StreamSlot>> {
        let Some(client) = client else { return Some(None) };
        let key = services::rate_key(client);
        let mut open = slots.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(key).or_insert(0);
        if *count >= most {
            return None;
        }
        *count += 1;
        Some(Some(StreamSlot { slots: Arc::clone(slots), key }))
    }

    /// How many addresses hold streams now.
    pub fn addresses(&self) -> usize {
        self.open.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// One open stream's place in its address's count, given back when dropped.
#[derive(Debug)]
pub struct StreamSlot {
    slots: Arc<StreamSlots>,
    key: IpAddr,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}
