//! The gateway's operations: preview, confirm, watch and a session's tasks. The HTTP handlers
//! and the web UI's server functions both call these, so every rule lives here once. Each is
//! made by an [`Operator`], whom the caller has already signed in and authorized.
//!
//! Every call, refused or not, is in the telemetry before it returns: its own line, or, for a
//! refusal that costs nothing (rate limited, malformed), a count in its window's `refused` line
//! (see [`crate::refusals`]). If a line cannot be written the call fails (`STORAGE_UNAVAILABLE`
//! when the disk is full or read-only, `INTERNAL` otherwise) and a confirm's task file is removed.
//! Previews and confirms are refused early, with `STORAGE_UNAVAILABLE`, while the disk has less
//! free space than `GATEWAY_MIN_FREE_MB`: what is left is kept for the log.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use domain::control_plane::{
    Channel, ConfirmRequest, ConfirmResponse, ConfirmStatus, Lane, NormalizedTask, PreviewRequest, PreviewResponse,
    SessionEnded, SessionTask, SessionTasksResponse, StructuredOverride, TaskState, WatchResponse, TASK_AUTHOR,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use tracing::instrument;
use uuid::Uuid;

use crate::clock::{Clock, MonotonicClock, SharedClock};
use crate::config::GatewayConfig;
use crate::error::{GatewayError, GatewayResult, GatewayStartupError};
use crate::execution_reports::{ExecutionReport, ExecutionReports};
use crate::folders::{is_task_id, new_task_id, Folders, TaskFile, WriteError};
use crate::locks::try_lock;
use crate::operator::Operator;
use crate::rate_limits::RateLimits;
use crate::refusals::{is_counted, RefusalTally};
use crate::rules::RuleSet;
use crate::sessions::{PreviewEntry, SessionStore, Sessions, TaskRecord, ANOTHER_PERSON};
use crate::telemetry::{
    canonical_json, session_ref, Durability, Outcome, TelemetryEvent, TelemetryLog, TelemetryRecord,
};
use domain::PublicError;

/// Longer inputs are refused with `INVALID_INPUT`.
pub const MAX_RAW_INPUT_BYTES: usize = 4096;
/// How many task ids a confirm tries before it answers `TASK_COLLISION`.
pub const TASK_ID_ATTEMPTS: usize = 4;
/// Client-supplied ids are cut to this length in telemetry.
const MAX_LOGGED_ID_BYTES: usize = 128;
const LIMITER_CLEANUP_INTERVAL: Duration = Duration::from_secs(10);

/// The control plane's gateway. Cheap to share: clone it or put it in an `Arc`.
#[derive(Clone)]
pub struct Gateway {
    shared: Arc<Shared>,
}

struct Shared {
    config: GatewayConfig,
    rules: RuleSet,
    folders: Folders,
    sessions: Sessions,
    rate_limits: RateLimits,
    telemetry: TelemetryLog,
    reports: ExecutionReports,
    /// What session and preview lifetimes and rate limits are measured on.
    clock: SharedClock,
    limiter_cleanup: Mutex<Instant>,
    refusals: Mutex<RefusalTally>,
    /// The key of the session hashes in telemetry.
    session_key: crate::config::SessionKey,
    task_ids: fn(DateTime<Utc>) -> String,
}

impl Gateway {
    /// Validates the rules, prepares the folders under `config.root` and opens the telemetry
    /// log, continuing its hash chain. Fails on an invalid rules file, a folder that resolves
    /// outside the root, or a telemetry log whose last line is damaged.
    pub fn new(config: GatewayConfig) -> Result<Self, GatewayStartupError> {
        Self::with_clock(config, Arc::new(MonotonicClock))
    }

    /// Keeps sessions, previews and rate limits in Redis from now on, shared with every other
    /// instance on it: a preview made on one is confirmed on another, once. Call before the
    /// gateway is cloned or used.
    pub fn share_sessions(mut self, client: redis::Client) -> Self {
        let Some(shared) = Arc::get_mut(&mut self.shared) else {
            unreachable!("sessions are shared before the gateway is handed out")
        };
        let redis = Arc::new(crate::shared_sessions::SharedRedis::new(client));
        let config = &shared.config;
        shared.sessions = Sessions::Shared(crate::shared_sessions::RedisSessions::new(
            redis.clone(),
            config.session_ttl,
            config.max_sessions,
        ));
        shared.rate_limits.share(crate::shared_sessions::RedisRateLimits::new(
            redis,
            config.session_rate,
            config.address_rate,
        ));
        self
    }

    /// Like [`Gateway::new`], measuring sessions, previews and rate limits on `clock`.
    pub fn with_clock(config: GatewayConfig, clock: Arc<dyn Clock>) -> Result<Self, GatewayStartupError> {
        let rules = RuleSet::builtin()?;
        Self::with_rules(config, rules, SharedClock::new(clock))
    }

    /// Like [`Gateway::new`] with another rules file's text (validated the same way).
    pub fn with_rules_text(config: GatewayConfig, rules: &str) -> Result<Self, GatewayStartupError> {
        Self::with_rules(config, RuleSet::parse(rules)?, SharedClock::new(Arc::new(MonotonicClock)))
    }

