//! The control plane's governance panel: preview a command, confirm it, watch its task.

pub mod api;
pub mod command_form;
pub mod panel;
pub mod preview_card;
pub mod session;
pub mod state;
pub mod task_card;
pub mod task_list;
pub mod watch;
