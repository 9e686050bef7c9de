//! Live room events: published once, fanned out to every subscriber, and kept for a while so a
//! client that reconnects with `Last-Event-ID` gets exactly the events it missed.
//!
//! Two ways to carry them, chosen at start-up:
//! - **In this process** (the default): event ids are `<epoch>-<seq>`, where `epoch` identifies
//!   this server process and `seq` counts the room's events from 1. Publishing and subscribing
//!   take the same per-room lock, so a subscriber's replayed backlog and its live feed neither
//!   overlap nor leave a gap.
//! - **Through Redis Streams** (`REDIS_URL`, several instances): one stream per room, and the
//!   event id is the stream entry's id, so it resumes a client on any instance. Each instance
//!   reads the streams of the rooms its clients watch and fans them out locally
//!   (see [`redis_relay`]).

mod redis_relay;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::events::RoomEvent;
use tokio::sync::{broadcast, mpsc};
use uuid::Uuid;

pub use redis_relay::RelayError;
use redis_relay::{RedisRelay, WatchChange};

use crate::{lock, ServiceError, ServiceResult};

/// How many events of each room are kept for replay, for how long and in how many bytes, and
/// how many rooms the hub keeps channels for at once.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub max_events: usize,
    pub max_age: Duration,
    /// The serialized size of one room's retained events; large messages count for what they weigh.
    /// (Redis streams are bounded by count and age only.)
    pub max_bytes: usize,
    /// Rooms with a channel; past it, the longest-idle room nobody listens to is let go.
    pub max_rooms: usize,
}

impl Default for Retention {
    fn default() -> Self {
        Self { max_events: 4096, max_age: Duration::from_secs(15 * 60), max_bytes: 4 * 1024 * 1024, max_rooms: 10_000 }
    }
}

/// An event as sent on the wire, serialized once for every subscriber.
#[derive(Debug)]
pub struct PublishedEvent {
    pub id: String,
    /// Orders the room's events: the count from 1 in this process, or the Redis stream entry id
    /// packed into one number.
    pub seq: u64,
    pub name: String,
    pub data: String,
    published_at: Instant,
}

/// What a room's live channel carries.
#[derive(Debug, Clone)]
enum Live {
    Event(Arc<PublishedEvent>),
    /// The shared feed broke (Redis went away): what happened meanwhile is unknown here.
    Interrupted,
}

struct RoomChannel {
    next_seq: u64,
    buffer: VecDeque<Arc<PublishedEvent>>,
    /// The summed `data` length of `buffer`.
    buffered_bytes: usize,
    sender: broadcast::Sender<Live>,
    last_activity: Instant,
    /// With Redis: the relay reads this room's stream for this instance.
    watched: bool,
    /// In-process ids count 1, 2, 3...; Redis entry ids leave gaps.
    contiguous: bool,
    /// With Redis: the buffer holds every event after this one (the position the relay began
    /// reading the room at), until something is trimmed or the feed breaks.
    complete_after: Option<u64>,
}

impl RoomChannel {
    /// Whether the retained events hold everything after `seq`.
    fn covers_after(&self, seq: u64) -> bool {
        if self.contiguous {
            let oldest_kept = self.buffer.front().map(|e| e.seq).unwrap_or(self.next_seq);
            seq + 1 >= oldest_kept
        } else {
            // Only an event the subscriber already had proves nothing between was dropped.
            self.buffer.front().is_some_and(|oldest| oldest.seq <= seq)
                || self.complete_after.is_some_and(|from| seq >= from)
        }
    }

    /// Keeps `event` for replay within the retention, and hands it to every subscriber.
    fn push(&mut self, event: Arc<PublishedEvent>, retention: &Retention) {
        let now = event.published_at;
        self.buffered_bytes += event.data.len();
        self.buffer.push_back(event.clone());
        while self.buffer.len() > retention.max_events
            || self.buffered_bytes > retention.max_bytes
            || self.buffer.front().is_some_and(|e| now.duration_since(e.published_at) > retention.max_age)
        {
            let Some(dropped) = self.buffer.pop_front() else { break };
            self.buffered_bytes -= dropped.data.len();
            self.complete_after = None;
        }
        self.last_activity = now;
        // No subscribers is not an error: the event is kept for replay.
        let _ = self.sender.send(Live::Event(event));
    }
}