    fn with_rules(config: GatewayConfig, rules: RuleSet, clock: SharedClock) -> Result<Self, GatewayStartupError> {
        let folders = Folders::prepare(&config.root)?;
        let telemetry = TelemetryLog::open_with(&folders.gateway_log(&config.log_name), config.telemetry_rotate_bytes)?;
        let reports = ExecutionReports::new(folders.telemetry_dir());
        tracing::info!(
            root = %folders.root().display(),
            rules_version = rules.version(),
            "control plane gateway ready"
        );
        Ok(Self {
            shared: Arc::new(Shared {
                sessions: Sessions::Local(SessionStore::new(config.session_ttl, config.max_sessions)),
                rate_limits: RateLimits::new(config.session_rate, config.address_rate, clock.clone()),
                refusals: Mutex::new(RefusalTally::new(config.refusal_window)),
                session_key: config.session_key.clone().unwrap_or_else(crate::config::SessionKey::random),
                config,
                rules,
                folders,
                telemetry,
                reports,
                limiter_cleanup: Mutex::new(clock.now()),
                clock,
                task_ids: new_task_id,
            }),
        })
    }

    pub fn config(&self) -> &GatewayConfig {
        &self.shared.config
    }

    /// The canonical root folder.
    pub fn root(&self) -> &std::path::Path {
        self.shared.folders.root()
    }

    /// The version of the rules in force, e.g. `v1`.
    pub fn rules_version(&self) -> &str {
        self.shared.rules.version()
    }

    /// The gateway's telemetry log, `observability/telemetry/gateway.jsonl` under the root
    /// (`gateway-<instance>.jsonl` with several instances).
    pub fn telemetry_path(&self) -> &std::path::Path {
        self.shared.telemetry.path()
    }

    /// The telemetry log's name, which its anchor is kept under.
    pub fn log_name(&self) -> &str {
        &self.shared.config.log_name
    }

    /// The telemetry chain's head now and after every line, to keep outside the log.
    pub fn telemetry_head(&self) -> tokio::sync::watch::Receiver<crate::ChainHead> {
        self.shared.telemetry.head()
    }

    /// Puts the telemetry log's lines so far on the disk.
    pub fn sync_telemetry(&self) -> std::io::Result<()> {
        self.shared.telemetry.sync()
    }

    /// What was repaired in the telemetry log when it was opened, if anything.
    pub fn telemetry_repair(&self) -> Option<&crate::Repair> {
        self.shared.telemetry.repair()
    }

    /// Writes the counted refusals (see [`crate::refusals`]) now, whether or not their window has
    /// closed: on a timer, and at shutdown. Returns how many lines were written.
    pub fn flush_refusals(&self) -> std::io::Result<usize> {
        let lines = crate::locks::lock(&self.shared.refusals).drain();
        let count = lines.len();
        let mut lines = lines.into_iter();
        while let Some(line) = lines.next() {
            if let Err(error) = self.shared.telemetry.append(&line, Durability::Flushed) {
                let now = self.shared.clock.now();
                crate::locks::lock(&self.shared.refusals).restore(std::iter::once(line).chain(lines), now);
                return Err(error);
            }
        }
        Ok(count)
    }

    /// What stands for `session_id` in this gateway's telemetry.
    pub fn session_ref(&self, session_id: &str) -> String {
        session_ref(&self.shared.session_key, session_id)
    }

    /// Checks the telemetry log against a head kept outside it; see [`crate::verify_chain_anchored`].
    pub fn check_telemetry_anchor(&self, anchor: &crate::ChainHead) -> Result<(), crate::ChainBreak> {
        self.shared.telemetry.check_anchor(anchor)
    }

    /// Normalizes `raw_input` and keeps the result for the same session to confirm. Writes no task.
    /// The session's first preview makes it `operator`'s.
    #[instrument(skip_all, err(level = "info"))]
    pub async fn preview(
        &self,
        request: PreviewRequest,
        operator: Operator,
        client: Option<IpAddr>,
    ) -> GatewayResult<PreviewResponse> {
        self.operate(TelemetryEvent::Preview, operator, client, Durability::Flushed, move |shared, record| {
            Ok((shared.preview(request, operator, client, record)?, ()))
        })
        .await
    }

    /// Writes the task of a preview, once, for the session and the person that made the preview.
    #[instrument(skip_all, err(level = "info"))]
    pub async fn confirm(
        &self,
        request: ConfirmRequest,
        operator: Operator,
        client: Option<IpAddr>,
    ) -> GatewayResult<ConfirmResponse> {
        self.operate(TelemetryEvent::Confirm, operator, client, Durability::Synced, move |shared, record| {
            shared.confirm(request, operator, client, record)
        })
        .await
    }

    /// The state of a task confirmed by `session_id`, which must be `operator`'s.
    #[instrument(skip_all, err(level = "info"))]
    pub async fn watch(
        &self,
        task_id: &str,
        session_id: &str,
        operator: Operator,
        client: Option<IpAddr>,
    ) -> GatewayResult<WatchResponse> {
        let (task_id, session_id) = (task_id.to_owned(), session_id.to_owned());
        self.operate(TelemetryEvent::Watch, operator, client, Durability::Flushed, move |shared, record| {
            Ok((shared.watch(&task_id, &session_id, operator, client, record)?, ()))
        })
        .await
    }

    /// A preview of `session_id`'s that still waits for its confirm, as it was shown, with the
    /// time it has left: for a page that comes back to it after a plain form post. Another
    /// session's, a confirmed or an expired one is `PREVIEW_NOT_FOUND`. Logged as a watch.
    #[instrument(skip_all, err(level = "info"))]
    pub async fn pending_preview(
        &self,
        preview_id: &str,
        session_id: &str,
        operator: Operator,
        client: Option<IpAddr>,
    ) -> GatewayResult<PreviewResponse> {
        let (preview_id, session_id) = (preview_id.to_owned(), session_id.to_owned());
        self.operate(TelemetryEvent::Watch, operator, client, Durability::Flushed, move |shared, record| {
            Ok((shared.pending_preview(&preview_id, &session_id, operator, client, record)?, ()))
        })
        .await
    }

