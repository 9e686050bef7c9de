//! Building the application state and running the server until shutdown.

use std::sync::Arc;
use std::time::Duration;

use leptos::config::LeptosOptions;
use services::{ServiceError, Services};
use storage::PoolLimits;
use thiserror::Error;

use tower_sessions::session_store::ExpiredDeletion;

use crate::auth::SessionRecords;
use crate::config::Config;
use crate::state::AppState;

/// The name of the compiled browser bundle (`/pkg/<name>.js`, `.wasm`, `.css`).
pub const BUNDLE_NAME: &str = "ais-chatrooms";

#[derive(Debug, Error)]
pub enum StartupError {
    #[error("cannot open the database: {0}")]
    Database(#[from] storage::StorageError),
    #[error("cannot recover the state an earlier process left: {0}")]
    Recovery(#[source] ServiceError),
    #[error(transparent)]
    ModelClient(#[from] services::llm::HttpClientError),
    #[error("cannot prepare the sign-in session table: {0}")]
    Sessions(#[source] sqlx::Error),
    #[error("the control plane cannot start: {0}")]
    Gateway(#[from] gateway::GatewayStartupError),
    #[error(
        "the control plane's telemetry log no longer matches the head kept in the database ({0}); \
         keep the log as evidence, then start with GATEWAY_TELEMETRY_REANCHOR=1 to anchor it afresh"
    )]
    TelemetryAnchor(String),
    #[error("cannot reach Redis for live events: {0}")]
    Redis(#[from] services::events::RelayError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: std::net::SocketAddr, source: std::io::Error },
}

/// Leptos' options, derived from the one typed configuration. A release build names the bundle's
/// files after their content and lists the names in the hash file; pages link those names when
/// the file is there (a debug build has none and keeps the plain names).
pub fn leptos_options(config: &Config) -> LeptosOptions {
    let hash_file = &config.bundle_hash_file;
    LeptosOptions::builder()
        .output_name(BUNDLE_NAME)
        .site_root(config.site_root.clone())
        .site_pkg_dir("pkg")
        .site_addr(config.site_addr)
        .hash_files(hash_file.is_file())
        .hash_file(std::sync::Arc::from(hash_file.to_string_lossy().as_ref()))
        .build()
}

/// How often agents' proposals are checked for expiry and their tasks for news from the
/// execution plane.
const PROPOSAL_FOLLOW_INTERVAL: Duration = Duration::from_secs(1);

/// Assembles the state from its parts, with no background work started: tests use it with a
/// store of their own. The control plane's log is checked against the head kept for it.
pub async fn assemble(mut config: Config, store: storage::DynStore) -> Result<AppState, StartupError> {
    let sessions = SessionRecords::open(store.pool()).await.map_err(StartupError::Sessions)?;
    if config.gateway.session_key.is_none() {
        config.gateway.session_key = Some(crate::telemetry_anchor::kept_session_key(&store).await?);
    }
    let mut services = Services::new(config.services.clone(), store)?;
    if let Some(redis_url) = &config.redis_url {
        services.events = Arc::new(shared_event_hub(redis_url, &config.instance_id, &services).await?);
        let lease = services.config.run_lease;
        services.ownership = Some(Arc::new(services::ownership::Ownership::new(config.instance_id.clone(), lease)));
    }
    let mut gateway = gateway::Gateway::new(config.gateway.clone())?;
    if let Some(redis_url) = &config.redis_url {
        // Previews, sessions and rate limits are shared, so any instance may confirm a preview.
        let client = redis::Client::open(redis_url.expose()).map_err(services::events::RelayError::from)?;
        gateway = gateway.share_sessions(client);
    }
    let leptos_options = leptos_options(&config);
    let state = AppState {
        config: Arc::new(config),
        services,
        gateway: Arc::new(gateway),
        leptos_options,
        sessions,
        stream_slots: Arc::default(),
        telegram_bot: crate::state::TelegramSlot::default(),
    };
    if state.config.gateway_enabled {
        crate::telemetry_anchor::check(&state).await?;
        let desk = crate::proposal_desk::GatewayDesk::new(state.gateway.clone());
        services::proposals::install_desk(&state.services, Arc::new(desk));
    }
    Ok(state)
}

/// Live events through Redis, so that several instances serve the same rooms.
async fn shared_event_hub(
    redis_url: &crate::config::SecretUrl,
    instance: &str,
    services: &Services,
) -> Result<services::events::EventHub, StartupError> {
    let client = redis::Client::open(redis_url.expose()).map_err(services::events::RelayError::from)?;
    let hub =
        services::events::EventHub::redis(Default::default(), client, instance, services.shutdown.clone()).await?;
    tracing::info!(redis = %redis_url.redacted(), "live events go through Redis");
    Ok(hub)
}

/// Opens (and migrates) the database, assembles the state every part of the server shares and
/// repairs what a crash may have left.
pub async fn build_state(config: Config) -> Result<AppState, StartupError> {
    let limits =
        PoolLimits { max_connections: config.database_max_connections, acquire_timeout: Duration::from_secs(5) };
    let store = storage::open(config.database_url.expose(), limits).await?;
    tracing::info!(backend = store.backend().as_str(), database = %config.database_url.redacted(), instance = %config.instance_id, "database ready");
    let state = assemble(config, store).await?;
    services::recovery::recover(&state.services).await.map_err(StartupError::Recovery)?;
    services::ownership::spawn(&state.services);
    if state.config.gateway_enabled {
        crate::telemetry_anchor::spawn_keeper(&state);
        services::proposals::spawn_follower(&state.services, PROPOSAL_FOLLOW_INTERVAL);
        if let Some(bot) = state.config.telegram.clone() {
            let instance = state.config.instance_id.clone();
            state.telegram_bot.fill(telegram::spawn(&state.services, state.gateway.clone(), bot, instance));
        }
    } else if state.config.telegram.is_some() {
        tracing::warn!("TELEGRAM_BOT_TOKEN is set but the control plane is off (GATEWAY_ENABLED=0): no bot runs");
    }
    spawn_housekeeping(&state);
    Ok(state)
}

/// Periodic upkeep that lives as long as the server.
fn spawn_housekeeping(state: &AppState) {
    let services = &state.services;
    let events = services.events.clone();
    let sign_in_limits = services.sign_in_limits.clone();
    let write_limits = services.write_limits.clone();
    let sessions = state.sessions.clone();
    let shutdown = services.shutdown.clone();
    services.tasks.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {
                    let swept = events.sweep();
                    if swept > 0 {
                        tracing::debug!(swept, "idle room channels released");
                    }
                    sign_in_limits.forget_idle();
                    write_limits.forget_idle();
                    if let Err(error) = sessions.delete_expired().await {
                        tracing::warn!(%error, "could not delete expired sign-in sessions");
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

    let services = state.services.clone();
    let shutdown = services.shutdown.clone();
    tokio::spawn(async move {
        crate::shutdown::signal().await;
        shutdown.cancel();
    });

    let grace = state.config.shutdown_grace;
    let limits = state.config.connection_limits;
    let anchored = state.config.gateway_enabled.then(|| state.gateway.clone());
    let router = crate::http::app(state);
    crate::serving::serve_connections(listener, router, limits, services.shutdown.clone(), grace).await;
    // Every request has ended: the counted refusals are written and the log's last lines anchored.
    if let Some(gateway) = anchored {
        if let Err(error) = gateway.flush_refusals() {
            tracing::warn!(%error, "could not write the counted refusals at shutdown");
        }
        if let Err(error) = crate::telemetry_anchor::keep_head(&services, &gateway).await {
            tracing::warn!(%error, "could not keep the telemetry anchor at shutdown");
        }
    }

    services.tasks.close();
    if tokio::time::timeout(grace, services.tasks.wait()).await.is_err() {
        tracing::warn!("background work did not finish within the shutdown grace period");
    }
    // The last events of replies that just finished still reach the other instances.
    services.events.flush(Duration::from_secs(2)).await;
    services.store.close().await;
    tracing::info!("shut down");
    Ok(())
}
