//! One update at a time: commands, previews, and the buttons and replies that settle them. Every
//! answer is short; input the bot cannot use (stickers, photos, group chats, floods) gets a short
//! answer or nothing, and never reaches the gateway.

use std::num::NonZeroU32;
use std::sync::Arc;

use domain::control_plane::{Channel, ConfirmRequest, PreviewRequest};
use domain::telegram::{ChatPreview, ChatPreviewState};
use domain::PublicError;
use gateway::{GatewayError, Operator};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use services::telegram::{self as links, ChatRefusal, LinkRefusal};
use services::Principal;
use sha2::{Digest, Sha256};
use storage::ChatPreviewSettlement;
use teloxide::prelude::*;
use teloxide::types::{
    CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, MessageId, ReplyParameters, UpdateKind,
};
use uuid::Uuid;

use crate::outbox::{already_so, deliver};
use crate::{texts, Ctx};

/// Callback data of the two buttons: a prefix and the preview's id (Telegram allows 64 bytes).
const CONFIRM: &str = "confirm:";
const CANCEL: &str = "cancel:";

/// Messages a chat may send in a minute, and in a burst, before the rest are dropped unanswered.
const CHAT_MESSAGES_PER_MINUTE: u32 = 30;
const CHAT_BURST: u32 = 15;

/// Drops a chat's messages beyond a steady rate, so a flood costs neither the gateway nor
/// Telegram's own limits on what the bot may send.
pub(crate) struct FloodGuard {
    limiter: DefaultKeyedRateLimiter<i64>,
}

impl FloodGuard {
    pub(crate) fn new() -> Self {
        let rate = NonZeroU32::new(CHAT_MESSAGES_PER_MINUTE).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(CHAT_BURST).unwrap_or(NonZeroU32::MIN);
        Self { limiter: RateLimiter::keyed(Quota::per_minute(rate).allow_burst(burst)) }
    }

    fn admit(&self, chat_id: i64) -> bool {
        self.limiter.check_key(&chat_id).is_ok()
    }

    pub(crate) fn forget_idle(&self) {
        self.limiter.retain_recent();
    }
}

