//! Room events through Redis Streams, for several instances behind one load balancer.
//!
//! - Every event is appended to its room's stream by a Lua script that also counts the room's
//!   events (`seq`, so a client that saw none can be told whether it missed any) and keeps the
//!   text so far of a streaming message (so a page rendered on another instance shows it).
//!   Events are queued and written in order by one writer task; publishing never waits.
//! - One reader task per instance follows, with blocking `XREAD`s on its own connection, the
//!   streams of the rooms its clients watch, and hands what it reads to the local subscribers.
//!   A private wake-up stream interrupts the blocking read when a room is added.
//! - Streams are trimmed to the retention count and expire after the retention age, as the
//!   in-process buffer is.
//! - When Redis goes away, local subscribers are told to reload or resume; an event that could
//!   not be written is followed by a `stream.reset` entry in its room, so clients on every
//!   instance reload rather than silently miss it.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::events::{names, RoomEvent, StreamReset};
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::streams::{StreamId, StreamRangeReply, StreamReadOptions, StreamReadReply};
use redis::{AsyncConnectionConfig, Script};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{LocalRooms, PublishedEvent, Retention, StopRequest, StopScope, NO_EVENTS_YET};
use crate::lock;

/// Redis did not answer as expected.
#[derive(Debug, thiserror::Error)]
#[error("Redis: {0}")]
pub struct RelayError(#[from] redis::RedisError);

/// A change to the set of rooms this instance reads.
pub(super) enum WatchChange {
    /// Read the room's stream after `from`, unless it is read already.
    Watch {
        room_id: Uuid,
        from: String,
    },
    Forget(Uuid),
}

/// A room's newest stream entry.
pub(super) struct Newest {
    pub id: String,
    pub seq: u64,
}

/// Events waiting to be written; past it publishing drops the event and marks the room broken.
const OUTGOING_CAPACITY: usize = 65_536;
/// How long one blocking read waits for news (the wake-up stream cuts it short).
const READ_BLOCK: Duration = Duration::from_secs(5);
/// The most entries one read takes from each stream.
const READ_BATCH: usize = 1024;
/// How often a write is tried before its event is given up.
const WRITE_ATTEMPTS: u32 = 3;

/// Appends one event: KEYS = stream, counter, live text; ARGV = max length, expiry (ms), name,
/// data, live-text action (`keep`|`append`|`clear`), live-text delta.
const PUBLISH_SCRIPT: &str = r"
local seq = redis.call('INCR', KEYS[2])
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'seq', seq, 'name', ARGV[3], 'data', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
if ARGV[5] == 'append' then
  redis.call('APPEND', KEYS[3], ARGV[6])
  redis.call('PEXPIRE', KEYS[3], ARGV[2])
elseif ARGV[5] == 'clear' then
  redis.call('DEL', KEYS[3])
end
return id
";

// Keys carry the room in braces, so a room's keys share one Redis Cluster slot.
fn stream_key(room_id: Uuid) -> String {
    format!("ais:room:{{{room_id}}}:events")
}

fn counter_key(room_id: Uuid) -> String {
    format!("ais:room:{{{room_id}}}:count")
}

fn live_text_key(room_id: Uuid, message_id: Uuid) -> String {
    format!("ais:room:{{{room_id}}}:live:{message_id}")
}

/// Every instance reads this stream: a room named in it is to be stopped by whoever drives it.
const STOP_REQUESTS_KEY: &str = "ais:stop-requests";
/// Stop requests kept in the stream; a reader that reconnects starts from the newest.
const STOP_REQUESTS_KEPT: usize = 1024;

fn room_of_key(key: &str) -> Option<Uuid> {
    let (_, rest) = key.split_once('{')?;
    let (room, _) = rest.split_once('}')?;
    room.parse().ok()
}

/// A stream entry id (`<ms>-<n>`) as one ordered number; `None` for anything else.
pub(super) fn entry_order(id: &str) -> Option<u64> {
    let (ms, n) = id.split_once('-')?;
    let ms: u64 = ms.parse().ok()?;
    let n: u64 = n.parse().ok()?;
    (ms < 1 << 43).then(|| (ms << 20) | n.min((1 << 20) - 1))
}

enum LiveText {
    Keep,
    Append(Uuid, String),
    Clear(Uuid),
}

struct Outgoing {
    room_id: Uuid,
    name: &'static str,
    data: String,
    live: LiveText,
}

pub(super) struct RedisRelay {
    manager: ConnectionManager,
    outgoing: mpsc::Sender<Outgoing>,
    changes: mpsc::UnboundedSender<WatchChange>,
    wake_key: String,
    /// Events handed to the writer so far, and those it has written (or given up) so far: a
    /// flush waits for the second to reach what the first was when it began.
    queued: Arc<AtomicU64>,
    settled: Arc<AtomicU64>,
    /// Rooms that lost an event; the next write to each first appends a `stream.reset`.
    broken: Arc<Mutex<HashSet<Uuid>>>,
    retention: Retention,
}

impl RedisRelay {
    pub(super) async fn start(
        client: redis::Client,
        instance: &str,
        retention: Retention,
        local: Arc<LocalRooms>,
        stop_requests: broadcast::Sender<StopRequest>,
        (changes, changes_rx): (mpsc::UnboundedSender<WatchChange>, mpsc::UnboundedReceiver<WatchChange>),
        shutdown: CancellationToken,
    ) -> Result<Self, RelayError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let manager = ConnectionManager::new_with_config(client.clone(), config).await?;
        let (outgoing, outgoing_rx) = mpsc::channel(OUTGOING_CAPACITY);
        let relay = Self {
            manager,
            outgoing,
            changes,
            wake_key: format!("ais:instance:{instance}:wake"),
            queued: Arc::default(),
            settled: Arc::default(),
            broken: Arc::default(),
            retention,
        };
        let writer = Writer {
            manager: relay.manager.clone(),
            script: Script::new(PUBLISH_SCRIPT),
            retention,
            settled: relay.settled.clone(),
            broken: relay.broken.clone(),
        };
        tokio::spawn(writer.run(outgoing_rx));
        let reader =
            Reader { client, local, stop_requests, wake_key: relay.wake_key.clone(), positions: HashMap::new() };
        tokio::spawn(reader.run(changes_rx, shutdown));
        Ok(relay)
    }

    pub(super) fn publish(&self, room_id: Uuid, event: &RoomEvent, data: String) {
        let live = match event {
            RoomEvent::MessageDelta(delta) => LiveText::Append(delta.message_id, delta.delta.clone()),
            RoomEvent::MessageDone(message) | RoomEvent::MessageUpdated(message) => LiveText::Clear(message.id),
            _ => LiveText::Keep,
        };
        // Counted before it is queued, so a flush that begins after this call waits for it.
        self.queued.fetch_add(1, Ordering::AcqRel);
        if self.outgoing.try_send(Outgoing { room_id, name: event.name(), data, live }).is_err() {
            self.settled.fetch_add(1, Ordering::AcqRel);
            lock(&self.broken).insert(room_id);
            metrics::counter!("live_events_lost_total").increment(1);
            tracing::warn!(%room_id, "the live-event queue to Redis is full; the room's clients will reload");
        }
    }

    pub(super) async fn newest(&self, room_id: Uuid) -> Result<Newest, RelayError> {
        let reply: StreamRangeReply = redis::cmd("XREVRANGE")
            .arg(stream_key(room_id))
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut self.manager.clone())
            .await?;
        Ok(match reply.ids.first() {
            Some(entry) => Newest { seq: entry_order(&entry.id).unwrap_or(0), id: entry.id.clone() },
            None => Newest { id: NO_EVENTS_YET.to_owned(), seq: 0 },
        })
    }

    /// The events after `after`, or why the client must reload instead.
    pub(super) async fn replay_after(
        &self,
        room_id: Uuid,
        after: &str,
    ) -> Result<Result<Vec<Arc<PublishedEvent>>, &'static str>, RelayError> {
        let limit = self.retention.max_events * 2;
        let Some(after_order) = entry_order(after) else { return Ok(Err("the last event id is unknown")) };
        let from_the_start = after_order == 0;
        let reply: StreamRangeReply = redis::cmd("XRANGE")
            .arg(stream_key(room_id))
            .arg(if from_the_start { "-" } else { after })
            .arg("+")
            .arg("COUNT")
            .arg(limit + 2)
            .query_async(&mut self.manager.clone())
            .await?;
        let mut entries = reply.ids.into_iter();
        if from_the_start {
            // Nothing is missing only when the room's first event is still there.
            let entries: Vec<_> = entries.collect();
            if entries.first().is_some_and(|first| first.get::<u64>("seq") != Some(1)) {
                return Ok(Err("the missed events are no longer retained"));
            }
            return Ok(collect_events(entries.into_iter(), limit));
        }
        match entries.next() {
            None => Ok(Err("the last event id is unknown")),
            Some(first) if entry_order(&first.id) != Some(after_order) => {
                Ok(Err("the missed events are no longer retained"))
            }
            Some(_) => Ok(collect_events(entries, limit)),
        }
    }

    /// Has the reader follow the room from `from` on, and wakes it to do so now.
    pub(super) async fn watch(&self, room_id: Uuid, from: &str) {
        let _ = self.changes.send(WatchChange::Watch { room_id, from: from.to_owned() });
        let woken: Result<String, _> = redis::cmd("XADD")
            .arg(&self.wake_key)
            .arg("MAXLEN")
            .arg("~")
            .arg(16)
            .arg("*")
            .arg("room")
            .arg(room_id.to_string())
            .query_async(&mut self.manager.clone())
            .await;
        if let Err(error) = woken {
            // The reader still picks the room up at its next read, within READ_BLOCK.
            tracing::debug!(error = %error, "cannot wake the live-event reader");
        }
    }

    /// Appends the room, and what to stop there, to the stop-request stream every instance reads.
    pub(super) async fn announce_stop(&self, request: StopRequest) -> Result<(), RelayError> {
        let scope = match request.scope {
            StopScope::Everything => "everything",
            StopScope::Replies => "replies",
        };
        let _: String = redis::cmd("XADD")
            .arg(STOP_REQUESTS_KEY)
            .arg("MAXLEN")
            .arg("~")
            .arg(STOP_REQUESTS_KEPT)
            .arg("*")
            .arg("room")
            .arg(request.room_id.to_string())
            .arg("scope")
            .arg(scope)
            .query_async(&mut self.manager.clone())
            .await?;
        Ok(())
    }

    pub(super) async fn ping(&self) -> Result<(), RelayError> {
        let _: String = redis::cmd("PING").query_async(&mut self.manager.clone()).await?;
        Ok(())
    }

    pub(super) async fn live_text(&self, room_id: Uuid, message_id: Uuid) -> Option<String> {
        let text: Result<Option<String>, _> =
            redis::cmd("GET").arg(live_text_key(room_id, message_id)).query_async(&mut self.manager.clone()).await;
        text.unwrap_or_else(|error| {
            tracing::warn!(error = %error, "cannot read a streaming message's text from Redis");
            None
        })
    }

    /// Waits (at most `timeout`) until every event published before this call is written or
    /// given up; events published meanwhile are not waited for.
    pub(super) async fn flush(&self, timeout: Duration) {
        let target = self.queued.load(Ordering::Acquire);
        let deadline = Instant::now() + timeout;
        while self.settled.load(Ordering::Acquire) < target && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

fn event_of(entry: &StreamId) -> Option<Arc<PublishedEvent>> {
    Some(Arc::new(PublishedEvent {
        seq: entry_order(&entry.id)?,
        id: entry.id.clone(),
        name: entry.get("name")?,
        data: entry.get("data")?,
        published_at: Instant::now(),
    }))
}

fn collect_events(
    entries: impl Iterator<Item = StreamId>,
    limit: usize,
) -> Result<Vec<Arc<PublishedEvent>>, &'static str> {
    let events: Vec<_> = entries.filter_map(|entry| event_of(&entry)).collect();
    if events.len() > limit {
        return Err("the connection fell too far behind");
    }
    Ok(events)
}