    /// The tasks a live session of `operator`'s confirmed, newest first, with their current state.
    #[instrument(skip_all, err(level = "info"))]
    pub async fn session_tasks(
        &self,
        session_id: &str,
        operator: Operator,
        client: Option<IpAddr>,
    ) -> GatewayResult<SessionTasksResponse> {
        let session_id = session_id.to_owned();
        self.operate(TelemetryEvent::Watch, operator, client, Durability::Flushed, move |shared, record| {
            Ok((shared.session_tasks(&session_id, operator, client, record)?, ()))
        })
        .await
    }

    /// Ends a live session of `operator`'s with its unconfirmed previews (spec 001 §4, "destroyed:
    /// explicit cleanup"). Tasks it confirmed stay watchable by their task id.
    #[instrument(skip_all, err(level = "info"))]
    pub async fn end_session(
        &self,
        session_id: &str,
        operator: Operator,
        client: Option<IpAddr>,
    ) -> GatewayResult<SessionEnded> {
        let session_id = session_id.to_owned();
        self.operate(TelemetryEvent::SessionEnd, operator, client, Durability::Flushed, move |shared, record| {
            Ok((shared.end_session(&session_id, operator, client, record)?, ()))
        })
        .await
    }

    /// Logs a request refused before it reached an operation (a body that is not JSON, a
    /// missing query parameter) and returns the error to answer with. A client over its address
    /// limit is told `RATE_LIMITED` instead.
    pub async fn refuse(
        &self,
        event: TelemetryEvent,
        operator: Operator,
        client: Option<IpAddr>,
        error: GatewayError,
    ) -> GatewayError {
        let refused = self
            .operate(event, operator, client, Durability::Flushed, move |shared, _| {
                shared.check_address(client)?;
                Err::<((), ()), _>(error)
            })
            .await;
        match refused {
            Err(error) => error,
            Ok(()) => GatewayError::Internal("a refusal cannot succeed".to_owned()),
        }
    }

    /// Runs one call: `operation` on a blocking thread (it reads and writes files), then its
    /// telemetry line, timed from here. The line is written whatever the outcome, and a line that
    /// cannot be written fails the call with `INTERNAL` and takes back what the operation did.
    async fn operate<T, S>(
        &self,
        event: TelemetryEvent,
        operator: Operator,
        client: Option<IpAddr>,
        durability: Durability,
        operation: impl FnOnce(&Shared, &mut TelemetryRecord) -> GatewayResult<(T, S)> + Send + 'static,
    ) -> GatewayResult<T>
    where
        T: Send + 'static,
        S: Settle,
    {
        let started = Instant::now();
        let shared = Arc::clone(&self.shared);
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _span = span.enter();
            let mut record = shared.record(event, operator, client);
            let result = operation(&shared, &mut record);
            let logged = shared.log(record, started, result.as_ref().err(), durability);
            match (result, logged) {
                (Ok((answer, effects)), Ok(())) => {
                    effects.commit(&shared);
                    Ok(answer)
                }
                (Ok((_, effects)), Err(unlogged)) => {
                    effects.undo(&shared);
                    Err(unlogged)
                }
                (Err(refused), Ok(())) => Err(refused),
                (Err(_), Err(unlogged)) => Err(unlogged),
            }
        })
        .await
        .map_err(|e| GatewayError::internal("a gateway worker stopped", e))?
    }

    /// Replaces the task id generator (tests force collisions with it).
    #[cfg(test)]
    pub(crate) fn with_task_ids(config: GatewayConfig, task_ids: fn(DateTime<Utc>) -> String) -> Self {
        let rules = RuleSet::builtin().expect("the shipped rules are valid");
        let mut gateway =
            Self::with_rules(config, rules, SharedClock::new(Arc::new(MonotonicClock))).expect("a gateway");
        if let Some(shared) = Arc::get_mut(&mut gateway.shared) {
            shared.task_ids = task_ids;
        }
        gateway
    }
}

/// The first `max` bytes of `text`, cut at a character boundary.
fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// A client-generated session id: a UUID of version 4, nothing else.
fn parse_session_id(text: &str) -> GatewayResult<Uuid> {
    match Uuid::parse_str(text) {
        Ok(id) if id.get_version() == Some(uuid::Version::Random) && id.get_variant() == uuid::Variant::RFC4122 => {
            Ok(id)
        }
        _ => Err(GatewayError::InvalidSessionId),
    }
}

/// SHA-256 over the canonical task, the rules (version and digest), the session and its person.
fn binding_hash(task: &NormalizedTask, rules: &RuleSet, session_id: Uuid, owner: Uuid) -> String {
    let value = json!({
        "normalized_task": task,
        "rules_version": rules.version(),
        "rules_digest": rules.digest(),
        "session_id": session_id.to_string(),
        "user_id": owner.to_string(),
    });
    hex::encode(Sha256::digest(canonical_json(&value).as_bytes()))
}

fn initial_state(lane: Lane) -> TaskState {
    match lane {
        Lane::Fast => TaskState::Accepted,
        Lane::Approval => TaskState::PendingApproval,
    }
}

/// Where a task stands: the execution plane's latest report, or else the gateway's own confirm.
struct Status {
    state: TaskState,
    last_event: serde_json::Value,
    result_summary: Option<String>,
    updated_at: DateTime<Utc>,
}

