//! The rooms half of the product: server functions, live stream and the room page's parts.

pub mod agents_panel;
pub mod api;
pub mod card_file;
pub mod composer;
pub mod labels;
pub mod live;
pub mod members;
pub mod message_actions;
pub mod proposal_card;
pub mod run_controls;
pub mod settings;
pub mod state;
pub mod take_away;
pub mod timeline;
