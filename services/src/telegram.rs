//! The control plane's Telegram channel as the service layer sees it: who may link a chat, the
//! one-time link codes, and which person a chat speaks for. The bot itself (the `telegram` crate)
//! asks here before anything reaches the gateway, so the rule is the panel's: operators and
//! admins only, checked again on every message (a person whose role was taken away is refused).

use chrono::Utc;
use domain::accounts::Role;
use domain::telegram::{LinkCode, TelegramLink, LINK_CODE_TTL_SECONDS};
use rand::Rng;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::access::{Actor, Principal};
use crate::{ServiceError, ServiceResult, Services};

/// Letters and digits that cannot be mistaken for one another when typed from a screen.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// 10 symbols of 32: 50 bits, against a guesser limited to a few tries a minute per chat.
const CODE_LENGTH: usize = 10;
/// The longest chat title kept.
const MAX_TITLE_CHARS: usize = 128;

fn require_operator(actor: &Actor) -> ServiceResult<&Principal> {
    actor.require_role(Role::may_operate, "operators and admins")
}

/// The stored form of a code: SHA-256 of its normalised spelling.
fn code_hash(code: &str) -> String {
    hex::encode(Sha256::digest(code.as_bytes()))
}

/// What a person typed, as a code could be spelt: upper case, without spaces or dashes; `None`
/// when it cannot be a code at all.
pub fn normalise_code(typed: &str) -> Option<String> {
    let code: String =
        typed.chars().filter(|c| !c.is_whitespace() && *c != '-').map(|c| c.to_ascii_uppercase()).collect();
    let valid = code.len() == CODE_LENGTH && code.bytes().all(|b| CODE_ALPHABET.contains(&b));
    valid.then_some(code)
}

/// A fresh one-time code for the caller to send to the bot as `/link <code>`, valid for ten
/// minutes; it replaces any code they had before. `NOT_FOUND` when this server runs no bot.
pub async fn create_link_code(services: &Services, actor: &Actor, bot_enabled: bool) -> ServiceResult<LinkCode> {
    let person = require_operator(actor)?;
    if !bot_enabled {
        return Err(ServiceError::NotFound("Telegram bot"));
    }
    let code: String = {
        let mut rng = rand::rng();
        (0..CODE_LENGTH).map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char).collect()
    };
    let expires_at = storage::now() + chrono::Duration::seconds(LINK_CODE_TTL_SECONDS);
    services.store.create_link_code(person.id, &code_hash(&code), expires_at).await?;
    tracing::info!(user_id = %person.id, "Telegram link code made");
    Ok(LinkCode { code, expires_at })
}

/// The caller's linked chats.
pub async fn list_links(services: &Services, actor: &Actor) -> ServiceResult<Vec<TelegramLink>> {
    let person = require_operator(actor)?;
    Ok(services.store.list_chats(person.id).await?)
}

/// Unbinds one of the caller's chats; another person's chat is `NOT_FOUND`.
pub async fn unlink(services: &Services, actor: &Actor, chat_id: i64) -> ServiceResult<()> {
    let person = require_operator(actor)?;
    if !services.store.unlink_chat(chat_id, Some(person.id)).await? {
        return Err(ServiceError::NotFound("linked chat"));
    }
    tracing::info!(user_id = %person.id, chat_id, "Telegram chat unlinked from the web");
    Ok(())
}

/// Why a chat cannot speak for anyone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatRefusal {
    /// No person linked it.
    NotLinked,
    /// Its person may no longer use the control plane (or no longer exists).
    NotOperator,
}

/// The person a chat speaks for, checked as the panel checks a signed-in person.
pub async fn chat_operator(services: &Services, chat_id: i64) -> ServiceResult<Result<Principal, ChatRefusal>> {
    let Some(user_id) = services.store.chat_user(chat_id).await? else {
        return Ok(Err(ChatRefusal::NotLinked));
    };
    operator_by_id(services, user_id).await
}

async fn operator_by_id(services: &Services, user_id: Uuid) -> ServiceResult<Result<Principal, ChatRefusal>> {
    let Some(user) = services.store.get_user(user_id).await? else {
        return Ok(Err(ChatRefusal::NotOperator));
    };
    let actor = Actor::Person(Principal::from(&user));
    Ok(match require_operator(&actor) {
        Ok(person) => Ok(person.clone()),
        Err(_) => Err(ChatRefusal::NotOperator),
    })
}

/// Why `/link` failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkRefusal {
    /// Unknown, spent, expired or misspelt.
    BadCode,
    /// The code's person may not use the control plane.
    NotOperator,
}

/// Binds `chat_id` to the person whose live code this is, spending the code.
pub async fn redeem_link_code(
    services: &Services,
    chat_id: i64,
    chat_title: &str,
    typed: &str,
) -> ServiceResult<Result<Principal, LinkRefusal>> {
    let Some(code) = normalise_code(typed) else {
        return Ok(Err(LinkRefusal::BadCode));
    };
    let Some(user_id) = services.store.redeem_link_code(&code_hash(&code), Utc::now()).await? else {
        return Ok(Err(LinkRefusal::BadCode));
    };
    let person = match operator_by_id(services, user_id).await? {
        Ok(person) => person,
        Err(_) => return Ok(Err(LinkRefusal::NotOperator)),
    };
    let title: String = chat_title.chars().filter(|c| !c.is_control()).take(MAX_TITLE_CHARS).collect();
    services.store.link_chat(chat_id, person.id, &title).await?;
    tracing::info!(user_id = %person.id, chat_id, "Telegram chat linked");
    Ok(Ok(person))
}

/// Whether a webhook delivery comes from Telegram: it carries the secret the webhook was
/// registered with (`X-Telegram-Bot-Api-Secret-Token`). `UNAUTHENTICATED` otherwise, whatever
/// session or token the request also carries: only Telegram delivers updates.
pub fn check_webhook_secret(expected: &str, given: Option<&[u8]>) -> ServiceResult<()> {
    // Digests of equal length compare in the same time whatever the guess.
    let given = Sha256::digest(given.unwrap_or_default());
    if given == Sha256::digest(expected.as_bytes()) {
        Ok(())
    } else {
        Err(ServiceError::Unauthenticated)
    }
}

/// Unbinds the chat, whoever linked it (`/unlink` sent from the chat itself).
pub async fn unlink_from_chat(services: &Services, chat_id: i64) -> ServiceResult<bool> {
    let unlinked = services.store.unlink_chat(chat_id, None).await?;
    if unlinked {
        tracing::info!(chat_id, "Telegram chat unlinked from the chat");
    }
    Ok(unlinked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_webhooks_own_secret_is_accepted() {
        assert!(check_webhook_secret("s3cret", Some(b"s3cret")).is_ok());
        for given in [None, Some(&b""[..]), Some(&b"s3cre"[..]), Some(&b"s3cret "[..])] {
            assert!(matches!(check_webhook_secret("s3cret", given), Err(ServiceError::Unauthenticated)));
        }
    }

    #[test]
    fn codes_are_read_forgivingly_and_refused_when_they_cannot_be_codes() {
        assert_eq!(normalise_code("abcd-efgh 23").as_deref(), Some("ABCDEFGH23"));
        assert_eq!(normalise_code("ABCDEFGH2"), None, "too short");
        assert_eq!(normalise_code("ABCDEFGH10"), None, "1 and 0 are not in the alphabet");
        assert_eq!(normalise_code(&"A".repeat(4000)), None);
        assert_eq!(normalise_code("ÄBCDEFGH23"), None);
    }
}