impl From<ExecutionReport> for Status {
    fn from(report: ExecutionReport) -> Self {
        Self {
            state: report.state,
            last_event: report.line,
            result_summary: report.result_summary,
            updated_at: report.updated_at,
        }
    }
}

/// A confirmed task and where it stands, as a watch or a task list shows it.
struct TaskView {
    task: TaskRecord,
    status: Status,
}

impl From<TaskView> for WatchResponse {
    fn from(TaskView { task, status }: TaskView) -> Self {
        Self {
            task_id: task.task_id,
            state: status.state,
            last_event: status.last_event,
            result_summary: status.result_summary,
            updated_at: status.updated_at,
        }
    }
}

impl From<TaskView> for SessionTask {
    fn from(TaskView { task, status }: TaskView) -> Self {
        Self {
            path_written: Folders::relative_task_path(task.lane, &task.task_id),
            task_id: task.task_id,
            intent: task.intent,
            risk: task.risk,
            lane: task.lane,
            state: status.state,
            raw_input: task.raw_input,
            created_at: task.created_at,
            updated_at: status.updated_at,
            result_summary: status.result_summary,
        }
    }
}

/// What an operation's effects become once its telemetry line is written, or cannot be.
trait Settle: Send + 'static {
    /// The line is written: the effects stand.
    fn commit(self, shared: &Shared);
    /// The line cannot be written: the effects are taken back, so no operation goes unlogged.
    fn undo(self, shared: &Shared);
}

/// The effects of an operation that writes no task file; a preview or a session's TTL left
/// behind by an unlogged call is harmless.
impl Settle for () {
    fn commit(self, _: &Shared) {}
    fn undo(self, _: &Shared) {}
}

/// A task file a confirm wrote for a claimed preview.
struct WrittenTask {
    preview_id: Uuid,
    task: TaskRecord,
}

impl Settle for WrittenTask {
    /// The preview is used up and the task belongs to its session.
    fn commit(self, shared: &Shared) {
        shared.sessions.complete(self.preview_id, self.task, shared.clock.now());
    }

    /// The task file is removed and the preview stays usable.
    fn undo(self, shared: &Shared) {
        if let Err(error) = shared.folders.remove_task(self.task.lane, &self.task.task_id) {
            tracing::error!(error = %error, task_id = %self.task.task_id, "could not remove an unlogged task file");
        }
        shared.sessions.release(self.preview_id);
    }
}

impl Shared {
    fn record(&self, event: TelemetryEvent, operator: Operator, client: Option<IpAddr>) -> TelemetryRecord {
        let mut record = TelemetryRecord::new(event, Utc::now(), operator.user_id);
        record.client_addr = client.map(|address| address.to_string());
        record
    }

    /// Writes a call's telemetry line; `failure` is the error the call answers with, if any.
    fn log(
        &self,
        mut record: TelemetryRecord,
        started: Instant,
        failure: Option<&GatewayError>,
        durability: Durability,
    ) -> GatewayResult<()> {
        let elapsed = started.elapsed();
        record.latency_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        record.latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        match failure {
            None => record.outcome = Outcome::Ok,
            Some(error) => {
                record.outcome = Outcome::Error;
                // The caller reports the error, with its details when it is a fault.
                record.error_code = Some(error.code().as_str());
            }
        }
        let now = self.clock.now();
        let due = {
            let mut refusals = crate::locks::lock(&self.refusals);
            if let Some(error) = failure.filter(|error| is_counted(error)) {
                refusals.count(&record, error.code().as_str(), now);
            }
            refusals.due(now)
        };
        let appending =
            |error| GatewayError::from_write(&format!("appending to {}", self.telemetry.path().display()), &error);
        let mut due = due.into_iter();
        while let Some(line) = due.next() {
            if let Err(error) = self.telemetry.append(&line, Durability::Flushed) {
                // The counts wait for a later line; this call is not failed for them.
                tracing::warn!(%error, "could not write counted refusals; they are kept for later");
                crate::locks::lock(&self.refusals).restore(std::iter::once(line).chain(due), now);
                break;
            }
        }
        if failure.is_some_and(is_counted) {
            return Ok(());
        }
        self.telemetry.append(&record, durability).map_err(appending)
    }

    /// Refuses a call that would write while the disk has less than `GATEWAY_MIN_FREE_MB` free.
    fn check_free_space(&self) -> GatewayResult<()> {
        let wanted = self.config.min_free_bytes;
        if wanted == 0 {
            return Ok(());
        }
        let stats = rustix::fs::statvfs(self.folders.root())
            .map_err(|e| GatewayError::from_write("measuring free space", &std::io::Error::from(e)))?;
        let free = stats.f_bavail.saturating_mul(stats.f_frsize);
        if free < wanted {
            return Err(GatewayError::StorageUnavailable(format!(
                "{} has {free} bytes free, under GATEWAY_MIN_FREE_MB ({wanted} bytes)",
                self.folders.root().display()
            )));
        }
        Ok(())
    }

    /// What stands for a session id in a telemetry line.
    fn session_ref(&self, session_id: &str) -> String {
        session_ref(&self.session_key, session_id)
    }

    fn check_address(&self, client: Option<IpAddr>) -> GatewayResult<()> {
        if let Some(mut last) = try_lock(&self.limiter_cleanup) {
            let now = self.clock.now();
            if now.saturating_duration_since(*last) >= LIMITER_CLEANUP_INTERVAL {
                *last = now;
                self.rate_limits.forget_idle();
            }
        }
        match client {
            Some(address) => self.rate_limits.check_address(address),
            None => Ok(()),
        }
    }

