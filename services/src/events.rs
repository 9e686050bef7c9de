//! Live room events: published once, fanned out to every subscriber, and kept for a while so a
//! client that reconnects with `Last-Event-ID` gets exactly the events it missed.
//!
//! Event ids are `<epoch>-<seq>`: `epoch` identifies this server process, `seq` counts the
//! room's events from 1. Publishing and subscribing take the same per-room lock, so a
//! subscriber's replayed backlog and its live feed neither overlap nor leave a gap.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::events::RoomEvent;
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::lock;

/// How many events of each room are kept for replay, for how long and in how many bytes, and
/// how many rooms the hub keeps channels for at once.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub max_events: usize,
    pub max_age: Duration,
    /// The serialized size of one room's retained events; large messages count for what they weigh.
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
    pub seq: u64,
    pub name: &'static str,
    pub data: String,
    published_at: Instant,
}

struct RoomChannel {
    next_seq: u64,
    buffer: VecDeque<Arc<PublishedEvent>>,
    /// The summed `data` length of `buffer`.
    buffered_bytes: usize,
    sender: broadcast::Sender<Arc<PublishedEvent>>,
    last_activity: Instant,
}

pub struct EventHub {
    epoch: String,
    retention: Retention,
    rooms: Mutex<HashMap<Uuid, Arc<Mutex<RoomChannel>>>>,
}

/// What a subscriber gets first: the missed events, or the instruction to reload.
#[derive(Debug)]
pub enum Resume {
    Replay(Vec<Arc<PublishedEvent>>),
    Reset(String),
}

pub struct Subscription {
    pub resume: Resume,
    receiver: broadcast::Receiver<Arc<PublishedEvent>>,
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

impl EventHub {
    pub fn new(retention: Retention) -> Self {
        let epoch = format!("{:x}", chrono::Utc::now().timestamp_millis());
        Self { epoch, retention, rooms: Mutex::new(HashMap::new()) }
    }

    /// The room's channel, made when missing. Callers make sure the room exists, so made-up ids
    /// never get here; the room cap bounds the hub even so.
    fn channel(&self, room_id: Uuid) -> Arc<Mutex<RoomChannel>> {
        let mut rooms = lock(&self.rooms);
        if let Some(channel) = rooms.get(&room_id) {
            return channel.clone();
        }
        if rooms.len() >= self.retention.max_rooms {
            evict_idlest(&mut rooms);
        }
        let (sender, _) = broadcast::channel(CHANNEL_CAPACITY);
        let channel = Arc::new(Mutex::new(RoomChannel {
            next_seq: 1,
            buffer: VecDeque::new(),
            buffered_bytes: 0,
            sender,
            last_activity: Instant::now(),
        }));
        rooms.insert(room_id, channel.clone());
        channel
    }

    /// Publishes an event to the room's subscribers and keeps it for replay.
    pub fn publish(&self, room_id: Uuid, event: &RoomEvent) -> Arc<PublishedEvent> {
        let data = event.to_json();
        let channel = self.channel(room_id);
        let mut channel = lock(&channel);
        let seq = channel.next_seq;
        channel.next_seq += 1;
        let now = Instant::now();
        let published = Arc::new(PublishedEvent {
            id: format!("{}-{seq}", self.epoch),
            seq,
            name: event.name(),
            data,
            published_at: now,
        });
        channel.buffered_bytes += published.data.len();
        channel.buffer.push_back(published.clone());
        while channel.buffer.len() > self.retention.max_events
            || channel.buffered_bytes > self.retention.max_bytes
            || channel.buffer.front().is_some_and(|e| now.duration_since(e.published_at) > self.retention.max_age)
        {
            let Some(dropped) = channel.buffer.pop_front() else { break };
            channel.buffered_bytes -= dropped.data.len();
        }
        channel.last_activity = now;
        // No subscribers is not an error: the event is kept for replay.
        let _ = channel.sender.send(published.clone());
        published
    }

