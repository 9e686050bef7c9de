//! The service layer's shared state: what every operation on rooms, replies and runs needs.

use std::sync::{Arc, OnceLock};

use storage::DynStore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::accounts::SignInLimits;
use crate::budgets::WallClock;
use crate::config::ServicesConfig;
use crate::events::{EventHub, Retention};
use crate::live_texts::LiveTexts;
use crate::llm::{HttpClientError, LanguageModels};
use crate::ownership::Ownership;
use crate::proposals::ProposalDesk;
use crate::queued_replies::QueuedReplies;
use crate::room_turns::RoomTurns;
use crate::running_runs::RunningRuns;
use crate::write_limits::{RateClock, WriteLimits};

/// The service layer, cheap to clone and shared by the REST API, the server functions and the
/// background work.
#[derive(Clone)]
pub struct Services {
    pub config: Arc<ServicesConfig>,
    pub store: DynStore,
    /// Live room events, with replay for reconnecting clients.
    pub events: Arc<EventHub>,
    /// The language-model providers agents speak through.
    pub models: Arc<LanguageModels>,
    /// One agent speaks at a time in each room.
    pub room_turns: Arc<RoomTurns>,
    /// The full text so far of messages being streamed.
    pub live_texts: Arc<LiveTexts>,
    /// The auto-dialogue runs in progress.
    pub runs: Arc<RunningRuns>,
    /// Cancelled when the server begins to shut down: streams end and workers stop.
    pub shutdown: CancellationToken,
    /// Background work that shutdown waits for.
    pub tasks: TaskTracker,
    /// Limits on sign-in attempts.
    pub sign_in_limits: Arc<SignInLimits>,
    /// Limits on how fast people and addresses write.
    pub write_limits: Arc<WriteLimits>,
    /// The reply waiting for its turn in each room, at most one.
    pub queued_replies: Arc<QueuedReplies>,
    /// The wall clock daily budgets are counted on.
    pub clock: WallClock,
    /// The monotonic clock the write and sign-in rate limits are counted on.
    pub rate_clock: RateClock,
    /// Where agents' proposals go: the control plane's gateway, when the server runs one.
    pub proposal_desk: Arc<OnceLock<Arc<dyn ProposalDesk>>>,
    /// With several instances: this one's name and lease length, under which it owns runs and
    /// replies. `None` when one instance serves every room.
    pub ownership: Option<Arc<Ownership>>,
}

impl Services {
    pub fn new(config: ServicesConfig, store: DynStore) -> Result<Self, HttpClientError> {
        let models = LanguageModels::new(&config.llm)?;
        let rate_clock = RateClock::default();
        let write_limits = WriteLimits::new(&config.limits, rate_clock.clone());
        Ok(Self {
            config: Arc::new(config),
            store,
            events: Arc::new(EventHub::new(Retention::default())),
            models: Arc::new(models),
            room_turns: Arc::new(RoomTurns::default()),
            live_texts: Arc::new(LiveTexts::default()),
            runs: Arc::new(RunningRuns::default()),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            sign_in_limits: Arc::new(SignInLimits::new(rate_clock.clone())),
            write_limits: Arc::new(write_limits),
            queued_replies: Arc::new(QueuedReplies::default()),
            clock: WallClock::default(),
            rate_clock,
            proposal_desk: Arc::new(OnceLock::new()),
            ownership: None,
        })
    }

    /// The control plane's gateway as proposals see it; `None` when the server runs without it.
    pub fn proposal_desk(&self) -> Option<&Arc<dyn ProposalDesk>> {
        self.proposal_desk.get()
    }
}
