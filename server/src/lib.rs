//! The server: reads the configuration, builds the application state, serves HTTP and shuts
//! down gracefully.

// The application's server-rendered view types are deeply nested.
#![recursion_limit = "256"]

pub mod auth;
pub mod config;
pub mod http;
pub mod proposal_desk;
pub mod serving;
pub mod shutdown;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod telemetry_anchor;

use std::process::ExitCode;

pub use crate::config::Config;
pub use crate::http::app;
pub use crate::startup::{assemble, build_state, StartupError};
pub use crate::state::AppState;

/// Reads the configuration, starts everything and serves until SIGTERM or SIGINT.
pub async fn run() -> ExitCode {
    let config = match Config::from_process_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&config);
    http::metrics::label_instance(&config.instance_id);

    let state = match build_state(config).await {
        Ok(state) => state,
        Err(error) => {
            tracing::error!(error = %error, "start-up failed");
            return ExitCode::FAILURE;
        }
    };
    match startup::serve(state).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %error, "server failed");
            ExitCode::FAILURE
        }
    }
}
