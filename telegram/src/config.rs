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
}

impl std::fmt::Debug for TelegramConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramConfig")
            .field("token", &"<redacted>")
            .field("api_url", &self.api_url.as_str())
            .field("poll_timeout", &self.poll_timeout)
            .field("lease_ttl", &self.lease_ttl)
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