    /// Address limit, session id, session limit: the start of every operation.
    fn admit(&self, client: Option<IpAddr>, session_id: &str, record: &mut TelemetryRecord) -> GatewayResult<Uuid> {
        self.check_address(client)?;
        let session_id = parse_session_id(session_id)?;
        record.session_id = Some(self.session_ref(&session_id.to_string()));
        self.rate_limits.check_session(session_id)?;
        Ok(session_id)
    }

    fn preview(
        &self,
        request: PreviewRequest,
        operator: Operator,
        client: Option<IpAddr>,
        record: &mut TelemetryRecord,
    ) -> GatewayResult<PreviewResponse> {
        if request.channel == Channel::Room {
            record.channel = Some(request.channel);
            return Err(GatewayError::InvalidField(
                "channel \"room\" is only for agents' proposals, which the server makes itself.".to_owned(),
            ));
        }
        self.preview_in_channel(request, operator, client, record)
    }

    /// A preview in any channel, `room` included.
    fn preview_in_channel(
        &self,
        request: PreviewRequest,
        operator: Operator,
        client: Option<IpAddr>,
        record: &mut TelemetryRecord,
    ) -> GatewayResult<PreviewResponse> {
        record.session_id = Some(self.session_ref(&request.session_id));
        record.channel = Some(request.channel);
        record.raw_input = Some(clip(&request.raw_input, MAX_RAW_INPUT_BYTES));
        let session_id = self.admit(client, &request.session_id, record)?;
        self.check_free_space()?;
        let invalid_input = request.raw_input.trim().is_empty() || request.raw_input.len() > MAX_RAW_INPUT_BYTES;
        if invalid_input {
            // A refused preview still counts as activity of a live session.
            self.sessions.touch(session_id, operator.user_id, self.clock.now())?;
        }
        if request.raw_input.trim().is_empty() {
            return Err(GatewayError::InvalidInput("raw_input must not be empty.".to_owned()));
        }
        if request.raw_input.len() > MAX_RAW_INPUT_BYTES {
            return Err(GatewayError::InvalidInput(format!("raw_input must be at most {MAX_RAW_INPUT_BYTES} bytes.")));
        }

        let normalized = self.rules.normalize(&request.raw_input);
        let lane = normalized.risk.lane();
        record.normalized_intent = Some(normalized.intent.clone());
        record.risk = Some(normalized.risk);
        record.lane = Some(lane);
        record.rule_id = Some(normalized.rule_id.clone());

        let now = Utc::now();
        let task = NormalizedTask {
            task_id: (self.task_ids)(now),
            intent: normalized.intent,
            operations: normalized.operations,
            risk: normalized.risk,
            lane,
        };
        let preview_id = Uuid::new_v4();
        let ttl = self.config.preview_ttl;
        let previewed_at = self.clock.now();
        let entry = PreviewEntry {
            preview_id,
            session_id,
            owner: operator.user_id,
            channel: request.channel,
            raw_input: request.raw_input,
            binding: binding_hash(&task, &self.rules, session_id, operator.user_id),
            task: task.clone(),
            rule_id: normalized.rule_id.clone(),
            risk_reason: normalized.risk_reason.clone(),
            requires_structured_override: normalized.requires_structured_override,
            expires: previewed_at + ttl,
        };
        self.sessions.insert_preview(entry, previewed_at)?;
        record.preview_id = Some(preview_id.to_string());
        record.task_id = Some(task.task_id.clone());

        Ok(PreviewResponse {
            preview_id: preview_id.to_string(),
            normalized_task: task,
            requires_confirm: true,
            ttl_seconds: ttl.as_secs(),
            expires_at: now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX),
            rule_id: normalized.rule_id,
            risk_reason: normalized.risk_reason,
            requires_structured_override: normalized.requires_structured_override,
            rules_version: self.rules.version().to_owned(),
        })
    }

    fn confirm(
        &self,
        request: ConfirmRequest,
        operator: Operator,
        client: Option<IpAddr>,
        record: &mut TelemetryRecord,
    ) -> GatewayResult<(ConfirmResponse, WrittenTask)> {
        record.session_id = Some(self.session_ref(&request.session_id));
        record.preview_id = Some(clip(&request.preview_id, MAX_LOGGED_ID_BYTES));
        let session_id = self.admit(client, &request.session_id, record)?;
        self.check_free_space()?;
        let entry = self.sessions.claim(&request.preview_id, session_id, operator.user_id, self.clock.now())?;
        record.channel = Some(entry.channel);
        record.raw_input = Some(entry.raw_input.clone());
        record.normalized_intent = Some(entry.task.intent.clone());
        record.risk = Some(entry.task.risk);
        record.lane = Some(entry.task.lane);
        record.rule_id = Some(entry.rule_id.clone());
        record.task_id = Some(entry.task.task_id.clone());
        // A confirm that wrote nothing gives the preview back.
        let written = self
            .write_task(&entry, request.structured_override.as_ref(), session_id, operator, record)
            .inspect_err(|_| self.sessions.release(entry.preview_id))?;

        let response = ConfirmResponse {
            status: ConfirmStatus::Ok,
            task_id: written.task_id.clone(),
            path_written: Folders::relative_task_path(written.lane, &written.task_id),
            ack: match written.lane {
                Lane::Fast => format!("Task {} is in the inbox for the execution plane.", written.task_id),
                Lane::Approval => format!("Task {} is waiting for approval.", written.task_id),
            },
            lane: written.lane,
            state: initial_state(written.lane),
        };
        let task = TaskRecord::from_file(written, entry.session_id, entry.owner);
        Ok((response, WrittenTask { preview_id: entry.preview_id, task }))
    }

    /// Checks the claimed preview and writes its task file, regenerating the id on a collision.
    fn write_task(
        &self,
        entry: &PreviewEntry,
        structured_override: Option<&StructuredOverride>,
        session_id: Uuid,
        operator: Operator,
        record: &mut TelemetryRecord,
    ) -> GatewayResult<TaskFile> {
        let binding = binding_hash(&entry.task, &self.rules, session_id, operator.user_id);
        if binding != entry.binding {
            return Err(GatewayError::SessionMismatch(
                "the preview was made for another session, person or rules version",
            ));
        }
        let (intent, operations) = match (structured_override, entry.requires_structured_override) {
            (Some(_), false) => return Err(GatewayError::OverrideNotAllowed),
            (Some(chosen), true) => {
                self.rules.validate_override(chosen).map_err(GatewayError::SchemaInvalid)?;
                (chosen.intent.clone(), chosen.operations.clone())
            }
            (None, _) => (entry.task.intent.clone(), entry.task.operations.clone()),
        };
        self.rules.validate_task(&intent, &operations).map_err(GatewayError::SchemaInvalid)?;
        record.normalized_intent = Some(intent.clone());

        let mut task = TaskFile {
            task_id: entry.task.task_id.clone(),
            author: TASK_AUTHOR.to_owned(),
            intent,
            operations,
            risk: entry.task.risk,
            lane: entry.task.lane,
            raw_input: entry.raw_input.clone(),
            channel: entry.channel,
            session_id: session_id.to_string(),
            created_at: Utc::now(),
            rule_id: entry.rule_id.clone(),
            rules_version: self.rules.version().to_owned(),
            risk_reason: entry.risk_reason.clone(),
            preview_id: entry.preview_id.to_string(),
            preview_hash: entry.binding.clone(),
            structured_override: structured_override.is_some(),
            raw_input_flags: crate::folders::raw_input_flags(&entry.raw_input),
        };
        for attempt in 1..=TASK_ID_ATTEMPTS {
            match self.folders.write_task(&task) {
                Ok(_) => {
                    record.task_id = Some(task.task_id.clone());
                    return Ok(task);
                }
                Err(WriteError::Exists) => {
                    tracing::warn!(task_id = %task.task_id, attempt, "task id collision; generating another");
                    task.task_id = (self.task_ids)(Utc::now());
                }
                Err(WriteError::Io(error)) => return Err(GatewayError::from_write("writing a task file", &error)),
            }
        }
        Err(GatewayError::TaskCollision)
    }

    /// The task, if it exists and belongs to `session_id` and `owner`; read back from its file if
    /// needed. Task files do not name people, so a task read back (after a restart) becomes the
    /// task of the first person to watch it with its session id, which only its session knows.
    fn owned_task(&self, task_id: &str, session_id: Uuid, owner: Uuid) -> GatewayResult<TaskRecord> {
        if !is_task_id(task_id) {
            return Err(GatewayError::TaskNotFound);
        }
        let task = match self.sessions.task(task_id)? {
            Some(task) => task,
            None => {
                let file = self.folders.read_task(task_id).ok_or(GatewayError::TaskNotFound)?;
                let session = Uuid::parse_str(&file.session_id).map_err(|_| GatewayError::TaskNotFound)?;
                if file.task_id != task_id {
                    return Err(GatewayError::TaskNotFound);
                }
                let task = TaskRecord::from_file(file, session, owner);
                self.sessions.remember_task(task.clone())?;
                task
            }
        };
        // Another session's task is reported exactly like a missing one.
        if task.session_id != session_id {
            return Err(GatewayError::TaskNotFound);
        }
        if task.owner != owner {
            return Err(GatewayError::SessionMismatch(ANOTHER_PERSON));
        }
        Ok(task)
    }

    fn refresh_reports(&self) {
        if let Err(error) = self.reports.refresh() {
            tracing::warn!(error = %error, "could not read the execution plane's events; reporting what is known");
        }
    }

    fn describe(&self, task: TaskRecord) -> TaskView {
        if let Some(report) = self.reports.latest(&task.task_id) {
            return TaskView { task, status: report.into() };
        }
        // No report yet: the folder the task file is in now says whether it still awaits approval.
        let lane = self.folders.locate(&task.task_id).map_or(task.lane, |(lane, _)| lane);
        let state = initial_state(lane);
        let status = Status {
            state,
            last_event: json!({
                "module": crate::telemetry::MODULE,
                "event": "confirm",
                "task_id": task.task_id,
                "state": state,
                "ts_utc": task.created_at,
            }),
            result_summary: None,
            updated_at: task.created_at,
        };
        TaskView { task, status }
    }

    fn watch(
        &self,
        task_id: &str,
        session_id: &str,
        operator: Operator,
        client: Option<IpAddr>,
        record: &mut TelemetryRecord,
    ) -> GatewayResult<WatchResponse> {
        record.task_id = Some(clip(task_id, MAX_LOGGED_ID_BYTES));
        record.session_id = Some(self.session_ref(session_id));
        let session_id = self.admit(client, session_id, record)?;
        record.channel = self.sessions.touch(session_id, operator.user_id, self.clock.now())?;
        let task = self.owned_task(task_id, session_id, operator.user_id)?;
        record.channel = Some(task.channel);
        record.normalized_intent = Some(task.intent.clone());
        record.risk = Some(task.risk);
        record.lane = Some(task.lane);
        self.refresh_reports();
        Ok(self.describe(task).into())
    }

    fn pending_preview(
        &self,
        preview_id: &str,
        session_id: &str,
        operator: Operator,
        client: Option<IpAddr>,
        record: &mut TelemetryRecord,
    ) -> GatewayResult<PreviewResponse> {
        record.preview_id = Some(clip(preview_id, MAX_LOGGED_ID_BYTES));
        record.session_id = Some(self.session_ref(session_id));
        let session_id = self.admit(client, session_id, record)?;
        record.channel = self.sessions.touch(session_id, operator.user_id, self.clock.now())?;
        let preview_id = Uuid::parse_str(preview_id).map_err(|_| GatewayError::PreviewNotFound)?;
        let now = self.clock.now();
        let entry = self
            .sessions
            .pending(preview_id, session_id, operator.user_id, now)?
            .ok_or(GatewayError::PreviewNotFound)?;
        record.channel = Some(entry.channel);
        record.normalized_intent = Some(entry.task.intent.clone());
        record.risk = Some(entry.task.risk);
        record.lane = Some(entry.task.lane);
        record.rule_id = Some(entry.rule_id.clone());
        record.task_id = Some(entry.task.task_id.clone());
        let left = entry.expires.saturating_duration_since(now);
        Ok(PreviewResponse {
            preview_id: preview_id.to_string(),
            normalized_task: entry.task,
            requires_confirm: true,
            // Whole seconds, rounded up, so a preview with time left never shows as expired.
            ttl_seconds: left.as_secs() + u64::from(left.subsec_nanos() > 0),
            expires_at: Utc::now() + chrono::Duration::from_std(left).unwrap_or(chrono::Duration::MAX),
            rule_id: entry.rule_id,
            risk_reason: entry.risk_reason,
            requires_structured_override: entry.requires_structured_override,
            rules_version: self.rules.version().to_owned(),
        })
    }

    fn session_tasks(
        &self,
        session_id: &str,
        operator: Operator,
        client: Option<IpAddr>,
        record: &mut TelemetryRecord,
    ) -> GatewayResult<SessionTasksResponse> {
        record.session_id = Some(self.session_ref(session_id));
        let session_id = self.admit(client, session_id, record)?;
        record.channel = self.sessions.touch(session_id, operator.user_id, self.clock.now())?;
        self.refresh_reports();
        let tasks =
            self.sessions.session_tasks(session_id)?.into_iter().map(|task| self.describe(task).into()).collect();
        Ok(SessionTasksResponse { session_id: session_id.to_string(), tasks })
    }

    fn end_session(
        &self,
        session_id: &str,
        operator: Operator,
        client: Option<IpAddr>,
        record: &mut TelemetryRecord,
    ) -> GatewayResult<SessionEnded> {
        record.session_id = Some(self.session_ref(session_id));
        let session_id = self.admit(client, session_id, record)?;
        let ended = self.sessions.end(session_id, operator.user_id, self.clock.now())?;
        record.channel = ended.map(|(channel, _)| channel);
        Ok(SessionEnded {
            session_id: session_id.to_string(),
            ended: ended.is_some(),
            dropped_previews: ended.map_or(0, |(_, dropped)| dropped),
        })
    }
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("root", &self.shared.folders.root())
            .field("rules_version", &self.shared.rules.version())
            .finish_non_exhaustive()
    }
}

