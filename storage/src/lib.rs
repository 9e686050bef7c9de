//! Storage: one interface ([`Store`]), two implementations (SQLite and PostgreSQL).
//!
//! The SQL that both databases understand is written once (see `portable.rs`) and compiled for
//! each backend; what differs — connecting, pragmas, migrations — lives in `sqlite.rs` and
//! `postgres.rs`.

mod accounts;
mod error;
mod message_changes;
mod portable;
mod postgres;
mod proposals;
mod records;
mod rows;
mod sqlite;
mod telegram;
#[cfg(feature = "testing")]
pub mod testing;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use domain::accounts::{ApiToken, Member, Role};
use domain::control_plane::TaskState;
use domain::proposals::Proposal;
use domain::rooms::{Agent, MemberRole, Message, MessagePage, Room, UsageEvent};
use domain::runs::{Run, RunStatus, StopReason};
use domain::telegram::{ChatPreview, TelegramLink};
use uuid::Uuid;

pub use error::{Result, StorageError};
pub use postgres::PostgresStore;
pub use records::*;
pub use rows::User;
pub use sqlite::SqliteStore;

/// What `create_agent` refuses when the room holds `max_total` agents, inactive ones included.
pub const TOO_MANY_AGENTS: &str = "the room already holds the maximum number of agents";
/// What `create_agent` and reactivating refuse when the room has `max_active` active agents.
pub const TOO_MANY_ACTIVE_AGENTS: &str = "the room already has the maximum number of active agents";

/// The store shared by every part of the server.
pub type DynStore = Arc<dyn Store>;

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Picks the backend from a connection URL.
    pub fn from_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Explicit limits for the connection pool.
#[derive(Debug, Clone, Copy)]
pub struct PoolLimits {
    pub max_connections: u32,
    /// How long a caller waits for a free connection before the database counts as unavailable.
    pub acquire_timeout: Duration,
}

impl Default for PoolLimits {
    fn default() -> Self {
        Self { max_connections: 10, acquire_timeout: Duration::from_secs(5) }
    }
}

/// Connects to the database the URL names, applies pending migrations and returns the store.
/// A migration that fails is an error: the caller must not serve with a half-migrated schema.
pub async fn open(url: &str, limits: PoolLimits) -> Result<DynStore> {
    match Backend::from_url(url) {
        Some(Backend::Sqlite) => Ok(Arc::new(SqliteStore::open(url, limits).await?)),
        Some(Backend::Postgres) => Ok(Arc::new(PostgresStore::open(url, limits).await?)),
        None => Err(StorageError::UnsupportedUrl),
    }
}

/// The current time as stored: UTC, whole milliseconds (so SQLite's text timestamps sort correctly).
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

/// Whose view of the room list to give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomViewer {
    /// Every room (an admin).
    Everything,
    /// A signed-in person: public and demo rooms, and the rooms they belong to.
    Person(Uuid),
    /// Someone not signed in: demo rooms only.
    Guest,
}

