//! Long polling, by one instance at a time. Each round renews the `telegram-poller` lease before
//! asking Telegram for news; an instance that cannot renew it stops polling, and the others try
//! to take it every few seconds, so a dead poller is replaced within the lease's lifetime.
//! Telegram keeps the updates nobody confirmed, so the next poller starts where the last stopped.
//!
//! In webhook mode the lease holder polls nothing: it registers the webhook once it holds the
//! lease (Telegram then delivers to every instance) and keeps the lease for the notices.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use teloxide::prelude::*;
use teloxide::requests::Request;
use teloxide::types::AllowedUpdate;
use teloxide::RequestError;

use crate::outbox::error_kind;
use crate::{conversation, Ctx, POLLER_LEASE};

/// The first pause after a failed poll; it doubles up to the configured maximum.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

pub(crate) async fn run(ctx: Arc<Ctx>) {
    let shutdown = ctx.services.shutdown.clone();
    let mut offset: Option<i32> = None;
    let mut backoff = FIRST_BACKOFF;
    // Whether the webhook is registered (webhook mode) or removed (polling mode) since this
    // instance took the lease.
    let mut registered = false;
    // Waiting instances try for the lease this often.
    let contend_every = (ctx.config.lease_ttl / 3).clamp(Duration::from_millis(200), Duration::from_secs(5));
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        let was_holding = ctx.polling.load(Ordering::Acquire);
        let Some(token) = hold_lease(&ctx).await else {
            offset = None;
            registered = false;
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(contend_every) => continue,
            }
        };
        if !was_holding || !registered {
            registered = register(&ctx).await;
        }
        if ctx.config.webhook.is_some() {
            // Telegram delivers; this instance only keeps the lease for the notices.
            let pause = if registered { contend_every } else { backoff };
            if !registered {
                backoff = (backoff * 2).min(ctx.config.max_backoff);
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(pause) => continue,
            }
        }

        let mut request = ctx
            .bot
            .get_updates()
            .timeout(ctx.config.poll_timeout.as_secs().try_into().unwrap_or(u32::MAX))
            .allowed_updates([AllowedUpdate::Message, AllowedUpdate::CallbackQuery]);
        if let Some(offset) = offset {
            request = request.offset(offset);
        }
        let polled = tokio::select! {
            _ = shutdown.cancelled() => break,
            polled = request.send() => polled,
        };
        match polled {
            Ok(updates) => {
                if backoff > FIRST_BACKOFF {
                    tracing::info!("Telegram answers again");
                }
                backoff = FIRST_BACKOFF;
                for update in updates {
                    // Handling can be slow (Telegram asking to wait): an instance that lost the
                    // lease meanwhile stops, leaving the rest, unconfirmed, to the new holder.
                    if hold_lease(&ctx).await != Some(token) {
                        offset = None;
                        break;
                    }
                    // Confirmed by the next poll: an update that made the handler fail is not
                    // offered again and again.
                    offset = Some(i32::try_from(update.id.0).unwrap_or(i32::MAX).saturating_add(1));
                    conversation::handle(&ctx, update).await;
                }
            }
            Err(error) => {
                metrics::counter!("telegram_api_errors_total", "kind" => error_kind(&error)).increment(1);
                let pause = match &error {
                    RequestError::RetryAfter(seconds) => seconds.duration(),
                    _ => {
                        let pause = backoff;
                        backoff = (backoff * 2).min(ctx.config.max_backoff);
                        pause
                    }
                };
                tracing::warn!(%error, wait_ms = pause.as_millis() as u64, "cannot poll Telegram; trying again");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        }
    }
    if ctx.polling.swap(false, Ordering::AcqRel) {
        if let Err(error) = ctx.services.store.release_lease(POLLER_LEASE, &ctx.instance).await {
            tracing::warn!(%error, "cannot give the Telegram poller lease back");
        }
    }
}

/// Registers the webhook, or removes any (a webhook left from an earlier set-up makes Telegram
/// refuse `getUpdates`); whether that worked.
async fn register(ctx: &Ctx) -> bool {
    let done = match &ctx.config.webhook {
        Some(webhook) => ctx
            .bot
            .set_webhook(webhook.url.clone())
            .secret_token(webhook.secret.clone())
            .allowed_updates([AllowedUpdate::Message, AllowedUpdate::CallbackQuery])
            .send()
            .await
            .map(|_| tracing::info!(url = %webhook.url, "Telegram delivers to the webhook")),
        None => ctx.bot.delete_webhook().send().await.map(|_| ()),
    };
    match done {
        Ok(()) => true,
        Err(error) => {
            metrics::counter!("telegram_api_errors_total", "kind" => error_kind(&error)).increment(1);
            tracing::warn!(%error, "cannot set Telegram's delivery mode; trying again");
            false
        }
    }
}

/// Takes or renews the lease; its fencing token while this instance holds it.
async fn hold_lease(ctx: &Ctx) -> Option<i64> {
    let held = match ctx.services.store.acquire_lease(POLLER_LEASE, &ctx.instance, ctx.config.lease_ttl).await {
        Ok(token) => token,
        Err(error) => {
            tracing::warn!(%error, "cannot renew the Telegram poller lease");
            None
        }
    };
    let was = ctx.polling.swap(held.is_some(), Ordering::AcqRel);
    match (was, held) {
        (false, Some(token)) => tracing::info!(instance = %ctx.instance, token, "polling Telegram"),
        (true, None) => tracing::info!(instance = %ctx.instance, "another instance polls Telegram now"),
        _ => {}
    }
    held
}
