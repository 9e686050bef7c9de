//! On a timer, while this instance holds the poller lease: previews whose time ran out are marked
//! so on their messages, and each state the execution plane reports for a confirmed task is told
//! to its chat once. The store's conditional updates keep a notice from being sent twice even if
//! two instances both believed they held the lease for a moment.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use domain::telegram::ChatPreviewState;
use storage::ChatPreviewSettlement;
use teloxide::prelude::*;
use teloxide::types::{MessageId, ReplyParameters};

use crate::conversation::edit;
use crate::outbox::deliver;
use crate::{texts, Ctx};

/// Previews looked at per tick.
const BATCH: i64 = 200;
/// How often idle chats' flood counters, and settled previews, are forgotten.
const FORGET_EVERY: Duration = Duration::from_secs(60);
/// How long a settled preview (or a finished task's) is kept, for its buttons and replies.
const KEEP_SETTLED: chrono::Duration = chrono::Duration::days(30);

/// Where the follower stands in the confirmed tasks: it pages through them all, so tasks that
/// never finish cannot crowd out the others.
const START: (i64, i64) = (i64::MIN, i64::MIN);

pub(crate) async fn run(ctx: Arc<Ctx>) {
    let shutdown = ctx.services.shutdown.clone();
    let mut tick = tokio::time::interval(ctx.config.follow_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut forgot = tokio::time::Instant::now();
    let mut cursor = START;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        let polling = ctx.polling.load(Ordering::Acquire);
        if forgot.elapsed() >= FORGET_EVERY {
            ctx.floods.forget_idle();
            forgot = tokio::time::Instant::now();
            if polling {
                match ctx.services.store.forget_chat_previews(storage::now() - KEEP_SETTLED).await {
                    Ok(0) => {}
                    Ok(forgotten) => tracing::info!(forgotten, "old Telegram previews forgotten"),
                    Err(error) => tracing::warn!(%error, "cannot forget old Telegram previews"),
                }
            }
        }
        if polling {
            cursor = follow_once(&ctx, cursor).await;
        }
    }
}

/// One look at the expired previews and at the next page of tasks still followed; returns where
/// the next look starts.
pub(crate) async fn follow_once(ctx: &Ctx, cursor: (i64, i64)) -> (i64, i64) {
    let store = &ctx.services.store;
    let pending = store.expired_chat_previews(storage::now(), BATCH).await.unwrap_or_else(|error| {
        tracing::warn!(%error, "cannot read the expired Telegram previews");
        Vec::new()
    });
    let confirmed = match store.chat_tasks_to_follow(cursor, BATCH).await {
        Ok(confirmed) => confirmed,
        Err(error) => {
            tracing::warn!(%error, "cannot read the Telegram tasks to follow");
            Vec::new()
        }
    };
    // A short page is the end: the next look starts over.
    let next = match confirmed.last() {
        Some(last) if confirmed.len() as i64 == BATCH => (last.chat_id, last.message_id),
        _ => START,
    };

    for preview in pending {
        debug_assert_eq!(preview.state, ChatPreviewState::Pending);
        let settlement =
            ChatPreviewSettlement { state: ChatPreviewState::Expired, task_id: None, notified_state: None };
        match store.settle_chat_preview(preview.chat_id, preview.message_id, settlement).await {
            Ok(true) => {
                edit(ctx, preview.chat_id, preview.message_id, texts::expired(&preview.summary, preview.expires_at))
                    .await
            }
            Ok(false) => {}
            Err(error) => tracing::warn!(%error, "cannot mark a Telegram preview expired"),
        }
    }

    let task_ids = confirmed.iter().map(|preview| preview.task_id.clone().unwrap_or_default()).collect();
    let progress = ctx.gateway.task_progress(task_ids).await;
    for (preview, progress) in confirmed.into_iter().zip(progress) {
        let (Some(task_id), Some(progress)) = (preview.task_id.as_deref(), progress) else { continue };
        if Some(progress.state) == preview.notified_state {
            continue;
        }
        let claimed =
            store.record_chat_notice(preview.chat_id, preview.message_id, preview.notified_state, progress.state).await;
        match claimed {
            Ok(true) => {}
            Ok(false) => continue,
            Err(error) => {
                tracing::warn!(%error, "cannot record a Telegram task notice");
                continue;
            }
        }
        // A chat unlinked since, or linked to someone else, is told nothing more.
        if !still_speaks_for(ctx, &preview).await {
            continue;
        }
        let summary = progress.state.is_final().then_some(progress.result_summary.as_deref()).flatten();
        let text = texts::task_news(task_id, progress.state, summary);
        let mut request = ctx.bot.send_message(ChatId(preview.chat_id), text);
        if let Ok(message_id) = i32::try_from(preview.message_id) {
            request =
                request.reply_parameters(ReplyParameters::new(MessageId(message_id)).allow_sending_without_reply());
        }
        if let Err(error) = deliver(request).await {
            tracing::warn!(%error, chat_id = preview.chat_id, task_id, "cannot tell a Telegram chat of its task");
        }
    }
    next
}

/// Whether the preview's chat still speaks for the person who confirmed it.
async fn still_speaks_for(ctx: &Ctx, preview: &domain::telegram::ChatPreview) -> bool {
    match services::telegram::chat_operator(&ctx.services, preview.chat_id).await {
        Ok(Ok(person)) => person.id == preview.user_id,
        Ok(Err(_)) => false,
        Err(error) => {
            tracing::warn!(%error, "cannot tell whom a Telegram chat speaks for");
            false
        }
    }
}