/// The connection pool behind a store, for parts of the server that keep their own tables in the
/// same database (sign-in sessions).
#[derive(Debug, Clone)]
pub enum DatabasePool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// People and their rights: accounts, personal API tokens, invitations, room membership.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Fails with `Conflict` when the email is taken.
    async fn create_user(&self, new: NewUser) -> Result<User>;
    async fn count_users(&self) -> Result<i64>;
    async fn get_user(&self, user_id: Uuid) -> Result<Option<User>>;
    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>>;
    /// Oldest first.
    async fn list_users(&self, limit: i64) -> Result<Vec<User>>;
    /// Fails with `Conflict` when it would leave no admin.
    async fn set_user_role(&self, user_id: Uuid, role: Role) -> Result<User>;

    /// Fails with `LimitReached` when the person already holds `max_per_user` tokens.
    async fn create_token(&self, user_id: Uuid, name: &str, token_hash: &str, max_per_user: i64) -> Result<ApiToken>;
    async fn list_tokens(&self, user_id: Uuid) -> Result<Vec<ApiToken>>;
    /// Only the token's owner may delete it; another person's token is `NotFound`.
    async fn delete_token(&self, user_id: Uuid, token_id: Uuid) -> Result<()>;
    /// The token's owner, noting that the token was used.
    async fn user_by_token_hash(&self, token_hash: &str) -> Result<Option<User>>;

    async fn invite(&self, email: &str, invited_by: Uuid) -> Result<()>;
    async fn is_invited(&self, email: &str) -> Result<bool>;

    async fn membership(&self, room_id: Uuid, user_id: Uuid) -> Result<Option<MemberRole>>;
    /// In the order they joined.
    async fn list_members(&self, room_id: Uuid) -> Result<Vec<Member>>;
    /// Fails with `Conflict` when the person is already a member.
    async fn add_member(&self, room_id: Uuid, user_id: Uuid, role: MemberRole) -> Result<()>;
    /// Fails with `Conflict` when it would leave the room without an owner.
    async fn set_member_role(&self, room_id: Uuid, user_id: Uuid, role: MemberRole) -> Result<()>;
    /// Fails with `Conflict` when it would leave the room without an owner.
    async fn remove_member(&self, room_id: Uuid, user_id: Uuid) -> Result<()>;
}

/// Agents' proposals of control-plane tasks and what became of them.
#[async_trait]
pub trait ProposalStore: Send + Sync {
    async fn insert_proposal(&self, new: NewProposal) -> Result<Proposal>;
    async fn get_proposal(&self, room_id: Uuid, proposal_id: Uuid) -> Result<Option<Proposal>>;
    /// The room's newest `limit` proposals, oldest first.
    async fn list_proposals(&self, room_id: Uuid, limit: i64) -> Result<Vec<Proposal>>;
    /// The room's proposals still waiting for a person at `now`.
    async fn count_open_proposals(&self, room_id: Uuid, now: DateTime<Utc>) -> Result<i64>;
    /// Records a person's decision on a pending proposal; `None` when it was no longer pending
    /// (decided by someone else, or expired), so two decisions never both land. A confirm also
    /// lands on a proposal expired in the same instant: the gateway had written its task.
    async fn decide_proposal(&self, proposal_id: Uuid, decision: ProposalDecisionRecord) -> Result<Option<Proposal>>;
    /// Records what the execution plane reported about a confirmed proposal's task.
    async fn record_proposal_task(
        &self,
        proposal_id: Uuid,
        task_state: TaskState,
        result_summary: Option<String>,
    ) -> Result<Proposal>;
    /// Marks one pending proposal `expired` (the gateway no longer holds its preview); `None`
    /// when it was not pending.
    async fn expire_proposal(&self, proposal_id: Uuid) -> Result<Option<Proposal>>;
    /// Marks every pending proposal whose preview expired by `now` as `expired`, returning them.
    async fn expire_proposals(&self, now: DateTime<Utc>) -> Result<Vec<Proposal>>;
    /// Confirmed proposals whose task has not reached a final state, oldest first.
    async fn proposals_to_follow(&self, limit: i64) -> Result<Vec<Proposal>>;
}