mod room_proposals;
mod withdrawals;
pub use room_proposals::{RoomProposal, TaskProgress};

#[cfg(test)]
mod tests {
    use domain::control_plane::Channel;

    use super::*;

    const ADA: Operator = Operator { user_id: Uuid::from_u128(0xada) };
    const BEA: Operator = Operator { user_id: Uuid::from_u128(0xbea) };

    fn gateway(dir: &std::path::Path) -> Gateway {
        Gateway::new(GatewayConfig::with_root(dir)).unwrap()
    }

    fn preview_request(session: &str, raw_input: &str) -> PreviewRequest {
        PreviewRequest { raw_input: raw_input.into(), channel: Channel::Web, session_id: session.to_owned() }
    }

    fn confirm_request(session: &str, preview_id: &str) -> ConfirmRequest {
        ConfirmRequest { preview_id: preview_id.to_owned(), session_id: session.to_owned(), structured_override: None }
    }

    #[cfg(target_os = "linux")]
    fn swap_telemetry(gateway: &mut Gateway, path: &std::path::Path) {
        let log = TelemetryLog::open(path).expect("a telemetry log");
        match Arc::get_mut(&mut gateway.shared) {
            Some(shared) => shared.telemetry = log,
            None => panic!("the gateway is not shared yet"),
        }
    }

