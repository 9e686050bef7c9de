//! The one application state, shared by every handler, server function and worker.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos_config::LeptosOptions;
use storage::DynStore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: DynStore,
    pub leptos_options: LeptosOptions,
    /// Cancelled when the server begins to shut down: streams end and workers stop.
    pub shutdown: CancellationToken,
    /// Background work that shutdown waits for.
    pub tasks: TaskTracker,
}

impl AppState {
    pub fn new(config: Config, store: DynStore, leptos_options: LeptosOptions) -> Self {
        Self {
            config: Arc::new(config),
            store,
            leptos_options,
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
        }
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
