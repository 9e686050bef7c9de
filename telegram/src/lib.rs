//! The control plane's Telegram channel (spec 001, Phase 4).
//!
//! A person with the operator role links a chat with a one-time code from the web app; from then
//! on every text the chat sends becomes a gateway preview in the `telegram` channel, answered with
//! its intent, risk, lane, rule and expiry and two buttons. "Confirm" (or replying `confirm` to
//! the preview) writes the task file exactly as the panel does; the chat is then told of each
//! state the execution plane reports, the result summary last.
//!
//! The bot only talks: like the gateway it never starts a process, and every preview, confirm and
//! cancel goes through the gateway, which logs it. Updates arrive by long polling or, with a
//! webhook configured, as Telegram's POSTs to `/api/telegram/webhook` on any instance. With
//! several instances only the holder of the `telegram-poller` lease polls Telegram (or registers
//! the webhook) and sends notices, so nothing is answered twice.

mod config;
mod conversation;
mod follow;
mod outbox;
mod polling;
mod texts;
mod webhook;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use gateway::Gateway;
use services::Services;
use teloxide::Bot;

pub use config::{TelegramConfig, Webhook, DEFAULT_API_URL};
pub use webhook::{Delivery, SECRET_HEADER};

/// The lease that names the one instance that polls Telegram.
pub const POLLER_LEASE: &str = "telegram-poller";

/// What the bot's tasks share.
pub(crate) struct Ctx {
    bot: Bot,
    services: Services,
    gateway: Arc<Gateway>,
    config: TelegramConfig,
    /// This process's name in the lease table.
    instance: String,
    /// Whether this instance holds the poller lease now.
    polling: AtomicBool,
    floods: conversation::FloodGuard,
}

/// The running bot, for the webhook route to hand Telegram's updates to.
#[derive(Clone)]
pub struct TelegramBot {
    ctx: Arc<Ctx>,
}

/// Starts polling Telegram, or registering the webhook, when this instance wins the lease, and
/// following the chats' previews and tasks, until the services' shutdown; on shutdown the lease
/// is given back so another instance takes over at once.
pub fn spawn(services: &Services, gateway: Arc<Gateway>, config: TelegramConfig, instance: String) -> TelegramBot {
    let bot = config.bot();
    let ctx = Arc::new(Ctx {
        bot,
        services: services.clone(),
        gateway,
        config,
        instance,
        polling: AtomicBool::new(false),
        floods: conversation::FloodGuard::new(),
    });
    services.tasks.spawn(polling::run(Arc::clone(&ctx)));
    services.tasks.spawn(follow::run(Arc::clone(&ctx)));
    TelegramBot { ctx }
}