    #[test]
    fn session_ids_must_be_uuid_v4() {
        assert!(parse_session_id(&Uuid::new_v4().to_string()).is_ok());
        for bad in ["", "abc", "00000000-0000-0000-0000-000000000000", "6ba7b810-9dad-11d1-80b4-00c04fd430c8"] {
            assert!(matches!(parse_session_id(bad), Err(GatewayError::InvalidSessionId)), "{bad}");
        }
    }

    #[test]
    fn clipping_respects_character_boundaries() {
        assert_eq!(clip("héllo", 2), "h");
        assert_eq!(clip("abc", 10), "abc");
    }

    #[tokio::test]
    async fn a_collision_regenerates_the_id_and_persistent_collisions_are_refused() {
        fn fixed(_: DateTime<Utc>) -> String {
            "task_20260202T100000_0123456789ab".to_owned()
        }
        let dir = tempfile::tempdir().unwrap();
        let gateway = Gateway::with_task_ids(GatewayConfig::with_root(dir.path()), fixed);
        let session = Uuid::new_v4().to_string();

        let first = gateway.preview(preview_request(&session, "liam check status"), ADA, None).await.unwrap();
        gateway.confirm(confirm_request(&session, &first.preview_id), ADA, None).await.unwrap();

        // Every id the generator gives is now taken: after the retries, TASK_COLLISION.
        let second = gateway.preview(preview_request(&session, "show tasks"), ADA, None).await.unwrap();
        let refused = gateway.confirm(confirm_request(&session, &second.preview_id), ADA, None).await.unwrap_err();
        assert_eq!(refused, GatewayError::TaskCollision);
        assert_eq!(refused.http_status(), 409);
        let files = std::fs::read_dir(dir.path().join("interface/inbox")).unwrap().count();
        assert_eq!(files, 1, "nothing was overwritten or added");
        // The preview stays usable for a later try.
        let again = gateway.confirm(confirm_request(&session, &second.preview_id), ADA, None).await.unwrap_err();
        assert_eq!(again, GatewayError::TaskCollision);
    }

