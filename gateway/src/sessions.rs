//! Sessions and their previews, in memory and bounded: a session is a client-made UUIDv4, and
//! only the session that made a preview may confirm it.
//!
//! A session is created by its first preview, belongs to the person who made that preview, and
//! lives until it goes `session_ttl` without a request. Anyone else using its id is told
//! `SESSION_MISMATCH` (403); so is anyone using the id of a preview or task that is another
//! person's. It holds at most [`MAX_PENDING_PREVIEWS_PER_SESSION`] unconfirmed previews, each
//! valid for `preview_ttl` and only within its session. When a preview expires or is confirmed a
//! small tombstone is kept for a while, so a late confirm is told `PREVIEW_EXPIRED` or
//! `PREVIEW_ALREADY_CONFIRMED` instead of `PREVIEW_NOT_FOUND`. Expired entries are swept at most
//! once a second, on the requests themselves; every map has a ceiling.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use domain::control_plane::{Channel, Lane, NormalizedTask, Risk, MAX_PENDING_PREVIEWS_PER_SESSION};
use uuid::Uuid;

use crate::error::{whole_seconds_at_least_one, GatewayError};
use crate::folders::TaskFile;
use crate::locks::lock;

/// How long tombstones of expired and confirmed previews are kept, at least.
const TOMBSTONE_RETENTION: Duration = Duration::from_secs(3600);
/// The most tombstones kept; the oldest go first.
const MAX_TOMBSTONES: usize = 100_000;
/// The most confirmed tasks remembered for ownership checks; the oldest go first (they are
/// then read back from their task file).
const MAX_TRACKED_TASKS: usize = 100_000;
/// The most tasks listed per session.
const MAX_TASKS_PER_SESSION: usize = 50;
/// Why a session, preview or task that is someone else's is refused.
pub(crate) const ANOTHER_PERSON: &str = "the session belongs to another person";
pub(crate) const ANOTHER_SESSION: &str = "the preview belongs to another session";
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// A preview waiting for its confirm.
#[derive(Debug, Clone)]
pub struct PreviewEntry {
    pub preview_id: Uuid,
    pub session_id: Uuid,
    /// The person who made it, and owns its session.
    pub owner: Uuid,
    pub channel: Channel,
    pub raw_input: String,
    pub task: NormalizedTask,
    pub rule_id: String,
    pub risk_reason: String,
    pub requires_structured_override: bool,
    /// SHA-256 over the canonical task, the rules version and the session id.
    pub binding: String,
    pub expires: Instant,
}

/// A confirmed task, remembered so its session (and only its session) can watch it (in Redis
/// too, as JSON, with several instances).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TaskRecord {
    pub task_id: String,
    pub session_id: Uuid,
    /// The person whose session confirmed it.
    pub owner: Uuid,
    pub channel: Channel,
    pub intent: String,
    pub risk: Risk,
    pub lane: Lane,
    pub raw_input: String,
    pub created_at: DateTime<Utc>,
}

