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
/// How often idle chats' flood counters are forgotten.
const FORGET_EVERY: Duration = Duration::from_secs(60);

pub(crate) async fn run(ctx: Arc<Ctx>) {
    let shutdown = ctx.services.shutdown.clone();
    let mut tick = tokio::time::interval(ctx.config.follow_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut forgot = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        if forgot.elapsed() >= FORGET_EVERY {
            ctx.floods.forget_idle();
            forgot = tokio::time::Instant::now();
        }
        if ctx.polling.load(Ordering::Acquire) {
            follow_once(&ctx).await;
        }
    }
}

/// One look at every preview and task still followed.
pub(crate) async fn follow_once(ctx: &Ctx) {
    let followed = match ctx.services.store.chat_previews_to_follow(storage::now(), BATCH).await {
        Ok(followed) => followed,
        Err(error) => {
            tracing::warn!(%error, "cannot read the Telegram previews to follow");
            return;
        }
    };
    let (pending, confirmed): (Vec<_>, Vec<_>) =
        followed.into_iter().partition(|preview| preview.state == ChatPreviewState::Pending);

    for preview in pending {
        let settlement =
            ChatPreviewSettlement { state: ChatPreviewState::Expired, task_id: None, notified_state: None };
        match ctx.services.store.settle_chat_preview(preview.chat_id, preview.message_id, settlement).await {
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
        let claimed = ctx
            .services
            .store
            .record_chat_notice(preview.chat_id, preview.message_id, preview.notified_state, progress.state)
            .await;
        match claimed {
            Ok(true) => {}
            Ok(false) => continue,
            Err(error) => {
                tracing::warn!(%error, "cannot record a Telegram task notice");
                continue;
            }
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
}