/// The rooms this process has live channels for.
struct LocalRooms {
    retention: Retention,
    rooms: Mutex<HashMap<Uuid, Arc<Mutex<RoomChannel>>>>,
    /// With Redis: where a forgotten room is reported, so the relay stops reading it. Sent while
    /// `rooms` is locked, so a forget never overtakes the watch of a channel made after it.
    forgotten: Option<mpsc::UnboundedSender<WatchChange>>,
}

impl LocalRooms {
    /// The room's channel, made when missing. Callers make sure the room exists, so made-up ids
    /// never get here; the room cap bounds the hub even so.
    fn channel(&self, room_id: Uuid) -> Arc<Mutex<RoomChannel>> {
        let mut rooms = lock(&self.rooms);
        if let Some(channel) = rooms.get(&room_id) {
            return channel.clone();
        }
        if rooms.len() >= self.retention.max_rooms {
            if let Some(idlest) = idlest_unwatched(&rooms) {
                rooms.remove(&idlest);
                self.forget(idlest);
            }
        }
        let (sender, _) = broadcast::channel(CHANNEL_CAPACITY);
        let channel = Arc::new(Mutex::new(RoomChannel {
            next_seq: 1,
            buffer: VecDeque::new(),
            buffered_bytes: 0,
            sender,
            last_activity: Instant::now(),
            watched: false,
            contiguous: self.forgotten.is_none(),
            complete_after: None,
        }));
        rooms.insert(room_id, channel.clone());
        channel
    }

    fn existing(&self, room_id: Uuid) -> Option<Arc<Mutex<RoomChannel>>> {
        lock(&self.rooms).get(&room_id).cloned()
    }

    fn forget(&self, room_id: Uuid) {
        if let Some(forgotten) = &self.forgotten {
            let _ = forgotten.send(WatchChange::Forget(room_id));
        }
    }

    /// Hands an event read from the shared feed to the room's local subscribers; a room nobody
    /// here listens to any more is skipped.
    fn deliver(&self, room_id: Uuid, event: Arc<PublishedEvent>) {
        if let Some(channel) = self.existing(room_id) {
            lock(&channel).push(event, &self.retention);
        }
    }

    /// Tells every subscriber that the shared feed broke; their clients reload or resume.
    fn interrupt_all(&self) {
        for channel in lock(&self.rooms).values() {
            let mut channel = lock(channel);
            channel.buffer.clear();
            channel.buffered_bytes = 0;
            channel.complete_after = None;
            let _ = channel.sender.send(Live::Interrupted);
        }
    }
}

/// What a stop request stops in its room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopScope {
    /// The run and any reply.
    Everything,
    /// Only the reply being written outside a run, or waiting for its turn.
    Replies,
}

/// A room whose agents an instance was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopRequest {
    pub room_id: Uuid,
    pub scope: StopScope,
}

pub struct EventHub {
    local: Arc<LocalRooms>,
    carrier: Carrier,
    /// Rooms whose agents another instance asked to stop (with Redis).
    stop_requests: broadcast::Sender<StopRequest>,
}

/// Stop requests waiting to be handled by one instance; more are dropped (and the asking
/// instance ends the run itself when its owner does not).
const STOP_REQUEST_CAPACITY: usize = 256;

enum Carrier {
    /// Ids are `<epoch>-<seq>`, valid in this process only.
    InProcess {
        epoch: String,
    },
    Redis(RedisRelay),
}

/// What a subscriber gets first: the missed events, or the instruction to reload.
#[derive(Debug)]
pub enum Resume {
    Replay(Vec<Arc<PublishedEvent>>),
    Reset(String),
}

pub struct Subscription {
    pub resume: Resume,
    receiver: broadcast::Receiver<Live>,
    channel: Arc<Mutex<RoomChannel>>,
    last_seq: u64,
    /// Events recovered from the buffer after lagging, not yet handed out.
    pending: VecDeque<Arc<PublishedEvent>>,
}

/// What the live feed yields next.
#[derive(Debug)]
pub enum Feed {
    Event(Arc<PublishedEvent>),
    /// The subscriber fell so far behind that events were lost; it must reload.
    Reset(String),
}

const CHANNEL_CAPACITY: usize = 4096;

/// The position of a room nothing has happened in yet, with Redis.
const NO_EVENTS_YET: &str = "0-0";

impl EventHub {
    /// A hub that keeps events in this process: one instance serves every room.
    pub fn new(retention: Retention) -> Self {
        let epoch = format!("{:x}", chrono::Utc::now().timestamp_millis());
        let local = LocalRooms { retention, rooms: Mutex::new(HashMap::new()), forgotten: None };
        let (stop_requests, _) = broadcast::channel(STOP_REQUEST_CAPACITY);
        Self { local: Arc::new(local), carrier: Carrier::InProcess { epoch }, stop_requests }
    }