    /// The id of the room's latest event; a client that resumes from it gets only newer events.
    /// Reading it never makes a channel: a room nothing happened in is at `<epoch>-0`.
    pub fn current_id(&self, room_id: Uuid) -> String {
        let channel = lock(&self.rooms).get(&room_id).cloned();
        let latest = channel.map_or(0, |channel| lock(&channel).next_seq - 1);
        format!("{}-{latest}", self.epoch)
    }

    /// Subscribes to a room, resuming after `last_event_id` when given.
    pub fn subscribe(&self, room_id: Uuid, last_event_id: Option<&str>) -> Subscription {
        let channel_arc = self.channel(room_id);
        let channel = lock(&channel_arc);
        let receiver = channel.sender.subscribe();
        let newest = channel.next_seq - 1;
        let (resume, last_seq) = match last_event_id.map(|id| self.parse_id(id)) {
            None => (Resume::Replay(Vec::new()), newest),
            Some(None) => (Resume::Reset("the last event id belongs to an earlier server run".into()), newest),
            Some(Some(after)) if after > newest => (Resume::Reset("the last event id is unknown".into()), newest),
            Some(Some(after)) => {
                let oldest_kept = channel.buffer.front().map(|e| e.seq).unwrap_or(channel.next_seq);
                if after + 1 < oldest_kept {
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

    fn parse_id(&self, id: &str) -> Option<u64> {
        let (epoch, seq) = id.trim().rsplit_once('-')?;
        if epoch != self.epoch {
            return None;
        }
        seq.parse().ok()
    }

    /// Forgets rooms nobody listens to whose last event is older than the retention age.
    pub fn sweep(&self) -> usize {
        let mut rooms = lock(&self.rooms);
        let before = rooms.len();
        let max_age = self.retention.max_age;
        rooms.retain(|_, channel| {
            let channel = lock(channel);
            channel.sender.receiver_count() > 0 || channel.last_activity.elapsed() <= max_age
        });
        before - rooms.len()
    }

    /// How many rooms currently have a channel (for metrics and tests).
    pub fn room_count(&self) -> usize {
        lock(&self.rooms).len()
    }
}

/// Lets go of the room that has been idle longest among those nobody listens to. When every room
/// has listeners, none is dropped: connection limits bound that case.
fn evict_idlest(rooms: &mut HashMap<Uuid, Arc<Mutex<RoomChannel>>>) {
    let idlest = rooms
        .iter()
        .filter_map(|(id, channel)| {
            let channel = lock(channel);
            (channel.sender.receiver_count() == 0).then_some((*id, channel.last_activity))
        })
        .min_by_key(|(_, last_activity)| *last_activity)
        .map(|(id, _)| id);
    if let Some(id) = idlest {
        rooms.remove(&id);
    }
}

impl Subscription {
    /// Waits for the next live event. Returns `None` when the hub is gone.
    pub async fn next(&mut self) -> Option<Feed> {
        if let Some(event) = self.pending.pop_front() {
            return Some(Feed::Event(event));
        }
        loop {
            match self.receiver.recv().await {
                Ok(event) if event.seq <= self.last_seq => continue,
                Ok(event) => {
                    self.last_seq = event.seq;
                    return Some(Feed::Event(event));
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Too slow for the live channel: catch up from the retained events if they
                    // still cover the gap, otherwise tell the client to reload.
                    let channel = lock(&self.channel);
                    let oldest_kept = channel.buffer.front().map(|e| e.seq).unwrap_or(channel.next_seq);
                    if self.last_seq + 1 < oldest_kept {
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
        let mut sub = hub.subscribe(room, None);
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
        let first = hub.publish(room, &delta(0));
        for n in 1..5 {
            hub.publish(room, &delta(n));
        }
        let mut sub = hub.subscribe(room, Some(&first.id));
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
        let sub = hub.subscribe(room, Some(&hub.current_id(room)));
        assert!(matches!(sub.resume, Resume::Replay(ref missed) if missed.is_empty()));
        let empty_room = Uuid::now_v7();
        let id = hub.current_id(empty_room);
        assert!(id.ends_with("-0"));
        hub.publish(empty_room, &delta(0));
        let sub = hub.subscribe(empty_room, Some(&id));
        assert!(matches!(sub.resume, Resume::Replay(ref missed) if ids(missed) == vec![1]));
    }

    #[tokio::test]
    async fn unknown_or_expired_ids_reset_the_client() {
        let hub = EventHub::new(Retention { max_events: 3, max_age: Duration::from_secs(60), ..Retention::default() });
        let room = Uuid::now_v7();
        let first = hub.publish(room, &delta(0));
        for n in 1..10 {
            hub.publish(room, &delta(n));
        }
        assert!(matches!(hub.subscribe(room, Some(&first.id)).resume, Resume::Reset(_)), "pruned");
        assert!(matches!(hub.subscribe(room, Some("0-1")).resume, Resume::Reset(_)), "another epoch");
        assert!(matches!(hub.subscribe(room, Some("garbage")).resume, Resume::Reset(_)));
        let future = format!("{}-99", hub.current_id(room).rsplit_once('-').unwrap().0);
        assert!(matches!(hub.subscribe(room, Some(&future)).resume, Resume::Reset(_)), "from the future");
        // The oldest retained event's predecessor is still a valid resume point.
        let seventh = format!("{}-7", hub.current_id(room).rsplit_once('-').unwrap().0);
        assert!(
            matches!(hub.subscribe(room, Some(&seventh)).resume, Resume::Replay(ref m) if ids(m) == vec![8, 9, 10])
        );
    }

    #[tokio::test]
    async fn a_lagging_subscriber_catches_up_from_the_buffer() {
        let hub =
            EventHub::new(Retention { max_events: 10_000, max_age: Duration::from_secs(60), ..Retention::default() });
        let room = Uuid::now_v7();
        let mut sub = hub.subscribe(room, None);
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

    #[test]
    fn reading_a_position_never_makes_a_channel() {
        let hub = EventHub::new(Retention::default());
        for _ in 0..1000 {
            assert!(hub.current_id(Uuid::now_v7()).ends_with("-0"));
        }
        assert_eq!(hub.room_count(), 0);
    }

    #[test]
    fn the_hub_keeps_a_bounded_number_of_rooms() {
        let hub = EventHub::new(Retention { max_rooms: 3, ..Retention::default() });
        let watched = Uuid::now_v7();
        let _listener = hub.subscribe(watched, None);
        for _ in 0..50 {
            hub.publish(Uuid::now_v7(), &delta(0));
        }
        assert_eq!(hub.room_count(), 3);
        hub.publish(watched, &delta(1));
        assert_eq!(hub.current_id(watched).rsplit_once('-').unwrap().1, "1", "a room with a listener is kept");
    }

    #[test]
    fn the_replay_buffer_is_bounded_in_bytes() {
        let hub = EventHub::new(Retention { max_bytes: 10_000, ..Retention::default() });
        let room = Uuid::now_v7();
        let big = |n: usize| {
            RoomEvent::MessageDelta(MessageDelta { message_id: Uuid::nil(), delta: "x".repeat(3000), offset: n })
        };
        let first = hub.publish(room, &big(0));
        for n in 1..10 {
            hub.publish(room, &big(n));
        }
        let channel = hub.channel(room);
        let channel = lock(&channel);
        assert!(channel.buffered_bytes <= 10_000, "{}", channel.buffered_bytes);
        assert_eq!(channel.buffered_bytes, channel.buffer.iter().map(|e| e.data.len()).sum::<usize>());
        assert_eq!(channel.buffer.len(), 3);
        drop(channel);
        assert!(
            matches!(hub.subscribe(room, Some(&first.id)).resume, Resume::Reset(_)),
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
        let _sub = hub.subscribe(watched, None);
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(hub.sweep(), 1);
        assert_eq!(hub.room_count(), 1);
    }
}
