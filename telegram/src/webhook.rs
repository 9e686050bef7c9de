//! Webhook mode: Telegram POSTs each update to the app's `/api/telegram/webhook`, on whichever
//! instance the load balancer picks, with the secret given when the webhook was registered. A
//! request without that secret is not Telegram's and is refused before its body is read; every
//! update then meets the same rules as a polled one (whose chat it is, whether they may operate).

use std::time::Duration;

use teloxide::types::Update;

use crate::{conversation, TelegramBot};

/// The header Telegram sends the webhook's secret in.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// How long Telegram's request waits for an update to be handled. Longer work (waiting out a
/// `retry_after`, say) goes on after the answer, so Telegram does not deliver it again.
const ANSWER_WITHIN: Duration = Duration::from_secs(20);

/// What became of one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Handled (or still being handled after [`ANSWER_WITHIN`]).
    Accepted,
    /// This server runs no bot in webhook mode.
    NotWebhook,
    /// The secret header is missing or wrong.
    WrongSecret,
    /// Telegram's (the secret matched), but not an update this bot reads: logged and answered
    /// as taken, or Telegram would deliver it again and again.
    Ignored,
}

impl TelegramBot {
    /// Handles one update Telegram delivered, if `secret` is the webhook's.
    pub async fn receive(&self, secret: Option<&[u8]>, body: &[u8]) -> Delivery {
        let Some(webhook) = &self.ctx.config.webhook else {
            return Delivery::NotWebhook;
        };
        if services::telegram::check_webhook_secret(&webhook.secret, secret).is_err() {
            metrics::counter!("telegram_webhook_refused_total", "reason" => "secret").increment(1);
            return Delivery::WrongSecret;
        }
        let update: Update = match serde_json::from_slice(body) {
            Ok(update) => update,
            Err(error) => {
                tracing::info!(%error, "a webhook delivery is not a Telegram update");
                metrics::counter!("telegram_webhook_refused_total", "reason" => "malformed").increment(1);
                return Delivery::Ignored;
            }
        };
        let ctx = self.ctx.clone();
        let handling = self.ctx.services.tasks.spawn(async move { conversation::handle(&ctx, update).await });
        if tokio::time::timeout(ANSWER_WITHIN, handling).await.is_err() {
            tracing::info!("a webhook update is still being handled; answered Telegram already");
        }
        Delivery::Accepted
    }
}