/// Writes queued events in order.
struct Writer {
    manager: ConnectionManager,
    script: Script,
    retention: Retention,
    settled: Arc<AtomicU64>,
    broken: Arc<Mutex<HashSet<Uuid>>>,
}

impl Writer {
    /// Runs until the relay is dropped.
    async fn run(mut self, mut outgoing: mpsc::Receiver<Outgoing>) {
        while let Some(event) = outgoing.recv().await {
            let room_id = event.room_id;
            let was_broken = lock(&self.broken).remove(&room_id);
            if was_broken && !self.write_reset(room_id).await {
                lock(&self.broken).insert(room_id);
            }
            if !self.write(&event).await {
                lock(&self.broken).insert(room_id);
                metrics::counter!("live_events_lost_total").increment(1);
            }
            self.settled.fetch_add(1, Ordering::AcqRel);
        }
    }

    async fn write_reset(&mut self, room_id: Uuid) -> bool {
        let reason = StreamReset { reason: "live events were lost while Redis was unavailable".to_owned() };
        let data = serde_json::to_string(&reason).unwrap_or_else(|_| "{}".to_owned());
        self.write(&Outgoing { room_id, name: names::STREAM_RESET, data, live: LiveText::Keep }).await
    }

    /// Appends one event, retrying briefly; `false` when it is given up.
    async fn write(&mut self, event: &Outgoing) -> bool {
        let (action, message_id, delta) = match &event.live {
            LiveText::Keep => ("keep", Uuid::nil(), ""),
            LiveText::Append(message_id, delta) => ("append", *message_id, delta.as_str()),
            LiveText::Clear(message_id) => ("clear", *message_id, ""),
        };
        let expiry_ms = u64::try_from(self.retention.max_age.as_millis()).unwrap_or(u64::MAX).max(1);
        for attempt in 1..=WRITE_ATTEMPTS {
            let written: Result<String, _> = self
                .script
                .key(stream_key(event.room_id))
                .key(counter_key(event.room_id))
                .key(live_text_key(event.room_id, message_id))
                .arg(self.retention.max_events)
                .arg(expiry_ms)
                .arg(event.name)
                .arg(&event.data)
                .arg(action)
                .arg(delta)
                .invoke_async(&mut self.manager)
                .await;
            match written {
                Ok(_) => return true,
                Err(error) if attempt == WRITE_ATTEMPTS => {
                    tracing::warn!(error = %error, room_id = %event.room_id, "a live event could not be written to Redis");
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await,
            }
        }
        false
    }
}

/// Follows the streams of the rooms this instance's clients watch.
struct Reader {
    client: redis::Client,
    local: Arc<LocalRooms>,
    stop_requests: broadcast::Sender<StopRequest>,
    wake_key: String,
    /// The last entry read from each watched room.
    positions: HashMap<Uuid, String>,
}

impl Reader {
    async fn run(mut self, mut changes: mpsc::UnboundedReceiver<WatchChange>, shutdown: CancellationToken) {
        let mut connection: Option<(MultiplexedConnection, Positions)> = None;
        let mut failures: u32 = 0;
        while !shutdown.is_cancelled() {
            while let Ok(change) = changes.try_recv() {
                match change {
                    WatchChange::Watch { room_id, from } => {
                        self.positions.entry(room_id).or_insert(from);
                    }
                    WatchChange::Forget(room_id) => {
                        self.positions.remove(&room_id);
                    }
                }
            }
            let (conn, own) = match &mut connection {
                Some(open) => open,
                None => match self.connect().await {
                    Ok(open) => {
                        failures = 0;
                        connection.insert(open)
                    }
                    Err(error) => {
                        failures += 1;
                        let wait = Duration::from_millis(100 * 2u64.pow(failures.min(5)));
                        tracing::warn!(error = %error, retry_in_ms = wait.as_millis() as u64, "cannot reach Redis for live events");
                        tokio::select! {
                            _ = shutdown.cancelled() => break,
                            _ = tokio::time::sleep(wait) => continue,
                        }
                    }
                },
            };
            let mut keys = Vec::with_capacity(self.positions.len() + 1);
            let mut ids = Vec::with_capacity(self.positions.len() + 1);
            keys.push(self.wake_key.clone());
            ids.push(own.wake.clone());
            keys.push(STOP_REQUESTS_KEY.to_owned());
            ids.push(own.stops.clone());
            for (room_id, position) in &self.positions {
                keys.push(stream_key(*room_id));
                ids.push(position.clone());
            }
            let options = StreamReadOptions::default().block(READ_BLOCK.as_millis() as usize).count(READ_BATCH);
            let mut command = redis::cmd("XREAD");
            command.arg(&options).arg("STREAMS").arg(&keys).arg(&ids);
            let read: Result<Option<StreamReadReply>, _> = tokio::select! {
                _ = shutdown.cancelled() => break,
                read = command.query_async(conn) => read,
            };
            match read {
                Ok(None) => {}
                Ok(Some(reply)) => {
                    for key in reply.keys {
                        if key.key == self.wake_key {
                            if let Some(last) = key.ids.last() {
                                own.wake = last.id.clone();
                            }
                            continue;
                        }
                        if key.key == STOP_REQUESTS_KEY {
                            for entry in &key.ids {
                                own.stops = entry.id.clone();
                                if let Some(room_id) = entry.get::<String>("room").and_then(|r| r.parse().ok()) {
                                    // A request without a scope stops everything.
                                    let scope = match entry.get::<String>("scope").as_deref() {
                                        Some("replies") => StopScope::Replies,
                                        _ => StopScope::Everything,
                                    };
                                    // Nobody listening means this instance drives nothing.
                                    let _ = self.stop_requests.send(StopRequest { room_id, scope });
                                }
                            }
                            continue;
                        }
                        let Some(room_id) = room_of_key(&key.key) else { continue };
                        // A room forgotten meanwhile is not read again.
                        let Some(position) = self.positions.get_mut(&room_id) else { continue };
                        for entry in &key.ids {
                            *position = entry.id.clone();
                            if let Some(event) = event_of(entry) {
                                self.local.deliver(room_id, event);
                            }
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(error = %error, "the live-event feed from Redis broke; clients will reload or resume");
                    connection = None;
                    self.local.interrupt_all();
                }
            }
        }
    }

    /// A connection of its own for blocking reads, and where the wake-up and stop-request
    /// streams stand.
    async fn connect(&self) -> Result<(MultiplexedConnection, Positions), RelayError> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(READ_BLOCK + Duration::from_secs(5)));
        let mut connection = self.client.get_multiplexed_async_connection_with_config(&config).await?;
        let wake = newest_entry(&mut connection, &self.wake_key).await?;
        let stops = newest_entry(&mut connection, STOP_REQUESTS_KEY).await?;
        Ok((connection, Positions { wake, stops }))
    }
}

/// Where the reader stands in the streams it always reads.
struct Positions {
    wake: String,
    stops: String,
}

async fn newest_entry(connection: &mut MultiplexedConnection, key: &str) -> Result<String, RelayError> {
    let newest: StreamRangeReply =
        redis::cmd("XREVRANGE").arg(key).arg("+").arg("-").arg("COUNT").arg(1).query_async(connection).await?;
    Ok(newest.ids.first().map_or_else(|| NO_EVENTS_YET.to_owned(), |entry| entry.id.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_ids_order_as_numbers() {
        assert_eq!(entry_order("0-0"), Some(0));
        assert!(entry_order("1700000000000-1") > entry_order("1700000000000-0"));
        assert!(entry_order("1700000000001-0") > entry_order("1700000000000-99"));
        assert_eq!(entry_order("garbage"), None);
        assert_eq!(entry_order("18c3f-5"), None, "an in-process id is not a stream id");
        assert_eq!(entry_order("-1-0"), None);
    }

    #[test]
    fn keys_name_their_room() {
        let room = Uuid::now_v7();
        assert_eq!(room_of_key(&stream_key(room)), Some(room));
        assert_eq!(room_of_key("ais:instance:a:wake"), None);
    }
}