/// The control plane's Telegram channel: link codes, linked chats, and the previews shown there.
#[async_trait]
pub trait TelegramStore: Send + Sync {
    /// Keeps a link code's hash for `user_id`, replacing any code they had before.
    async fn create_link_code(&self, user_id: Uuid, code_hash: &str, expires_at: DateTime<Utc>) -> Result<()>;
    /// Spends a live link code: its person, once; `None` when it is unknown, spent or expired.
    async fn redeem_link_code(&self, code_hash: &str, now: DateTime<Utc>) -> Result<Option<Uuid>>;
    /// Binds the chat to the person, replacing whoever it was bound to.
    async fn link_chat(&self, chat_id: i64, user_id: Uuid, chat_title: &str) -> Result<TelegramLink>;
    /// Unbinds the chat (only from `user_id` when given); whether it was bound.
    async fn unlink_chat(&self, chat_id: i64, user_id: Option<Uuid>) -> Result<bool>;
    async fn chat_user(&self, chat_id: i64) -> Result<Option<Uuid>>;
    /// The person's linked chats, oldest link first.
    async fn list_chats(&self, user_id: Uuid) -> Result<Vec<TelegramLink>>;
    async fn insert_chat_preview(&self, preview: &ChatPreview) -> Result<()>;
    async fn chat_preview(&self, chat_id: i64, message_id: i64) -> Result<Option<ChatPreview>>;
    /// Moves a pending preview to its final state; `false` when it was no longer pending, so two
    /// instances or two presses never both settle it.
    async fn settle_chat_preview(&self, chat_id: i64, message_id: i64, settled: ChatPreviewSettlement) -> Result<bool>;
    /// Pending previews expired by `now`, soonest expired first.
    async fn expired_chat_previews(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<ChatPreview>>;
    /// Confirmed previews whose task is not known to be final, after the `(chat_id, message_id)`
    /// cursor in that order: a follower pages through them all, however many never finish.
    async fn chat_tasks_to_follow(&self, after: (i64, i64), limit: i64) -> Result<Vec<ChatPreview>>;
    /// Deletes previews settled (and tasks finished) before `before`; how many.
    async fn forget_chat_previews(&self, before: DateTime<Utc>) -> Result<u64>;
    /// Notes that the chat was told of `news`, if it had last been told of `told`; `false` when
    /// someone else told it first.
    async fn record_chat_notice(
        &self,
        chat_id: i64,
        message_id: i64,
        told: Option<TaskState>,
        news: TaskState,
    ) -> Result<bool>;
}

/// Leases: which instance does a job only one may do at a time, until when.
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Takes or renews the named lease for `holder` for `ttl`; its fencing token, or `None` while
    /// another holder's lease is live. The token grows whenever the lease changes hands.
    async fn acquire_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<Option<i64>>;
    /// Extends a live lease that `holder` holds with fencing token `token`; `false` when it lapsed
    /// or changed hands meanwhile. Unlike [`LeaseStore::acquire_lease`] it never takes a lease
    /// back, so a holder that stalled cannot resume work another one took over.
    async fn renew_lease(&self, name: &str, holder: &str, token: i64, ttl: Duration) -> Result<bool>;
    /// Gives the lease up at once (at shutdown), if `holder` still holds it.
    async fn release_lease(&self, name: &str, holder: &str) -> Result<()>;
    /// Deletes the lease if `holder` holds it: the job it guarded is done, so nobody is to take
    /// it over.
    async fn forget_lease(&self, name: &str, holder: &str) -> Result<()>;
    /// Names of leases beginning with `prefix` whose holder let them expire (it died or hung),
    /// at most `limit`: jobs another instance should take over.
    async fn expired_leases(&self, prefix: &str, limit: i64) -> Result<Vec<String>>;
}

/// A room's messages at a glance, for room lists.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RoomActivity {
    pub room_id: Uuid,
    pub messages: i64,
    pub last_message_at: Option<DateTime<Utc>>,
}

/// What `MessageChangeStore` refuses for a message that was removed.
pub const MESSAGE_REMOVED: &str = "the message was removed";
/// What `MessageChangeStore` refuses for a message an agent is still writing.
pub const MESSAGE_STREAMING: &str = "the message is still being written";
/// The usage report's longest answer.
pub const USAGE_REPORT_ROWS: i64 = 1000;

/// How a reply is written again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rewrite {
    /// A new version; the one shown is kept as an alternative.
    Regenerate,
    /// The one shown (a failed or cut-off reply) is replaced.
    Retry,
}

