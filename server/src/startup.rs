//! Building the application state and running the server until shutdown.

use std::time::Duration;

use leptos::config::LeptosOptions;
use services::{AppState, Config};
use storage::PoolLimits;
use thiserror::Error;

/// The name of the compiled browser bundle (`/pkg/<name>.js`, `.wasm`, `.css`).
pub const BUNDLE_NAME: &str = "ais-chatrooms";

#[derive(Debug, Error)]
pub enum StartupError {
    #[error("cannot open the database: {0}")]
    Database(#[from] storage::StorageError),
    #[error("configuration error: {0}")]
    Config(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("server error: {0}")]
    Serve(#[source] std::io::Error),
}

/// Leptos' options, derived from the one typed configuration.
pub fn leptos_options(config: &Config) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name(BUNDLE_NAME)
        .site_root(config.site_root.clone())
        .site_pkg_dir("pkg")
        .site_addr(config.site_addr)
        .build()
}

/// Opens (and migrates) the database and assembles the state every part of the server shares.
pub async fn build_state(config: Config) -> Result<AppState, StartupError> {
    let limits =
        PoolLimits { max_connections: config.database_max_connections, acquire_timeout: Duration::from_secs(5) };
    let store = storage::open(config.database_url.expose(), limits).await?;
    tracing::info!(backend = store.backend().as_str(), database = %config.database_url.redacted(), "database ready");
    // A crash may have left agent messages mid-stream: keep their text, mark them interrupted.
    let interrupted = store.interrupt_streaming_messages().await?;
    if interrupted > 0 {
        tracing::warn!(interrupted, "messages left streaming by an earlier run were marked interrupted");
    }
    let options = leptos_options(&config);
    let state = AppState::new(config, store, options).map_err(StartupError::Config)?;
    // Runs a crash left marked running end with server_restart.
    services::runs::close_orphaned_runs(&state).await.map_err(|e| StartupError::Config(e.to_string()))?;
    spawn_housekeeping(&state);
    Ok(state)
}

/// Periodic upkeep that lives as long as the server.
fn spawn_housekeeping(state: &AppState) {
    let events = state.events.clone();
    let shutdown = state.shutdown.clone();
    state.tasks.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {
                    let swept = events.sweep();
                    if swept > 0 {
                        tracing::debug!(swept, "idle room channels released");
                    }
                }
            }
        }
    });
}

/// Serves until a shutdown signal, then lets requests and background work finish within the
/// configured grace period and closes the database.
pub async fn serve(state: AppState) -> Result<(), StartupError> {
    let addr = state.config.site_addr;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| StartupError::Bind { addr, source })?;
    tracing::info!(%addr, "listening on http://{addr}");

    let shutdown = state.shutdown.clone();
    tokio::spawn(async move {
        crate::shutdown::signal().await;
        shutdown.cancel();
    });

    // Streamed tokens are small writes: send them at once instead of waiting to coalesce.
    let listener = axum::serve::ListenerExt::tap_io(listener, |stream| {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
    });
    let router = crate::http::app(state.clone());
    let served = axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(state.shutdown.clone().cancelled_owned())
        .await;

    state.tasks.close();
    if tokio::time::timeout(state.config.shutdown_grace, state.tasks.wait()).await.is_err() {
        tracing::warn!("background work did not finish within the shutdown grace period");
    }
    state.store.close().await;
    tracing::info!("shut down");
    served.map_err(StartupError::Serve)
}