    /// A hub whose events go through Redis Streams, shared by every instance on that Redis.
    /// `instance` names this process (it gets a private wake-up stream); the relay's tasks stop
    /// with `shutdown`.
    pub async fn redis(
        retention: Retention,
        client: redis::Client,
        instance: &str,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> Result<Self, RelayError> {
        let (changes, changes_rx) = mpsc::unbounded_channel();
        let local =
            Arc::new(LocalRooms { retention, rooms: Mutex::new(HashMap::new()), forgotten: Some(changes.clone()) });
        let (stop_requests, _) = broadcast::channel(STOP_REQUEST_CAPACITY);
        let relay = RedisRelay::start(
            client,
            instance,
            retention,
            local.clone(),
            stop_requests.clone(),
            (changes, changes_rx),
            shutdown,
        )
        .await?;
        Ok(Self { local, carrier: Carrier::Redis(relay), stop_requests })
    }

    /// Asks every instance to stop the agents of the room: its run and its replies, or with
    /// [`StopScope::Replies`] only the reply being written or waiting for its turn. Nothing to do
    /// without Redis: the one instance stops its own.
    pub async fn announce_stop(&self, room_id: Uuid, scope: StopScope) {
        if let Carrier::Redis(relay) = &self.carrier {
            if let Err(error) = relay.announce_stop(StopRequest { room_id, scope }).await {
                tracing::warn!(error = %error, %room_id, "cannot ask the other instances to stop the room's agents");
            }
        }
    }

    /// The rooms other instances ask this one to stop, as they arrive.
    pub fn stop_requests(&self) -> broadcast::Receiver<StopRequest> {
        self.stop_requests.subscribe()
    }

    /// Publishes an event to the room's subscribers (on every instance, with Redis) and keeps it
    /// for replay. Never waits: with Redis the event is queued and written in order.
    pub fn publish(&self, room_id: Uuid, event: &RoomEvent) {
        let data = event.to_json();
        match &self.carrier {
            Carrier::InProcess { epoch } => {
                let channel = self.local.channel(room_id);
                let mut channel = lock(&channel);
                let seq = channel.next_seq;
                channel.next_seq += 1;
                let published = Arc::new(PublishedEvent {
                    id: format!("{epoch}-{seq}"),
                    seq,
                    name: event.name().to_owned(),
                    data,
                    published_at: Instant::now(),
                });
                channel.push(published, &self.local.retention);
            }
            Carrier::Redis(relay) => relay.publish(room_id, event, data),
        }
    }

    /// The id of the room's latest event; a client that resumes from it gets only newer events.
    /// Reading it never makes a channel: a room nothing happened in is at `<epoch>-0` (`0-0`
    /// with Redis). When Redis does not answer, `0-0`: a client resuming from it is told to
    /// reload unless it can be given every event.
    pub async fn current_id(&self, room_id: Uuid) -> String {
        match &self.carrier {
            Carrier::InProcess { epoch } => {
                let latest = self.local.existing(room_id).map_or(0, |channel| lock(&channel).next_seq - 1);
                format!("{epoch}-{latest}")
            }
            Carrier::Redis(relay) => match relay.newest(room_id).await {
                Ok(newest) => newest.id,
                Err(error) => {
                    tracing::warn!(error = %error, %room_id, "cannot read the room's stream position from Redis");
                    NO_EVENTS_YET.to_owned()
                }
            },
        }
    }

    /// Subscribes to a room, resuming after `last_event_id` when given. Fails only when Redis
    /// carries the events and does not answer.
    pub async fn subscribe(&self, room_id: Uuid, last_event_id: Option<&str>) -> ServiceResult<Subscription> {
        match &self.carrier {
            Carrier::InProcess { epoch } => Ok(self.subscribe_in_process(epoch, room_id, last_event_id)),
            Carrier::Redis(relay) => self.subscribe_shared(relay, room_id, last_event_id).await.map_err(|error| {
                tracing::warn!(error = %error, %room_id, "cannot subscribe to the room's stream in Redis");
                ServiceError::Unavailable("Live updates are unavailable for a moment; try again shortly.".to_owned())
            }),
        }
    }

    fn subscribe_in_process(&self, epoch: &str, room_id: Uuid, last_event_id: Option<&str>) -> Subscription {
        let channel_arc = self.local.channel(room_id);
        let channel = lock(&channel_arc);
        let receiver = channel.sender.subscribe();
        let newest = channel.next_seq - 1;
        let parsed = last_event_id.map(|id| {
            id.trim()
                .rsplit_once('-')
                .filter(|(id_epoch, _)| *id_epoch == epoch)
                .and_then(|(_, seq)| seq.parse::<u64>().ok())
        });
        let (resume, last_seq) = match parsed {
            None => (Resume::Replay(Vec::new()), newest),
            Some(None) => (Resume::Reset("the last event id belongs to an earlier server run".into()), newest),
            Some(Some(after)) if after > newest => (Resume::Reset("the last event id is unknown".into()), newest),
            Some(Some(after)) => {
                if !channel.covers_after(after) {
                    (Resume::Reset("the missed events are no longer retained".into()), newest)
                } else {
                    let missed = channel.buffer.iter().filter(|e| e.seq > after).cloned().collect();
                    (Resume::Replay(missed), newest)
                }
            }
        };
        drop(channel);
        Subscription { resume, receiver, channel: channel_arc, last_seq, pending: VecDeque::new() }
    }

    /// With Redis: listen locally first, then read the stream, so that whatever is published
    /// meanwhile arrives either in the replay or on the live feed (the overlap is skipped).
    async fn subscribe_shared(
        &self,
        relay: &RedisRelay,
        room_id: Uuid,
        last_event_id: Option<&str>,
    ) -> Result<Subscription, RelayError> {
        let channel = self.local.channel(room_id);
        let (receiver, watched) = {
            let channel = lock(&channel);
            (channel.sender.subscribe(), channel.watched)
        };
        let newest = relay.newest(room_id).await?;
        if !watched {
            relay.watch(room_id, &newest.id).await;
            let mut channel = lock(&channel);
            channel.watched = true;
            channel.complete_after = Some(newest.seq);
        }
        let (resume, last_seq) = match last_event_id.map(str::trim) {
            None => (Resume::Replay(Vec::new()), newest.seq),
            Some(after) => match relay.replay_after(room_id, after).await? {
                Ok(missed) => {
                    let last_seq =
                        missed.last().map(|e| e.seq).or_else(|| redis_relay::entry_order(after)).unwrap_or(newest.seq);
                    (Resume::Replay(missed), last_seq)
                }
                Err(reason) => (Resume::Reset(reason.to_owned()), newest.seq),
            },
        };
        Ok(Subscription { resume, receiver, channel, last_seq, pending: VecDeque::new() })
    }

    /// Answers whether Redis, when it carries the events, is reachable; `None` without Redis.
    pub async fn ping_shared(&self) -> Option<Result<(), RelayError>> {
        match &self.carrier {
            Carrier::InProcess { .. } => None,
            Carrier::Redis(relay) => Some(relay.ping().await),
        }
    }

    /// The text so far of a message streaming on another instance (with Redis); `None` without
    /// Redis or when the text is not there.
    pub async fn shared_live_text(&self, room_id: Uuid, message_id: Uuid) -> Option<String> {
        match &self.carrier {
            Carrier::InProcess { .. } => None,
            Carrier::Redis(relay) => relay.live_text(room_id, message_id).await,
        }
    }

    /// Waits (at most `timeout`) until every event published before this call is written to
    /// Redis: at shutdown, so the last events of finishing replies are not lost, and at the end of
    /// a turn, so the next speaker's events never overtake them. Nothing to wait for without
    /// Redis.
    pub async fn flush(&self, timeout: Duration) {
        if let Carrier::Redis(relay) = &self.carrier {
            relay.flush(timeout).await;
        }
    }

    /// Forgets rooms nobody listens to whose last event is older than the retention age.
    pub fn sweep(&self) -> usize {
        let mut rooms = lock(&self.local.rooms);
        let before = rooms.len();
        let max_age = self.local.retention.max_age;
        let mut forgotten = Vec::new();
        rooms.retain(|room_id, channel| {
            let channel = lock(channel);
            let keep = channel.sender.receiver_count() > 0 || channel.last_activity.elapsed() <= max_age;
            if !keep && channel.watched {
                forgotten.push(*room_id);
            }
            keep
        });
        for room_id in forgotten {
            self.local.forget(room_id);
        }
        before - rooms.len()
    }

    /// How many rooms currently have a channel (for metrics and tests).
    pub fn room_count(&self) -> usize {
        lock(&self.local.rooms).len()
    }
}

/// The room that has been idle longest among those nobody listens to. When every room has
/// listeners, none is dropped: connection limits bound that case.
fn idlest_unwatched(rooms: &HashMap<Uuid, Arc<Mutex<RoomChannel>>>) -> Option<Uuid> {
    rooms
        .iter()
        .filter_map(|(id, channel)| {
            let channel = lock(channel);
            (channel.sender.receiver_count() == 0).then_some((*id, channel.last_activity))
        })
        .min_by_key(|(_, last_activity)| *last_activity)
        .map(|(id, _)| id)
}

impl Subscription {
    /// Waits for the next live event. Returns `None` when the hub is gone.
    pub async fn next(&mut self) -> Option<Feed> {
        if let Some(event) = self.pending.pop_front() {
            return Some(Feed::Event(event));
        }
        loop {
            match self.receiver.recv().await {
                Ok(Live::Event(event)) if event.seq <= self.last_seq => continue,
                Ok(Live::Event(event)) => {
                    self.last_seq = event.seq;
                    return Some(Feed::Event(event));
                }
                Ok(Live::Interrupted) => return Some(Feed::Reset("the live feed was interrupted".into())),
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Too slow for the live channel: catch up from the retained events if they
                    // still cover the gap, otherwise tell the client to reload.
                    let channel = lock(&self.channel);
                    if !channel.covers_after(self.last_seq) {
                        return Some(Feed::Reset("the connection fell too far behind".into()));
                    }
                    let missed: Vec<_> = channel.buffer.iter().filter(|e| e.seq > self.last_seq).cloned().collect();
                    self.receiver = channel.sender.subscribe();
                    drop(channel);
                    if let Some(last) = missed.last() {
                        self.last_seq = last.seq;
                    }
                    self.pending.extend(missed);
                    if let Some(event) = self.pending.pop_front() {
                        return Some(Feed::Event(event));
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use domain::events::MessageDelta;

    use super::*;

    fn delta(n: usize) -> RoomEvent {
        RoomEvent::MessageDelta(MessageDelta { message_id: Uuid::nil(), delta: format!("t{n}"), offset: n })
    }

    fn ids(events: &[Arc<PublishedEvent>]) -> Vec<u64> {
        events.iter().map(|e| e.seq).collect()
    }

    #[tokio::test]
    async fn a_subscriber_gets_events_in_order_with_ids() {
        let hub = EventHub::new(Retention::default());
        let room = Uuid::now_v7();
        let mut sub = hub.subscribe(room, None).await.unwrap();
        for n in 0..3 {
            hub.publish(room, &delta(n));
        }
        for expected in 1..=3u64 {
            let Some(Feed::Event(event)) = sub.next().await else { panic!("an event") };
            assert_eq!(event.seq, expected);
            assert!(event.id.ends_with(&format!("-{expected}")));
            assert_eq!(event.name, "message.delta");
        }
    }

    #[tokio::test]
    async fn resuming_replays_exactly_the_missed_events() {
        let hub = EventHub::new(Retention::default());
        let room = Uuid::now_v7();
        hub.publish(room, &delta(0));
        let first_id = hub.current_id(room).await;
        for n in 1..5 {
            hub.publish(room, &delta(n));
        }
        let mut sub = hub.subscribe(room, Some(&first_id)).await.unwrap();
        let Resume::Replay(missed) = &sub.resume else { panic!("a replay") };
        assert_eq!(ids(missed), vec![2, 3, 4, 5]);
        hub.publish(room, &delta(5));
        let Some(Feed::Event(live)) = sub.next().await else { panic!("an event") };
        assert_eq!(live.seq, 6, "no repeat and no gap between replay and live feed");
    }

    #[tokio::test]
    async fn resuming_from_the_current_id_replays_nothing() {
        let hub = EventHub::new(Retention::default());
        let room = Uuid::now_v7();
        hub.publish(room, &delta(0));
        let current = hub.current_id(room).await;
        let sub = hub.subscribe(room, Some(&current)).await.unwrap();
        assert!(matches!(sub.resume, Resume::Replay(ref missed) if missed.is_empty()));
        let empty_room = Uuid::now_v7();
        let id = hub.current_id(empty_room).await;
        assert!(id.ends_with("-0"));
        hub.publish(empty_room, &delta(0));
        let sub = hub.subscribe(empty_room, Some(&id)).await.unwrap();
        assert!(matches!(sub.resume, Resume::Replay(ref missed) if ids(missed) == vec![1]));
    }

    #[tokio::test]
    async fn unknown_or_expired_ids_reset_the_client() {
        let hub = EventHub::new(Retention { max_events: 3, max_age: Duration::from_secs(60), ..Retention::default() });
        let room = Uuid::now_v7();
        hub.publish(room, &delta(0));
        let first_id = hub.current_id(room).await;
        for n in 1..10 {
            hub.publish(room, &delta(n));
        }
        assert!(matches!(hub.subscribe(room, Some(&first_id)).await.unwrap().resume, Resume::Reset(_)), "pruned");
        assert!(matches!(hub.subscribe(room, Some("0-1")).await.unwrap().resume, Resume::Reset(_)), "another epoch");
        assert!(matches!(hub.subscribe(room, Some("garbage")).await.unwrap().resume, Resume::Reset(_)));
        let future = format!("{}-99", hub.current_id(room).await.rsplit_once('-').unwrap().0);
        assert!(
            matches!(hub.subscribe(room, Some(&future)).await.unwrap().resume, Resume::Reset(_)),
            "from the future"
        );
        // The oldest retained event's predecessor is still a valid resume point.
        let seventh = format!("{}-7", hub.current_id(room).await.rsplit_once('-').unwrap().0);
        assert!(
            matches!(hub.subscribe(room, Some(&seventh)).await.unwrap().resume, Resume::Replay(ref m) if ids(m) == vec![8, 9, 10])
        );
    }

    #[tokio::test]
    async fn a_lagging_subscriber_catches_up_from_the_buffer() {
        let hub =
            EventHub::new(Retention { max_events: 10_000, max_age: Duration::from_secs(60), ..Retention::default() });
        let room = Uuid::now_v7();
        let mut sub = hub.subscribe(room, None).await.unwrap();
        let total = CHANNEL_CAPACITY + 100;
        for n in 0..total {
            hub.publish(room, &delta(n));
        }
        let mut seen = Vec::new();
        while seen.len() < total {
            match sub.next().await {
                Some(Feed::Event(event)) => seen.push(event.seq),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(seen, (1..=total as u64).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn reading_a_position_never_makes_a_channel() {
        let hub = EventHub::new(Retention::default());
        for _ in 0..1000 {
            assert!(hub.current_id(Uuid::now_v7()).await.ends_with("-0"));
        }
        assert_eq!(hub.room_count(), 0);
    }

    #[tokio::test]
    async fn the_hub_keeps_a_bounded_number_of_rooms() {
        let hub = EventHub::new(Retention { max_rooms: 3, ..Retention::default() });
        let watched = Uuid::now_v7();
        let _listener = hub.subscribe(watched, None).await.unwrap();
        for _ in 0..50 {
            hub.publish(Uuid::now_v7(), &delta(0));
        }
        assert_eq!(hub.room_count(), 3);
        hub.publish(watched, &delta(1));
        assert_eq!(hub.current_id(watched).await.rsplit_once('-').unwrap().1, "1", "a room with a listener is kept");
    }

    #[tokio::test]
    async fn the_replay_buffer_is_bounded_in_bytes() {
        let hub = EventHub::new(Retention { max_bytes: 10_000, ..Retention::default() });
        let room = Uuid::now_v7();
        let big = |n: usize| {
            RoomEvent::MessageDelta(MessageDelta { message_id: Uuid::nil(), delta: "x".repeat(3000), offset: n })
        };
        hub.publish(room, &big(0));
        let first_id = hub.current_id(room).await;
        for n in 1..10 {
            hub.publish(room, &big(n));
        }
        {
            let channel = hub.local.channel(room);
            let channel = lock(&channel);
            assert!(channel.buffered_bytes <= 10_000, "{}", channel.buffered_bytes);
            assert_eq!(channel.buffered_bytes, channel.buffer.iter().map(|e| e.data.len()).sum::<usize>());
            assert_eq!(channel.buffer.len(), 3);
        }
        assert!(
            matches!(hub.subscribe(room, Some(&first_id)).await.unwrap().resume, Resume::Reset(_)),
            "what was dropped cannot be replayed"
        );
    }

    #[tokio::test]
    async fn idle_rooms_are_swept() {
        let hub =
            EventHub::new(Retention { max_events: 10, max_age: Duration::from_millis(10), ..Retention::default() });
        let quiet = Uuid::now_v7();
        let watched = Uuid::now_v7();
        hub.publish(quiet, &delta(0));
        let _sub = hub.subscribe(watched, None).await.unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(hub.sweep(), 1);
        assert_eq!(hub.room_count(), 1);
    }
}