    #[tokio::test]
    async fn a_pending_preview_is_shown_again_only_to_its_session_and_only_until_confirmed() {
        let dir = tempfile::tempdir().unwrap();
        let gateway = gateway(dir.path());
        let session = Uuid::new_v4().to_string();
        let preview = gateway.preview(preview_request(&session, "lisa run backup_db"), ADA, None).await.unwrap();

        let again = gateway.pending_preview(&preview.preview_id, &session, ADA, None).await.unwrap();
        assert_eq!(again.normalized_task, preview.normalized_task);
        assert_eq!(
            (again.rule_id.as_str(), again.risk_reason.as_str()),
            (preview.rule_id.as_str(), preview.risk_reason.as_str())
        );
        assert!(again.ttl_seconds > 0 && again.ttl_seconds <= preview.ttl_seconds, "{}", again.ttl_seconds);

        // Another session of the same person, or nonsense, finds nothing.
        let other_session = Uuid::new_v4().to_string();
        let elsewhere = gateway.pending_preview(&preview.preview_id, &other_session, ADA, None).await.unwrap_err();
        assert_eq!(elsewhere, GatewayError::PreviewNotFound);
        let nonsense = gateway.pending_preview("not-an-id", &session, ADA, None).await.unwrap_err();
        assert_eq!(nonsense, GatewayError::PreviewNotFound);
        // Another person cannot even use the session.
        let intruder = gateway.pending_preview(&preview.preview_id, &session, BEA, None).await.unwrap_err();
        assert!(matches!(intruder, GatewayError::SessionMismatch(_)), "{intruder:?}");

        gateway.confirm(confirm_request(&session, &preview.preview_id), ADA, None).await.unwrap();
        let spent = gateway.pending_preview(&preview.preview_id, &session, ADA, None).await.unwrap_err();
        assert_eq!(spent, GatewayError::PreviewNotFound);
    }

    #[tokio::test]
    async fn a_single_collision_is_resolved_with_a_new_id() {
        let dir = tempfile::tempdir().unwrap();
        let gateway = gateway(dir.path());
        let session = Uuid::new_v4().to_string();
        let preview = gateway.preview(preview_request(&session, "show inbox"), ADA, None).await.unwrap();
        let taken = dir.path().join("interface/inbox").join(format!("{}.yaml", preview.normalized_task.task_id));
        std::fs::write(&taken, "someone else's task\n").unwrap();
        let confirmed = gateway.confirm(confirm_request(&session, &preview.preview_id), ADA, None).await.unwrap();
        assert_ne!(confirmed.task_id, preview.normalized_task.task_id);
        assert_eq!(std::fs::read_to_string(&taken).unwrap(), "someone else's task\n");
        assert!(dir.path().join(&confirmed.path_written).is_file());
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn an_unwritable_telemetry_log_fails_the_request_and_takes_the_task_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut gateway = gateway(dir.path());
        let session = Uuid::new_v4().to_string();
        let preview = gateway.preview(preview_request(&session, "show inbox"), ADA, None).await.unwrap();
        // /dev/full accepts the open and fails every write, like a full disk.
        swap_telemetry(&mut gateway, std::path::Path::new("/dev/full"));
        let error = gateway.confirm(confirm_request(&session, &preview.preview_id), ADA, None).await.unwrap_err();
        assert_eq!((error.http_status(), error.code().as_str()), (503, "STORAGE_UNAVAILABLE"));
        assert_eq!(error.retry_after(), Some(60));
        assert_eq!(
            std::fs::read_dir(dir.path().join("interface/inbox")).unwrap().count(),
            0,
            "the task was taken back"
        );
        let error = gateway.preview(preview_request(&session, "show inbox"), ADA, None).await.unwrap_err();
        assert_eq!(error.code().as_str(), "STORAGE_UNAVAILABLE");
        assert!(!error.public_message().contains("/dev"), "no path reaches the client");

        // Once lines can be written again, the same preview is confirmed.
        swap_telemetry(&mut gateway, &dir.path().join("observability/telemetry/gateway.jsonl"));
        let confirmed = gateway.confirm(confirm_request(&session, &preview.preview_id), ADA, None).await.unwrap();
        assert!(dir.path().join(&confirmed.path_written).is_file());
    }
}