/// Changes to messages after they were written: new versions of a reply, edits, removal. Each
/// refuses a message still being written or already removed with `Conflict`
/// ([`MESSAGE_STREAMING`], [`MESSAGE_REMOVED`]).
#[async_trait]
pub trait MessageChangeStore: Send + Sync {
    /// Empties the message and marks it `streaming` again, for its agent to write anew; with
    /// [`Rewrite::Regenerate`] the version shown is kept and the new one gets the next index.
    /// `model` replaces the model it names.
    async fn restart_message(&self, message_id: Uuid, rewrite: Rewrite, model: Option<String>) -> Result<Message>;
    /// Shows the version at `index` (`NotFound("alternative")` when there is none), keeping the
    /// one shown until now.
    async fn select_alternative(&self, message_id: Uuid, index: i64) -> Result<Message>;
    /// Replaces the text and marks the message edited.
    async fn edit_message(&self, message_id: Uuid, content: &str, content_html: &str) -> Result<Message>;
    /// Removes the text and every version of it; the message stays in place, marked removed.
    async fn delete_message(&self, message_id: Uuid) -> Result<Message>;
}

/// Whose usage a report sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageScope {
    /// Every room's (admins).
    Everything,
    /// The rooms the person is a member of.
    Person(Uuid),
}

/// Usage summed for reports.
#[async_trait]
pub trait UsageReportStore: Send + Sync {
    /// Tokens and cost per `group` of the usage in `scope` from `range.0` (inclusive) to
    /// `range.1` (exclusive), the most expensive first (by day: oldest first), at most
    /// [`USAGE_REPORT_ROWS`].
    async fn usage_report(
        &self,
        scope: UsageScope,
        group: domain::usage::UsageGroup,
        range: (DateTime<Utc>, DateTime<Utc>),
    ) -> Result<Vec<domain::usage::UsageTotal>>;
}