/// The gateway session a chat's previews live in: one per chat and person, shaped as the version
/// 4 UUID every session id is, so relinking a chat to someone else starts a new session.
pub(crate) fn chat_session(chat_id: i64, user_id: Uuid) -> Uuid {
    let digest = Sha256::digest(format!("telegram:{chat_id}:{user_id}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

pub(crate) async fn handle(ctx: &Arc<Ctx>, update: Update) {
    match update.kind {
        UpdateKind::Message(message) => {
            metrics::counter!("telegram_updates_total", "kind" => "message").increment(1);
            on_message(ctx, message).await;
        }
        UpdateKind::CallbackQuery(query) => {
            metrics::counter!("telegram_updates_total", "kind" => "button").increment(1);
            on_button(ctx, query).await;
        }
        // Edits, reactions, channel posts and the rest are not addressed to the bot's dialogue.
        _ => metrics::counter!("telegram_updates_total", "kind" => "ignored").increment(1),
    }
}

async fn on_message(ctx: &Arc<Ctx>, message: Message) {
    let chat_id = message.chat.id.0;
    if message.from.as_ref().is_some_and(|from| from.is_bot) {
        return;
    }
    if !ctx.floods.admit(chat_id) {
        metrics::counter!("telegram_flood_dropped_total").increment(1);
        return;
    }
    let text = message.text().map(str::trim).unwrap_or_default().to_owned();
    if !message.chat.is_private() {
        // In a group only a command addressed to the bot is answered; talk among people is not.
        if text.starts_with('/') {
            say(ctx, &message, texts::PRIVATE_ONLY).await;
        }
        return;
    }
    if let Some(command) = text.strip_prefix('/') {
        let (name, argument) = command.split_once(char::is_whitespace).unwrap_or((command, ""));
        // "/link@MyBot CODE" is how Telegram spells a command picked from the menu.
        let name = name.split('@').next().unwrap_or_default().to_ascii_lowercase();
        match name.as_str() {
            "start" | "help" => say(ctx, &message, texts::HELP).await,
            "link" => link(ctx, &message, argument.trim()).await,
            "unlink" => unlink(ctx, &message).await,
            _ => say(ctx, &message, texts::UNKNOWN_COMMAND).await,
        }
        return;
    }

    let person = match links::chat_operator(&ctx.services, chat_id).await {
        Ok(Ok(person)) => person,
        Ok(Err(ChatRefusal::NotLinked)) => return say(ctx, &message, texts::NOT_LINKED).await,
        Ok(Err(ChatRefusal::NotOperator)) => return say(ctx, &message, texts::NOT_OPERATOR).await,
        Err(error) => {
            tracing::warn!(%error, chat_id, "cannot tell whom a Telegram chat speaks for");
            return say(ctx, &message, texts::UNAVAILABLE).await;
        }
    };
    if text.is_empty() {
        return say(ctx, &message, texts::TEXT_ONLY).await;
    }
    let word = text.trim_end_matches(['.', '!']).to_lowercase();
    if word == "confirm" || word == "cancel" {
        let Some(target) = message.reply_to_message().filter(|replied| replied.from.as_ref().is_some_and(|f| f.is_bot))
        else {
            return say(ctx, &message, texts::NO_PREVIEW).await;
        };
        let answer = settle(ctx, &person, chat_id, target.id, word == "confirm").await;
        return say(ctx, &message, &answer).await;
    }
    preview(ctx, &person, &message, &text).await;
}

async fn link(ctx: &Arc<Ctx>, message: &Message, code: &str) {
    if code.is_empty() {
        return say(ctx, message, texts::LINK_USAGE).await;
    }
    let chat = &message.chat;
    let title = chat.title().or(chat.username()).or(chat.first_name()).unwrap_or("Telegram chat");
    let answer = match links::redeem_link_code(&ctx.services, chat.id.0, title, code).await {
        Ok(Ok(person)) => texts::linked(&person.name),
        Ok(Err(LinkRefusal::BadCode)) => texts::BAD_CODE.to_owned(),
        Ok(Err(LinkRefusal::NotOperator)) => texts::NOT_OPERATOR.to_owned(),
        Err(error) => {
            tracing::warn!(%error, "cannot link a Telegram chat");
            texts::UNAVAILABLE.to_owned()
        }
    };
    say(ctx, message, &answer).await;
}

async fn unlink(ctx: &Arc<Ctx>, message: &Message) {
    let answer = match links::unlink_from_chat(&ctx.services, message.chat.id.0).await {
        Ok(true) => texts::UNLINKED,
        Ok(false) => texts::WAS_NOT_LINKED,
        Err(error) => {
            tracing::warn!(%error, "cannot unlink a Telegram chat");
            texts::UNAVAILABLE
        }
    };
    say(ctx, message, answer).await;
}

/// Previews the command and shows it with its buttons.
async fn preview(ctx: &Arc<Ctx>, person: &Principal, message: &Message, command: &str) {
    let chat_id = message.chat.id.0;
    let session_id = chat_session(chat_id, person.id).to_string();
    let request =
        PreviewRequest { raw_input: command.to_owned(), channel: Channel::Telegram, session_id: session_id.clone() };
    let preview = match ctx.gateway.preview(request, Operator::new(person.id), None).await {
        Ok(preview) => preview,
        Err(error) => return say(ctx, message, &texts::refusal(error.code(), &error.public_message())).await,
    };
    let summary = texts::preview(&preview, command);
    let mut buttons = Vec::new();
    if !preview.requires_structured_override {
        buttons.push(InlineKeyboardButton::callback("Confirm", format!("{CONFIRM}{}", preview.preview_id)));
    }
    buttons.push(InlineKeyboardButton::callback("Cancel", format!("{CANCEL}{}", preview.preview_id)));
    let sent = deliver(
        ctx.bot
            .send_message(message.chat.id, summary.clone())
            .reply_parameters(ReplyParameters::new(message.id).allow_sending_without_reply())
            .reply_markup(InlineKeyboardMarkup::new([buttons])),
    )
    .await;
    let shown = match sent {
        Ok(shown) => shown,
        Err(error) => {
            tracing::warn!(%error, chat_id, "cannot show a preview in Telegram");
            return;
        }
    };
    let record = ChatPreview {
        chat_id,
        message_id: i64::from(shown.id.0),
        preview_id: preview.preview_id,
        user_id: person.id,
        session_id,
        summary,
        expires_at: preview.expires_at,
        state: ChatPreviewState::Pending,
        task_id: None,
        notified_state: None,
    };
    if let Err(error) = ctx.services.store.insert_chat_preview(&record).await {
        tracing::warn!(%error, chat_id, "cannot keep a Telegram preview; its buttons will not work");
    }
}

/// A press of Confirm or Cancel.
async fn on_button(ctx: &Arc<Ctx>, query: CallbackQuery) {
    let data = query.data.clone().unwrap_or_default();
    let pressed = query.message.as_ref().map(|message| (message.chat().id.0, message.id()));
    let answer = match (pressed, data.strip_prefix(CONFIRM), data.strip_prefix(CANCEL)) {
        (Some((chat_id, message_id)), confirm, cancel) if confirm.is_some() || cancel.is_some() => {
            if !ctx.floods.admit(chat_id) {
                metrics::counter!("telegram_flood_dropped_total").increment(1);
                None
            } else {
                Some(match links::chat_operator(&ctx.services, chat_id).await {
                    Ok(Ok(person)) => settle(ctx, &person, chat_id, message_id, confirm.is_some()).await,
                    Ok(Err(ChatRefusal::NotLinked)) => texts::NOT_LINKED.to_owned(),
                    Ok(Err(ChatRefusal::NotOperator)) => texts::NOT_OPERATOR.to_owned(),
                    Err(error) => {
                        tracing::warn!(%error, chat_id, "cannot tell whom a Telegram chat speaks for");
                        texts::UNAVAILABLE.to_owned()
                    }
                })
            }
        }
        _ => Some(texts::NOT_A_PREVIEW.to_owned()),
    };
    // Every press is answered, or the person's client shows a spinner for a while.
    let mut request = ctx.bot.answer_callback_query(query.id.clone());
    if let Some(answer) = answer {
        request = request.text(texts::answer(&answer));
    }
    if let Err(error) = deliver(request).await {
        tracing::info!(%error, "cannot answer a Telegram button press");
    }
}

/// Confirms or cancels the preview the bot's message `message_id` shows, edits that message to
/// say how it ended, and returns the short answer for the person.
async fn settle(ctx: &Arc<Ctx>, person: &Principal, chat_id: i64, message_id: MessageId, confirm: bool) -> String {
    let shown = match ctx.services.store.chat_preview(chat_id, i64::from(message_id.0)).await {
        Ok(Some(shown)) => shown,
        Ok(None) => return texts::NOT_A_PREVIEW.to_owned(),
        Err(error) => {
            tracing::warn!(%error, chat_id, "cannot read a Telegram preview");
            return texts::UNAVAILABLE.to_owned();
        }
    };
    if shown.user_id != person.id {
        return texts::SOMEONE_ELSE.to_owned();
    }
    let operator = Operator::new(person.id);
    let (outcome, text, answer) = if confirm {
        let request = ConfirmRequest {
            preview_id: shown.preview_id.clone(),
            session_id: shown.session_id.clone(),
            structured_override: None,
        };
        match ctx.gateway.confirm(request, operator, None).await {
            Ok(done) => {
                let settlement = ChatPreviewSettlement {
                    state: ChatPreviewState::Confirmed,
                    task_id: Some(done.task_id.clone()),
                    notified_state: Some(done.state),
                };
                let answer = format!("Confirmed: task {} written.", done.task_id);
                (Some(settlement), texts::confirmed(&shown.summary, &person.name, &done), answer)
            }
            Err(error) => return refused(ctx, &shown, &error).await,
        }
    } else {
        match ctx.gateway.cancel(&shown.preview_id, &shown.session_id, operator, None).await {
            Ok(()) => {
                let settlement =
                    ChatPreviewSettlement { state: ChatPreviewState::Cancelled, task_id: None, notified_state: None };
                (Some(settlement), texts::cancelled(&shown.summary), "Cancelled. Nothing was written.".to_owned())
            }
            Err(error) => return refused(ctx, &shown, &error).await,
        }
    };
    if let Some(settlement) = outcome {
        match ctx.services.store.settle_chat_preview(chat_id, shown.message_id, settlement).await {
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, chat_id, "cannot record how a Telegram preview ended"),
        }
    }
    edit(ctx, chat_id, shown.message_id, text).await;
    answer
}

/// The gateway's refusal of a confirm or cancel, as the panel shows it; a preview whose time ran
/// out is also marked so on its message. One the gateway does not know before its time ran out
/// is left as it is: it may be held by another instance (previews live in the memory of the one
/// that made it), or the instance that made it died.
async fn refused(ctx: &Arc<Ctx>, shown: &ChatPreview, error: &GatewayError) -> String {
    let timed_out = match error {
        GatewayError::PreviewExpired => true,
        GatewayError::PreviewNotFound => shown.expires_at <= chrono::Utc::now(),
        _ => false,
    };
    if timed_out {
        let settlement =
            ChatPreviewSettlement { state: ChatPreviewState::Expired, task_id: None, notified_state: None };
        if let Ok(true) = ctx.services.store.settle_chat_preview(shown.chat_id, shown.message_id, settlement).await {
            edit(ctx, shown.chat_id, shown.message_id, texts::expired(&shown.summary, shown.expires_at)).await;
        }
    }
    texts::refusal(error.code(), &error.public_message())
}

/// Replaces a message's text; its buttons go with the old text.
pub(crate) async fn edit(ctx: &Ctx, chat_id: i64, message_id: i64, text: String) {
    let Ok(message_id) = i32::try_from(message_id) else { return };
    match deliver(ctx.bot.edit_message_text(ChatId(chat_id), MessageId(message_id), text)).await {
        Ok(_) => {}
        Err(error) if already_so(&error) => {}
        Err(error) => tracing::info!(%error, chat_id, "cannot edit a Telegram message"),
    }
}

/// Answers a person's message, as a reply to it.
async fn say(ctx: &Ctx, message: &Message, text: &str) {
    let request = ctx
        .bot
        .send_message(message.chat.id, text)
        .reply_parameters(ReplyParameters::new(message.id).allow_sending_without_reply());
    if let Err(error) = deliver(request).await {
        tracing::info!(%error, chat_id = message.chat.id.0, "cannot answer in Telegram");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_chat_and_person_has_its_own_stable_session() {
        let (alice, bob) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let session = chat_session(42, alice);
        assert_eq!(session, chat_session(42, alice));
        assert_ne!(session, chat_session(42, bob));
        assert_ne!(session, chat_session(43, alice));
        assert_eq!(session.get_version(), Some(uuid::Version::Random));
    }

    #[test]
    fn button_data_fits_telegrams_64_bytes() {
        let preview_id = Uuid::new_v4().to_string();
        assert!(format!("{CONFIRM}{preview_id}").len() <= 64);
        assert!(format!("{CANCEL}{preview_id}").len() <= 64);
    }
}
