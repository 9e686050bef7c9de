//! Server functions for the Telegram page. Each calls the service layer, which decides: only
//! operators and admins link chats.

use domain::telegram::{LinkCode, TelegramLink};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[cfg(feature = "ssr")]
use crate::caller::{actor, services};
#[cfg(feature = "ssr")]
use crate::forms::{done, refused, with_notice, Notice};

/// The names of the page's forms, so a refusal is shown next to the one that was sent.
pub mod form {
    pub const LINK_CODE: &str = "telegram-link-code";
    pub const LINKS: &str = "telegram-links";
}

/// Where the page lives.
pub const PAGE: &str = "/control-plane/telegram";

/// What the page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TelegramSettings {
    pub bot_enabled: bool,
    pub links: Vec<TelegramLink>,
}

#[server(prefix = "/api/fn", endpoint = "telegram/links", output = crate::codec::JsonText)]
pub async fn load_telegram_settings() -> Result<TelegramSettings, AppError> {
    let links = services::telegram::list_links(&services(), &actor().await).await?;
    let bot_enabled = use_context::<super::BotEnabled>().unwrap_or_default().0;
    Ok(TelegramSettings { bot_enabled, links })
}

/// A one-time code to send to the bot. After a plain post the page shows it, once.
#[server(prefix = "/api/fn", endpoint = "telegram/link-code", output = crate::codec::JsonText)]
pub async fn create_telegram_link_code() -> Result<LinkCode, AppError> {
    let bot_enabled = use_context::<super::BotEnabled>().unwrap_or_default().0;
    match services::telegram::create_link_code(&services(), &actor().await, bot_enabled).await {
        Ok(code) => {
            let notice = Notice {
                form: form::LINK_CODE.to_owned(),
                secret: Some(code.code.clone()),
                info: Some(code.expires_at.to_rfc3339()),
                ..Notice::default()
            };
            with_notice(PAGE, notice);
            Ok(code)
        }
        Err(error) => Err(refused(form::LINK_CODE, PAGE, error)),
    }
}

#[server(prefix = "/api/fn", endpoint = "telegram/unlink", output = crate::codec::JsonText)]
pub async fn unlink_telegram_chat(chat_id: i64) -> Result<(), AppError> {
    match services::telegram::unlink(&services(), &actor().await, chat_id).await {
        Ok(()) => {
            done(PAGE);
            Ok(())
        }
        Err(error) => Err(refused(form::LINKS, PAGE, error)),
    }
}