/// Everything the product stores, independent of the database behind it.
#[async_trait]
pub trait Store:
    AccountStore
    + ProposalStore
    + TelegramStore
    + LeaseStore
    + MessageChangeStore
    + UsageReportStore
    + Send
    + Sync
    + fmt::Debug
{
    fn backend(&self) -> Backend;

    /// The pool itself, for tables the store does not manage (sign-in sessions).
    fn pool(&self) -> DatabasePool;

    /// Succeeds when the database answers a trivial query.
    async fn ping(&self) -> Result<()>;

    /// Closes every pooled connection; called once on shutdown.
    async fn close(&self);

    // --- rooms ---
    /// Creates the room and, when it has one, makes its owner a member with the `owner` role.
    async fn create_room(&self, new: NewRoom) -> Result<Room>;
    async fn get_room(&self, room_id: Uuid) -> Result<Option<Room>>;
    async fn update_room(&self, room_id: Uuid, patch: RoomPatch) -> Result<Room>;
    /// Deletes the room with everything in it.
    async fn delete_room(&self, room_id: Uuid) -> Result<()>;
    /// The rooms `viewer` may see, newest first.
    async fn list_rooms(&self, viewer: RoomViewer, limit: i64) -> Result<Vec<Room>>;
    /// Per room `viewer` may see that has messages: how many, and when the newest was written.
    async fn room_activity(&self, viewer: RoomViewer) -> Result<Vec<RoomActivity>>;

    // --- agents ---
    /// Fails with `LimitReached` ([`TOO_MANY_AGENTS`] or [`TOO_MANY_ACTIVE_AGENTS`]) when the room
    /// already holds as many agents, or active agents, as `limits` allow.
    async fn create_agent(&self, new: NewAgent, limits: AgentLimits) -> Result<Agent>;
    async fn get_agent(&self, room_id: Uuid, agent_id: Uuid) -> Result<Option<Agent>>;
    /// In the order they were added.
    async fn list_agents(&self, room_id: Uuid) -> Result<Vec<Agent>>;
    /// Applies the patch; reactivating fails with `LimitReached` when the room is full.
    async fn update_agent(&self, room_id: Uuid, agent_id: Uuid, patch: AgentPatch, max_active: i64) -> Result<Agent>;

    // --- messages ---
    async fn insert_message(&self, new: NewMessage) -> Result<Message>;
    async fn get_message(&self, message_id: Uuid) -> Result<Option<Message>>;
    /// Up to `limit` messages older than `before` (or the newest ones), oldest first, with the
    /// cursor of the page before them.
    async fn list_messages(&self, room_id: Uuid, before: Option<Uuid>, limit: i64) -> Result<MessagePage>;
    /// Saves the text so far of a message that is still streaming.
    async fn save_streaming_text(&self, message_id: Uuid, content: &str) -> Result<()>;
    /// Writes the final state of a message.
    async fn finish_message(&self, message_id: Uuid, outcome: MessageOutcome) -> Result<Message>;
    /// The agent who wrote the room's latest agent message.
    async fn last_agent_speaker(&self, room_id: Uuid) -> Result<Option<Uuid>>;
    /// Marks every message still `streaming` as `interrupted`; used at start-up after a crash.
    async fn interrupt_streaming_messages(&self) -> Result<u64>;
    /// Marks the room's messages still `streaming` as `interrupted`: those of the run `run_id`,
    /// or, with `None`, all of them. Used when an instance takes over the work of one that died;
    /// returns the messages as they now are.
    async fn interrupt_streaming_messages_of(&self, room_id: Uuid, run_id: Option<Uuid>) -> Result<Vec<Message>>;
    /// Rooms with a message still `streaming`, at most `limit`.
    async fn rooms_with_streaming_messages(&self, limit: i64) -> Result<Vec<Uuid>>;

    // --- runs ---
    /// Fails with `Conflict` when the room already has a running run.
    async fn create_run(&self, new: NewRun) -> Result<Run>;
    async fn get_run(&self, room_id: Uuid, run_id: Uuid) -> Result<Option<Run>>;
    /// Newest first.
    async fn list_runs(&self, room_id: Uuid, limit: i64) -> Result<Vec<Run>>;
    /// The messages written in a run of the room, oldest first, at most `limit`.
    async fn run_messages(&self, room_id: Uuid, run_id: Uuid, limit: i64) -> Result<Vec<Message>>;
    async fn running_run(&self, room_id: Uuid) -> Result<Option<Run>>;
    /// Who started the run (its generations count against their budget).
    async fn run_started_by(&self, run_id: Uuid) -> Result<Option<Uuid>>;
    /// Runs still marked running in any room, oldest first, at most `limit`.
    async fn list_running_runs(&self, limit: i64) -> Result<Vec<Run>>;
    /// How many runs the person started are still running.
    async fn count_running_runs_started_by(&self, user_id: Uuid) -> Result<i64>;
    async fn record_run_progress(&self, run_id: Uuid, steps: i64, tokens_used: i64) -> Result<()>;
    /// Ends a running run; `None` when it had already ended.
    async fn finish_run(&self, run_id: Uuid, status: RunStatus, reason: StopReason) -> Result<Option<Run>>;
    /// Ends every run still marked running (a crash left them so) with the given reason.
    async fn close_running_runs(&self, status: RunStatus, reason: StopReason) -> Result<Vec<Run>>;

    // --- usage ---
    async fn insert_usage_event(&self, new: NewUsageEvent) -> Result<UsageEvent>;
    async fn list_usage_events(&self, room_id: Uuid) -> Result<Vec<UsageEvent>>;
    /// Tokens (prompt and reply) of the paid generations (the demo model's are free) counted
    /// against the person since `since`.
    async fn tokens_used_by_since(&self, user_id: Uuid, since: DateTime<Utc>) -> Result<i64>;
    /// The same for generations counted against nobody in particular: guests' replies.
    async fn tokens_used_by_guests_since(&self, since: DateTime<Utc>) -> Result<i64>;
    /// The summed cost of a run's generations.
    async fn run_cost(&self, run_id: Uuid) -> Result<f64>;

    // --- telemetry anchors ---
    /// The head (`seq`, `hash`) of the named hash-chained log, as last kept.
    async fn telemetry_anchor(&self, log: &str) -> Result<Option<(i64, String)>>;
    /// Keeps the named log's head, replacing the one kept before.
    async fn keep_telemetry_anchor(&self, log: &str, seq: i64, hash: &str) -> Result<()>;

    // --- server keys ---
    /// The key kept under `name`; `fresh` is kept first when there is none, so every instance
    /// and every restart agrees on the first one kept.
    async fn server_key(&self, name: &str, fresh: &str) -> Result<String>;
}
