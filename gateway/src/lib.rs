//! The control plane's gateway: it turns a plain-language command into a structured
//! task with deterministic rules, shows a preview, and writes the task file for the execution
//! plane only when the same session confirms. It never executes anything, and it logs every
//! operation to a hash-chained telemetry file.
//!
//! Build a [`Gateway`] from a [`GatewayConfig`], share it as `Arc<Gateway>`, merge
//! [`router`] into the server's router, or call the operations ([`Gateway::preview`],
//! [`Gateway::confirm`], [`Gateway::watch`], [`Gateway::session_tasks`]) directly. Every call
//! is made by an [`Operator`]: the gateway signs nobody in, and its routes refuse a request
//! that arrives without one in its extensions.
//! [`Gateway::with_clock`] runs its time-to-live and rate-limit rules on another [`Clock`];
//! [`Gateway::share_sessions`] keeps sessions, previews and rate limits in Redis, for several
//! instances.

mod clock;
mod config;
mod error;
mod execution_reports;
mod folders;
mod http;
mod locks;
mod operator;
mod rate_limits;
mod refusals;
mod rules;
mod service;
mod sessions;
mod shared_sessions;
mod task_yaml;
mod telemetry;

pub use clock::{Clock, ManualClock, MonotonicClock};
pub use config::{GatewayConfig, RateLimit, SessionKey};
pub use error::{GatewayError, GatewayResult, GatewayStartupError};
pub use http::{documented_router, router, ClientAddr, SESSION_HEADER, TAG};
pub use operator::Operator;
pub use service::{Gateway, RoomProposal, TaskProgress};
pub use telemetry::{
    gateway_logs_in, log_series, verify_chain, verify_chain_anchored, verify_file, verify_series, ChainBreak,
    ChainHead, ChainReport, LogFile, Repair, TelemetryEvent, CHAIN_CONTINUES, CHAIN_REPAIR,
};
