//! The composition root: the one application state, shared by every handler, server function
//! and worker. Handlers take only the part they need through `FromRef`.

use std::sync::Arc;

use axum::extract::FromRef;
use gateway::Gateway;
use leptos::config::LeptosOptions;
use services::Services;

use crate::auth::SessionRecords;
use crate::config::Config;

#[derive(Clone, FromRef)]
pub struct AppState {
    pub config: Arc<Config>,
    /// Rooms, agents, replies and runs.
    pub services: Services,
    /// The control plane's gateway.
    pub gateway: Arc<Gateway>,
    pub leptos_options: LeptosOptions,
    /// Where sign-in sessions are kept.
    pub sessions: SessionRecords,
    /// The live streams each client address holds open.
    pub stream_slots: Arc<crate::http::stream::StreamSlots>,
    /// The Telegram bot, once started: the webhook route hands it Telegram's deliveries.
    pub telegram_bot: TelegramSlot,
}

/// Where the running Telegram bot is found; empty until it starts (never, without a token).
#[derive(Clone, Default)]
pub struct TelegramSlot(Arc<std::sync::OnceLock<telegram::TelegramBot>>);

impl TelegramSlot {
    pub fn get(&self) -> Option<&telegram::TelegramBot> {
        self.0.get()
    }

    /// Keeps the started bot; a second one is ignored (one bot per process).
    pub fn fill(&self, bot: telegram::TelegramBot) {
        let _ = self.0.set(bot);
    }
}
