//! The control plane's Telegram channel in the web app: a one-time code to link a chat, the
//! linked chats, and unlinking one. Server-rendered with plain forms; nothing here runs in the
//! browser.

pub mod api;
mod panel;

pub use panel::TelegramPanel;

/// Whether this server runs a Telegram bot (`TELEGRAM_BOT_TOKEN`), provided by the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BotEnabled(pub bool);
