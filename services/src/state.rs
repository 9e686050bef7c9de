//! The one application state, shared by every handler, server function and worker.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos_config::LeptosOptions;
use storage::DynStore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::events::{EventHub, Retention};
use crate::llm::LanguageModels;
use crate::replies::LiveTexts;
use crate::rooms::RoomTurns;
use crate::runs::RunOrchestrator;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: DynStore,
    pub leptos_options: LeptosOptions,
    /// Live room events, with replay for reconnecting clients.
    pub events: Arc<EventHub>,
    /// The language-model providers agents speak through.
    pub models: Arc<LanguageModels>,
    /// One agent speaks at a time in each room.
    pub room_turns: Arc<RoomTurns>,
    /// The full text so far of messages being streamed.
    pub live_texts: Arc<LiveTexts>,
    /// Running auto-dialogue runs.
    pub runs: Arc<RunOrchestrator>,
    /// The control plane's gateway.
    pub gateway: Arc<gateway::Gateway>,
    /// Cancelled when the server begins to shut down: streams end and workers stop.
    pub shutdown: CancellationToken,
    /// Background work that shutdown waits for.
    pub tasks: TaskTracker,
}

impl AppState {
    /// Assembles the state; fails when part of the configuration cannot be used.
    pub fn new(config: Config, store: DynStore, leptos_options: LeptosOptions) -> Result<Self, String> {
        let models = LanguageModels::new(&config.llm)?;
        let gateway = gateway::Gateway::new(config.gateway.clone()).map_err(|e| format!("control plane: {e}"))?;
        Ok(Self {
            config: Arc::new(config),
            store,
            leptos_options,
            events: Arc::new(EventHub::new(Retention::default())),
            models: Arc::new(models),
            room_turns: Arc::new(RoomTurns::default()),
            live_texts: Arc::new(LiveTexts::default()),
            runs: Arc::new(RunOrchestrator::default()),
            gateway: Arc::new(gateway),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
        })
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl FromRef<AppState> for Arc<gateway::Gateway> {
    fn from_ref(state: &AppState) -> Self {
        state.gateway.clone()
    }
}
