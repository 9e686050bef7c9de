//! How the bot reaches Telegram.

use std::time::Duration;

use teloxide::Bot;

/// Telegram's own Bot API.
pub const DEFAULT_API_URL: &str = "https://api.telegram.org";

#[derive(Clone)]
pub struct TelegramConfig {
    /// `TELEGRAM_BOT_TOKEN`: the bot's token from @BotFather.
    pub token: String,
    /// `TELEGRAM_API_URL`: the Bot API's base address.
    pub api_url: url::Url,
    /// `TELEGRAM_POLL_SECONDS`: how long one `getUpdates` waits for news.
    pub poll_timeout: Duration,
    /// `TELEGRAM_LEASE_SECONDS`: how long the poller lease lasts unrenewed; after an instance dies
    /// another one polls within this time.
    pub lease_ttl: Duration,
    /// How often expiries and task states are checked.
    pub follow_interval: Duration,
    /// The longest wait between attempts while Telegram cannot be reached.
    pub max_backoff: Duration,
    /// `TELEGRAM_WEBHOOK_URL`: Telegram POSTs updates there instead of being polled.
    pub webhook: Option<Webhook>,
}

/// Where Telegram delivers updates in webhook mode, and the secret it sends along.
#[derive(Clone)]
pub struct Webhook {
    /// The public address of this app's `/api/telegram/webhook`.
    pub url: url::Url,
    /// `TELEGRAM_WEBHOOK_SECRET`: Telegram sends it in `X-Telegram-Bot-Api-Secret-Token`; a
    /// request without it is not Telegram's. 1–256 letters, digits, `_` or `-`.
    pub secret: String,
}

impl Webhook {
    /// A secret derived from the bot's token when none is configured: every instance derives the
    /// same one, and it reveals nothing of the token.
    pub fn derived_secret(token: &str) -> String {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(format!("telegram-webhook-secret:{token}").as_bytes()))
    }

    /// Whether Telegram accepts `secret` as a webhook secret.
    pub fn valid_secret(secret: &str) -> bool {
        (1..=256).contains(&secret.len()) && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    }
}

impl std::fmt::Debug for TelegramConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramConfig")
            .field("token", &"<redacted>")
            .field("api_url", &self.api_url.as_str())
            .field("poll_timeout", &self.poll_timeout)
            .field("lease_ttl", &self.lease_ttl)
            .field("webhook", &self.webhook.as_ref().map(|webhook| webhook.url.as_str()))
            .finish_non_exhaustive()
    }
}

impl TelegramConfig {
    /// The defaults for a bot with `token` talking to `api_url`.
    pub fn new(token: String, api_url: url::Url) -> Self {
        Self {
            token,
            api_url,
            poll_timeout: Duration::from_secs(10),
            lease_ttl: Duration::from_secs(30),
            follow_interval: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            webhook: None,
        }
    }

    /// The Bot API client: its HTTP timeout outlasts a long poll.
    pub(crate) fn bot(&self) -> Bot {
        let client = teloxide::net::default_reqwest_settings()
            .timeout(self.poll_timeout + Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Bot::with_client(self.token.clone(), client).set_api_url(self.api_url.clone())
    }
}
