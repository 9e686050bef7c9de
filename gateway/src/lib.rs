//! The control plane's gateway (spec 001): it turns a plain-language command into a structured
//! task with deterministic rules, shows a preview, and writes the task file for the execution
//! plane only when the same session confirms. It never executes anything, and it logs every
//! operation to a hash-chained telemetry file.
//!
//! Build a [`Gateway`] from a [`GatewayConfig`], share it as `Arc<Gateway>`, merge
//! [`router`] into the server's router, or call the operations ([`Gateway::preview`],
//! [`Gateway::confirm`], [`Gateway::watch`], [`Gateway::session_tasks`]) directly.

pub mod config;
pub mod error;
pub mod execution_reports;
pub mod folders;
pub mod http;
mod locks;
pub mod rate_limits;
pub mod rules;
pub mod service;
pub mod sessions;
pub mod telemetry;

pub use config::{GatewayConfig, GatewayConfigError, RateLimit};
pub use error::{GatewayError, GatewayResult, GatewayStartupError};
pub use http::{router, ClientAddr};
pub use service::Gateway;
pub use telemetry::{verify_chain, verify_file, ChainBreak, ChainReport, TelemetryEvent};
