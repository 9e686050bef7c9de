//! The control plane's governance panel: preview a command, confirm it, watch its task.

pub mod api;
pub mod session;
pub mod state;