impl TaskRecord {
    /// What is remembered of a task file written for (or read back as owned by) `session_id`
    /// and `owner`.
    pub fn from_file(file: TaskFile, session_id: Uuid, owner: Uuid) -> Self {
        Self {
            task_id: file.task_id,
            session_id,
            owner,
            channel: file.channel,
            intent: file.intent,
            risk: file.risk,
            lane: file.lane,
            raw_input: file.raw_input,
            created_at: file.created_at,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PreviewState {
    Pending,
    /// A confirm holds it; a second confirm is refused.
    Confirming,
}

#[derive(Debug)]
struct StoredPreview {
    entry: PreviewEntry,
    state: PreviewState,
}

#[derive(Debug, Clone)]
enum Tombstone {
    Expired { session_id: Uuid, owner: Uuid },
    Confirmed { session_id: Uuid, owner: Uuid, task_id: String },
}

#[derive(Debug)]
struct Session {
    /// The person whose preview created it.
    owner: Uuid,
    channel: Channel,
    expires: Instant,
    /// Unconfirmed previews, oldest first.
    pending: Vec<Uuid>,
    /// Confirmed tasks, newest last.
    tasks: VecDeque<String>,
}

#[derive(Debug)]
struct Inner {
    sessions: HashMap<Uuid, Session>,
    previews: HashMap<Uuid, StoredPreview>,
    tombstones: HashMap<Uuid, Tombstone>,
    tombstone_order: VecDeque<(Uuid, Instant)>,
    tasks: HashMap<String, TaskRecord>,
    task_order: VecDeque<String>,
    last_sweep: Instant,
}

pub struct SessionStore {
    session_ttl: Duration,
    max_sessions: usize,
    inner: Mutex<Inner>,
}

impl SessionStore {
    pub fn new(session_ttl: Duration, max_sessions: usize) -> Self {
        Self {
            session_ttl,
            max_sessions,
            inner: Mutex::new(Inner {
                sessions: HashMap::new(),
                previews: HashMap::new(),
                tombstones: HashMap::new(),
                tombstone_order: VecDeque::new(),
                tasks: HashMap::new(),
                task_order: VecDeque::new(),
                last_sweep: Instant::now(),
            }),
        }
    }

    /// Stores a new preview, creating its session on first use and resetting the session's TTL.
    pub fn insert_preview(&self, entry: PreviewEntry, now: Instant) -> Result<(), GatewayError> {
        let mut inner = lock(&self.inner);
        inner.sweep_if_due(now, false);
        inner.expire_session_if_due(entry.session_id, now);
        if inner.sessions.get(&entry.session_id).is_some_and(|session| session.owner != entry.owner) {
            return Err(GatewayError::SessionMismatch(ANOTHER_PERSON));
        }
        if !inner.sessions.contains_key(&entry.session_id) && inner.sessions.len() >= self.max_sessions {
            inner.sweep_if_due(now, true);
            if inner.sessions.len() >= self.max_sessions {
                return Err(GatewayError::TooManySessions);
            }
        }
        let session_ttl = self.session_ttl;
        let Inner { sessions, previews, tombstones, tombstone_order, .. } = &mut *inner;
        let session = sessions.entry(entry.session_id).or_insert_with(|| Session {
            owner: entry.owner,
            channel: entry.channel,
            expires: now + session_ttl,
            pending: Vec::new(),
            tasks: VecDeque::new(),
        });
        session.expires = now + session_ttl;
        if session.channel != entry.channel {
            return Err(GatewayError::SessionMismatch("this session belongs to another channel"));
        }
        // Drop this session's expired previews before counting.
        session.pending.retain(|id| match previews.get(id) {
            Some(stored) if stored.entry.expires <= now && stored.state == PreviewState::Pending => {
                previews.remove(id);
                tombstones.insert(*id, Tombstone::Expired { session_id: entry.session_id, owner: entry.owner });
                tombstone_order.push_back((*id, now));
                false
            }
            Some(_) => true,
            None => false,
        });
        if session.pending.len() >= MAX_PENDING_PREVIEWS_PER_SESSION {
            let oldest = session
                .pending
                .iter()
                .filter_map(|id| previews.get(id))
                .map(|stored| stored.entry.expires)
                .min()
                .unwrap_or(now);
            return Err(GatewayError::TooManyPreviews {
                oldest_expires_in_seconds: whole_seconds_at_least_one(oldest.saturating_duration_since(now)),
            });
        }
        session.pending.push(entry.preview_id);
        previews.insert(entry.preview_id, StoredPreview { entry, state: PreviewState::Pending });
        Ok(())
    }

    /// Takes a preview for confirmation by `owner`: checks that it exists, belongs to
    /// `session_id` and to them, has not expired and is not being or has not been confirmed.
    /// Until [`Self::complete`] or [`Self::release`], every other confirm of it is refused.
    pub fn claim(
        &self,
        preview_id: &str,
        session_id: Uuid,
        owner: Uuid,
        now: Instant,
    ) -> Result<PreviewEntry, GatewayError> {
        let mut inner = lock(&self.inner);
        inner.sweep_if_due(now, false);
        inner.expire_session_if_due(session_id, now);
        if let Some(session) = inner.sessions.get_mut(&session_id) {
            if session.owner != owner {
                return Err(GatewayError::SessionMismatch(ANOTHER_PERSON));
            }
            session.expires = now + self.session_ttl;
        }
        let Ok(preview_id) = Uuid::parse_str(preview_id) else {
            return Err(GatewayError::PreviewNotFound);
        };
        let Some(stored) = inner.previews.get_mut(&preview_id) else {
            return Err(match inner.tombstones.get(&preview_id) {
                None => GatewayError::PreviewNotFound,
                Some(Tombstone::Expired { session_id: made_in, owner: made_by })
                | Some(Tombstone::Confirmed { session_id: made_in, owner: made_by, .. })
                    if (*made_in, *made_by) != (session_id, owner) =>
                {
                    GatewayError::SessionMismatch(if *made_in == session_id { ANOTHER_PERSON } else { ANOTHER_SESSION })
                }
                Some(Tombstone::Expired { .. }) => GatewayError::PreviewExpired,
                Some(Tombstone::Confirmed { task_id, .. }) => {
                    GatewayError::PreviewAlreadyConfirmed { task_id: Some(task_id.clone()) }
                }
            });
        };
        if stored.entry.session_id != session_id {
            return Err(GatewayError::SessionMismatch(ANOTHER_SESSION));
        }
        if stored.entry.owner != owner {
            return Err(GatewayError::SessionMismatch(ANOTHER_PERSON));
        }
        if stored.state == PreviewState::Confirming {
            return Err(GatewayError::PreviewAlreadyConfirmed { task_id: None });
        }
        if stored.entry.expires <= now {
            inner.forget_preview(preview_id, Tombstone::Expired { session_id, owner }, now);
            return Err(GatewayError::PreviewExpired);
        }
        stored.state = PreviewState::Confirming;
        Ok(stored.entry.clone())
    }

    /// Gives a claimed preview back after a confirm that wrote nothing.
    /// `preview_id` while it still waits for its confirm, when it is `session_id`'s and `owner`'s.
    pub fn pending(&self, preview_id: Uuid, session_id: Uuid, owner: Uuid, now: Instant) -> Option<PreviewEntry> {
        let inner = lock(&self.inner);
        let stored = inner.previews.get(&preview_id)?;
        let theirs = stored.entry.session_id == session_id && stored.entry.owner == owner;
        let waiting = stored.state == PreviewState::Pending && stored.entry.expires > now;
        (theirs && waiting).then(|| stored.entry.clone())
    }

    pub fn release(&self, preview_id: Uuid) {
        if let Some(stored) = lock(&self.inner).previews.get_mut(&preview_id) {
            stored.state = PreviewState::Pending;
        }
    }

    /// Drops a claimed preview that a person turned down: a later confirm of it is told
    /// `PREVIEW_EXPIRED`, as after any preview that was never confirmed.
    pub fn withdraw(&self, entry: &PreviewEntry, now: Instant) {
        let tombstone = Tombstone::Expired { session_id: entry.session_id, owner: entry.owner };
        lock(&self.inner).forget_preview(entry.preview_id, tombstone, now);
    }

    /// Records a successful confirm: the preview is used up and the task belongs to its session.
    pub fn complete(&self, preview_id: Uuid, task: TaskRecord, now: Instant) {
        let mut inner = lock(&self.inner);
        inner.forget_preview(
            preview_id,
            Tombstone::Confirmed { session_id: task.session_id, owner: task.owner, task_id: task.task_id.clone() },
            now,
        );
        if let Some(session) = inner.sessions.get_mut(&task.session_id) {
            session.tasks.push_back(task.task_id.clone());
            if session.tasks.len() > MAX_TASKS_PER_SESSION {
                session.tasks.pop_front();
            }
        }
        inner.remember_task(task);
    }

    /// Remembers a task read back from its file.
    pub fn remember_task(&self, task: TaskRecord) {
        lock(&self.inner).remember_task(task);
    }

    /// Resets the session's TTL if it is live and `owner`'s; returns its channel. A live session
    /// of another person is refused.
    pub fn touch(&self, session_id: Uuid, owner: Uuid, now: Instant) -> Result<Option<Channel>, GatewayError> {
        let mut inner = lock(&self.inner);
        inner.sweep_if_due(now, false);
        inner.expire_session_if_due(session_id, now);
        let Some(session) = inner.sessions.get_mut(&session_id) else {
            return Ok(None);
        };
        if session.owner != owner {
            return Err(GatewayError::SessionMismatch(ANOTHER_PERSON));
        }
        session.expires = now + self.session_ttl;
        Ok(Some(session.channel))
    }

    /// Ends `owner`'s live session now, as if its TTL had run out: its unconfirmed previews
    /// become expired. Returns the session's channel and how many previews were dropped, or
    /// `None` when no such session is live. A live session of another person is refused.
    pub fn end(&self, session_id: Uuid, owner: Uuid, now: Instant) -> Result<Option<(Channel, usize)>, GatewayError> {
        let mut inner = lock(&self.inner);
        inner.expire_session_if_due(session_id, now);
        let Some(session) = inner.sessions.get(&session_id) else {
            return Ok(None);
        };
        if session.owner != owner {
            return Err(GatewayError::SessionMismatch(ANOTHER_PERSON));
        }
        let channel = session.channel;
        let dropped = session
            .pending
            .iter()
            .filter(|id| inner.previews.get(id).is_some_and(|stored| stored.state == PreviewState::Pending))
            .count();
        inner.expire_session(session_id, now);
        Ok(Some((channel, dropped)))
    }

    pub fn task(&self, task_id: &str) -> Option<TaskRecord> {
        lock(&self.inner).tasks.get(task_id).cloned()
    }

    /// The tasks confirmed in a live session, newest first.
    pub fn session_tasks(&self, session_id: Uuid) -> Vec<TaskRecord> {
        let inner = lock(&self.inner);
        let Some(session) = inner.sessions.get(&session_id) else {
            return Vec::new();
        };
        session.tasks.iter().rev().filter_map(|task_id| inner.tasks.get(task_id).cloned()).collect()
    }
}

/// Where the gateway keeps sessions and previews: in this process, or in Redis when several
/// instances share the control plane. Every operation can fail only in the shared case (Redis
/// does not answer), and then fails closed.
pub(crate) enum Sessions {
    Local(SessionStore),
    Shared(crate::shared_sessions::RedisSessions),
}

impl Sessions {
    pub fn insert_preview(&self, entry: PreviewEntry, now: Instant) -> Result<(), GatewayError> {
        match self {
            Sessions::Local(store) => store.insert_preview(entry, now),
            Sessions::Shared(store) => store.insert_preview(entry, now),
        }
    }

    pub fn claim(
        &self,
        preview_id: &str,
        session_id: Uuid,
        owner: Uuid,
        now: Instant,
    ) -> Result<PreviewEntry, GatewayError> {
        match self {
            Sessions::Local(store) => store.claim(preview_id, session_id, owner, now),
            Sessions::Shared(store) => store.claim(preview_id, session_id, owner, now),
        }
    }

    pub fn pending(
        &self,
        preview_id: Uuid,
        session_id: Uuid,
        owner: Uuid,
        now: Instant,
    ) -> Result<Option<PreviewEntry>, GatewayError> {
        match self {
            Sessions::Local(store) => Ok(store.pending(preview_id, session_id, owner, now)),
            Sessions::Shared(store) => store.pending(preview_id, session_id, owner, now),
        }
    }

    /// Gives a claimed preview back; a failure is logged (the preview then stays claimed, and a
    /// later confirm is told it is already being confirmed).
    pub fn release(&self, preview_id: Uuid) {
        match self {
            Sessions::Local(store) => store.release(preview_id),
            Sessions::Shared(store) => {
                if let Err(error) = store.release(preview_id) {
                    tracing::error!(%error, %preview_id, "could not give a claimed preview back");
                }
            }
        }
    }

    pub fn withdraw(&self, entry: &PreviewEntry, now: Instant) {
        match self {
            Sessions::Local(store) => store.withdraw(entry, now),
            Sessions::Shared(store) => {
                if let Err(error) = store.withdraw(entry) {
                    tracing::error!(%error, preview_id = %entry.preview_id, "could not withdraw a preview");
                }
            }
        }
    }

    /// Records a confirm whose task file is written and logged; a failure to record it is
    /// logged (the task stands, and is read back from its file when watched).
    pub fn complete(&self, preview_id: Uuid, task: TaskRecord, now: Instant) {
        match self {
            Sessions::Local(store) => store.complete(preview_id, task, now),
            Sessions::Shared(store) => {
                if let Err(error) = store.complete(preview_id, &task) {
                    tracing::error!(%error, task_id = %task.task_id, "could not record a confirmed task");
                }
            }
        }
    }

    pub fn remember_task(&self, task: TaskRecord) -> Result<(), GatewayError> {
        match self {
            Sessions::Local(store) => {
                store.remember_task(task);
                Ok(())
            }
            Sessions::Shared(store) => store.remember_task(&task),
        }
    }

    pub fn touch(&self, session_id: Uuid, owner: Uuid, now: Instant) -> Result<Option<Channel>, GatewayError> {
        match self {
            Sessions::Local(store) => store.touch(session_id, owner, now),
            Sessions::Shared(store) => store.touch(session_id, owner),
        }
    }

    pub fn end(&self, session_id: Uuid, owner: Uuid, now: Instant) -> Result<Option<(Channel, usize)>, GatewayError> {
        match self {
            Sessions::Local(store) => store.end(session_id, owner, now),
            Sessions::Shared(store) => store.end(session_id, owner),
        }
    }

    pub fn task(&self, task_id: &str) -> Result<Option<TaskRecord>, GatewayError> {
        match self {
            Sessions::Local(store) => Ok(store.task(task_id)),
            Sessions::Shared(store) => store.task(task_id),
        }
    }

    pub fn session_tasks(&self, session_id: Uuid) -> Result<Vec<TaskRecord>, GatewayError> {
        match self {
            Sessions::Local(store) => Ok(store.session_tasks(session_id)),
            Sessions::Shared(store) => store.session_tasks(session_id),
        }
    }
}

impl Inner {
    fn forget_preview(&mut self, preview_id: Uuid, tombstone: Tombstone, now: Instant) {
        if let Some(stored) = self.previews.remove(&preview_id) {
            if let Some(session) = self.sessions.get_mut(&stored.entry.session_id) {
                session.pending.retain(|id| *id != preview_id);
            }
        }
        self.tombstones.insert(preview_id, tombstone);
        self.tombstone_order.push_back((preview_id, now));
    }

    fn expire_session_if_due(&mut self, session_id: Uuid, now: Instant) {
        if self.sessions.get(&session_id).is_some_and(|session| session.expires <= now) {
            self.expire_session(session_id, now);
        }
    }

    fn expire_session(&mut self, session_id: Uuid, now: Instant) {
        let Some(session) = self.sessions.remove(&session_id) else {
            return;
        };
        for preview_id in session.pending {
            if self.previews.get(&preview_id).is_some_and(|stored| stored.state == PreviewState::Pending) {
                self.previews.remove(&preview_id);
                self.tombstones.insert(preview_id, Tombstone::Expired { session_id, owner: session.owner });
                self.tombstone_order.push_back((preview_id, now));
            }
        }
    }

    fn remember_task(&mut self, task: TaskRecord) {
        if self.tasks.contains_key(&task.task_id) {
            return;
        }
        if self.tasks.len() >= MAX_TRACKED_TASKS {
            if let Some(oldest) = self.task_order.pop_front() {
                self.tasks.remove(&oldest);
            }
        }
        self.task_order.push_back(task.task_id.clone());
        self.tasks.insert(task.task_id.clone(), task);
    }

    fn sweep_if_due(&mut self, now: Instant, force: bool) {
        if !force && now.saturating_duration_since(self.last_sweep) < SWEEP_INTERVAL {
            return;
        }
        self.last_sweep = now;
        let expired_sessions: Vec<Uuid> =
            self.sessions.iter().filter(|(_, session)| session.expires <= now).map(|(id, _)| *id).collect();
        for session_id in expired_sessions {
            self.expire_session(session_id, now);
        }
        let expired_previews: Vec<(Uuid, Uuid, Uuid)> = self
            .previews
            .values()
            .filter(|stored| stored.state == PreviewState::Pending && stored.entry.expires <= now)
            .map(|stored| (stored.entry.preview_id, stored.entry.session_id, stored.entry.owner))
            .collect();
        for (preview_id, session_id, owner) in expired_previews {
            self.forget_preview(preview_id, Tombstone::Expired { session_id, owner }, now);
        }
        while let Some((preview_id, at)) = self.tombstone_order.front().copied() {
            let too_old = now.saturating_duration_since(at) > TOMBSTONE_RETENTION;
            if !(too_old || self.tombstone_order.len() > MAX_TOMBSTONES) {
                break;
            }
            self.tombstone_order.pop_front();
            self.tombstones.remove(&preview_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl SessionStore {
        fn session_count(&self) -> usize {
            lock(&self.inner).sessions.len()
        }

        fn preview_count(&self) -> usize {
            lock(&self.inner).previews.len()
        }

        /// Sweeps expired entries now.
        fn sweep(&self, now: Instant) {
            lock(&self.inner).sweep_if_due(now, true);
        }
    }

    /// The person the tests act for unless they name another.
    const ALICE: Uuid = Uuid::from_u128(0xa11ce);
    const BOB: Uuid = Uuid::from_u128(0xb0b);

    fn entry(session_id: Uuid, channel: Channel, ttl: Duration, now: Instant) -> PreviewEntry {
        entry_by(ALICE, session_id, channel, ttl, now)
    }

    fn entry_by(owner: Uuid, session_id: Uuid, channel: Channel, ttl: Duration, now: Instant) -> PreviewEntry {
        PreviewEntry {
            preview_id: Uuid::new_v4(),
            session_id,
            owner,
            channel,
            raw_input: "liam check status".into(),
            task: NormalizedTask {
                task_id: "task_20260202T100000_0123456789ab".into(),
                intent: "status_check".into(),
                operations: vec![],
                risk: Risk::Low,
                lane: Lane::Fast,
            },
            rule_id: "liam_status".into(),
            risk_reason: "reads".into(),
            requires_structured_override: false,
            binding: "b".into(),
            expires: now + ttl,
        }
    }

    fn record(task_id: &str, session_id: Uuid) -> TaskRecord {
        TaskRecord {
            task_id: task_id.into(),
            session_id,
            owner: ALICE,
            channel: Channel::Terminal,
            intent: "status_check".into(),
            risk: Risk::Low,
            lane: Lane::Fast,
            raw_input: "liam check status".into(),
            created_at: Utc::now(),
        }
    }

    #[test]
    fn five_pending_previews_per_session_then_refusal() {
        let store = SessionStore::new(Duration::from_secs(600), 10);
        let now = Instant::now();
        let session = Uuid::new_v4();
        for _ in 0..MAX_PENDING_PREVIEWS_PER_SESSION {
            store.insert_preview(entry(session, Channel::Web, Duration::from_secs(300), now), now).unwrap();
        }
        let refused = store.insert_preview(entry(session, Channel::Web, Duration::from_secs(300), now), now);
        assert!(
            matches!(refused, Err(GatewayError::TooManyPreviews { oldest_expires_in_seconds: 300 })),
            "{refused:?}"
        );
        // Another session is unaffected.
        store.insert_preview(entry(Uuid::new_v4(), Channel::Web, Duration::from_secs(300), now), now).unwrap();
        // Once the previews expire, the session may preview again.
        let later = now + Duration::from_secs(301);
        store.insert_preview(entry(session, Channel::Web, Duration::from_secs(300), later), later).unwrap();
    }

    #[test]
    fn claims_are_exclusive_and_bound_to_the_session() {
        let store = SessionStore::new(Duration::from_secs(600), 10);
        let now = Instant::now();
        let session = Uuid::new_v4();
        let preview = entry(session, Channel::Terminal, Duration::from_secs(300), now);
        let id = preview.preview_id;
        store.insert_preview(preview, now).unwrap();

        assert!(matches!(
            store.claim(&id.to_string(), Uuid::new_v4(), ALICE, now),
            Err(GatewayError::SessionMismatch(_))
        ));
        store.claim(&id.to_string(), session, ALICE, now).unwrap();
        assert!(matches!(
            store.claim(&id.to_string(), session, ALICE, now),
            Err(GatewayError::PreviewAlreadyConfirmed { task_id: None })
        ));
        store.release(id);
        store.claim(&id.to_string(), session, ALICE, now).unwrap();
        store.complete(id, record("task_20260202T100000_0123456789ab", session), now);
        assert!(matches!(
            store.claim(&id.to_string(), session, ALICE, now),
            Err(GatewayError::PreviewAlreadyConfirmed { task_id: Some(_) })
        ));
        assert!(matches!(
            store.claim(&id.to_string(), Uuid::new_v4(), ALICE, now),
            Err(GatewayError::SessionMismatch(_))
        ));
        assert!(matches!(store.claim("not-a-uuid", session, ALICE, now), Err(GatewayError::PreviewNotFound)));
        assert!(matches!(
            store.claim(&Uuid::new_v4().to_string(), session, ALICE, now),
            Err(GatewayError::PreviewNotFound)
        ));
        assert_eq!(store.session_tasks(session).len(), 1);
        assert_eq!(store.preview_count(), 0);
    }

    #[test]
    fn previews_and_sessions_expire_and_say_so() {
        let store = SessionStore::new(Duration::from_secs(10), 10);
        let now = Instant::now();
        let session = Uuid::new_v4();
        let short = entry(session, Channel::Terminal, Duration::from_secs(5), now);
        let short_id = short.preview_id;
        store.insert_preview(short, now).unwrap();
        let later = now + Duration::from_secs(6);
        assert!(matches!(store.claim(&short_id.to_string(), session, ALICE, later), Err(GatewayError::PreviewExpired)));

        // Each request resets the session's TTL.
        let long = entry(session, Channel::Terminal, Duration::from_secs(100), later);
        let long_id = long.preview_id;
        store.insert_preview(long, later).unwrap();
        assert!(store.touch(session, ALICE, later + Duration::from_secs(9)).unwrap().is_some());
        assert!(store.touch(session, ALICE, later + Duration::from_secs(18)).unwrap().is_some());
        // Then it goes quiet past its TTL: the session and its previews are gone.
        let expired = later + Duration::from_secs(29);
        assert!(matches!(
            store.claim(&long_id.to_string(), session, ALICE, expired),
            Err(GatewayError::PreviewExpired)
        ));
        assert_eq!(store.session_count(), 0);
    }

    #[test]
    fn sweeping_bounds_memory_and_sessions_are_capped() {
        let store = SessionStore::new(Duration::from_secs(10), 3);
        let now = Instant::now();
        for _ in 0..3 {
            store.insert_preview(entry(Uuid::new_v4(), Channel::Web, Duration::from_secs(5), now), now).unwrap();
        }
        let refused = store.insert_preview(entry(Uuid::new_v4(), Channel::Web, Duration::from_secs(5), now), now);
        assert!(matches!(refused, Err(GatewayError::TooManySessions)));
        let later = now + Duration::from_secs(11);
        store.insert_preview(entry(Uuid::new_v4(), Channel::Web, Duration::from_secs(5), later), later).unwrap();
        assert_eq!(store.session_count(), 1);
        assert_eq!(store.preview_count(), 1);
        store.sweep(later + Duration::from_secs(20));
        assert_eq!((store.session_count(), store.preview_count()), (0, 0));
    }

    #[test]
    fn a_session_keeps_its_channel() {
        let store = SessionStore::new(Duration::from_secs(10), 3);
        let now = Instant::now();
        let session = Uuid::new_v4();
        store.insert_preview(entry(session, Channel::Terminal, Duration::from_secs(5), now), now).unwrap();
        let refused = store.insert_preview(entry(session, Channel::Telegram, Duration::from_secs(5), now), now);
        assert!(matches!(refused, Err(GatewayError::SessionMismatch(_))));
    }

    #[test]
    fn a_session_belongs_to_the_person_who_first_previewed_in_it() {
        let store = SessionStore::new(Duration::from_secs(10), 3);
        let now = Instant::now();
        let session = Uuid::new_v4();
        let alices = entry_by(ALICE, session, Channel::Web, Duration::from_secs(5), now);
        let preview_id = alices.preview_id.to_string();
        store.insert_preview(alices, now).unwrap();

        fn mismatch<T>(result: Result<T, GatewayError>) -> bool {
            matches!(result, Err(GatewayError::SessionMismatch(detail)) if detail == ANOTHER_PERSON)
        }
        assert!(mismatch(store.insert_preview(entry_by(BOB, session, Channel::Web, Duration::from_secs(5), now), now)));
        assert!(mismatch(store.claim(&preview_id, session, BOB, now)));
        assert!(mismatch(store.touch(session, BOB, now)));
        // Bob's attempts did not keep Alice's session alive.
        assert!(store.touch(session, ALICE, now + Duration::from_secs(11)).unwrap().is_none());

        // Once the preview is only a tombstone, it is still not Bob's to hear about.
        let session = Uuid::new_v4();
        let alices = entry_by(ALICE, session, Channel::Web, Duration::from_secs(5), now);
        let preview_id = alices.preview_id.to_string();
        store.insert_preview(alices, now).unwrap();
        let claimed = store.claim(&preview_id, session, ALICE, now).unwrap();
        store.complete(claimed.preview_id, record("task_20260202T100000_0123456789ab", session), now);
        assert!(mismatch(store.claim(&preview_id, session, BOB, now)));
        assert!(matches!(
            store.claim(&preview_id, session, ALICE, now),
            Err(GatewayError::PreviewAlreadyConfirmed { task_id: Some(_) })
        ));
        assert_eq!(store.session_tasks(session).len(), 1);
    }
}
