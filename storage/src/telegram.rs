//! The [`TelegramStore`](crate::TelegramStore) and [`LeaseStore`](crate::LeaseStore) methods,
//! written once for both databases like `portable.rs`.

use chrono::{DateTime, Utc};
use domain::telegram::{ChatPreview, TelegramLink};
use uuid::Uuid;

use crate::error::StorageError;

#[derive(sqlx::FromRow)]
pub(crate) struct TelegramLinkRow {
    chat_id: i64,
    chat_title: String,
    linked_at: DateTime<Utc>,
}

impl From<TelegramLinkRow> for TelegramLink {
    fn from(row: TelegramLinkRow) -> Self {
        TelegramLink { chat_id: row.chat_id, chat_title: row.chat_title, linked_at: row.linked_at }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ChatPreviewRow {
    chat_id: i64,
    message_id: i64,
    preview_id: String,
    user_id: Uuid,
    session_id: String,
    summary: String,
    expires_at: DateTime<Utc>,
    state: String,
    task_id: Option<String>,
    notified_state: Option<String>,
}

impl TryFrom<ChatPreviewRow> for ChatPreview {
    type Error = StorageError;
    fn try_from(row: ChatPreviewRow) -> Result<Self, StorageError> {
        Ok(ChatPreview {
            chat_id: row.chat_id,
            message_id: row.message_id,
            preview_id: row.preview_id,
            user_id: row.user_id,
            session_id: row.session_id,
            summary: row.summary,
            expires_at: row.expires_at,
            state: row.state.parse()?,
            task_id: row.task_id,
            notified_state: row.notified_state.map(|state| state.parse()).transpose()?,
        })
    }
}

macro_rules! chat_preview_columns {
    () => {
        "chat_id, message_id, preview_id, user_id, session_id, summary, expires_at, state, task_id, notified_state"
    };
}

macro_rules! impl_telegram_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::TelegramStore for $store {
            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn create_link_code(
                &self,
                user_id: uuid::Uuid,
                code_hash: &str,
                expires_at: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<()> {
                let now = $crate::now();
                let mut tx = self.pool.begin().await?;
                // One live code per person: a new one replaces the last; spent ones go too.
                sqlx::query("DELETE FROM telegram_link_codes WHERE user_id = $1 OR expires_at <= $2")
                    .bind(user_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                let inserted = sqlx::query(
                    "INSERT INTO telegram_link_codes (code_hash, user_id, expires_at, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(code_hash)
                .bind(user_id)
                .bind(expires_at)
                .bind(now)
                .execute(&mut *tx)
                .await;
                $crate::error::conflict_on_duplicate(inserted, "another link code was just made for this person; try again")?;
                tx.commit().await?;
                Ok(())
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn redeem_link_code(
                &self,
                code_hash: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<Option<uuid::Uuid>> {
                Ok(sqlx::query_scalar::<_, uuid::Uuid>(
                    "DELETE FROM telegram_link_codes WHERE code_hash = $1 AND expires_at > $2 RETURNING user_id",
                )
                .bind(code_hash)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?)
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn link_chat(
                &self,
                chat_id: i64,
                user_id: uuid::Uuid,
                chat_title: &str,
            ) -> $crate::Result<domain::telegram::TelegramLink> {
                Ok(sqlx::query_as::<_, $crate::telegram::TelegramLinkRow>(
                    "INSERT INTO telegram_chats (chat_id, user_id, chat_title, linked_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (chat_id) DO UPDATE SET user_id = excluded.user_id, \
                     chat_title = excluded.chat_title, linked_at = excluded.linked_at \
                     RETURNING chat_id, chat_title, linked_at",
                )
                .bind(chat_id)
                .bind(user_id)
                .bind(chat_title)
                .bind($crate::now())
                .fetch_one(&self.pool)
                .await?
                .into())
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn unlink_chat(&self, chat_id: i64, user_id: Option<uuid::Uuid>) -> $crate::Result<bool> {
                let unlinked = match user_id {
                    Some(user_id) => sqlx::query("DELETE FROM telegram_chats WHERE chat_id = $1 AND user_id = $2")
                        .bind(chat_id)
                        .bind(user_id)
                        .execute(&self.pool)
                        .await?,
                    None => sqlx::query("DELETE FROM telegram_chats WHERE chat_id = $1")
                        .bind(chat_id)
                        .execute(&self.pool)
                        .await?,
                };
                Ok(unlinked.rows_affected() > 0)
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn chat_user(&self, chat_id: i64) -> $crate::Result<Option<uuid::Uuid>> {
                Ok(sqlx::query_scalar::<_, uuid::Uuid>("SELECT user_id FROM telegram_chats WHERE chat_id = $1")
                    .bind(chat_id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn list_chats(&self, user_id: uuid::Uuid) -> $crate::Result<Vec<domain::telegram::TelegramLink>> {
                let rows = sqlx::query_as::<_, $crate::telegram::TelegramLinkRow>(
                    "SELECT chat_id, chat_title, linked_at FROM telegram_chats WHERE user_id = $1 \
                     ORDER BY linked_at, chat_id",
                )
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn insert_chat_preview(&self, preview: &domain::telegram::ChatPreview) -> $crate::Result<()> {
                let now = $crate::now();
                let inserted = sqlx::query(
                    "INSERT INTO telegram_previews (chat_id, message_id, preview_id, user_id, session_id, summary, \
                     expires_at, state, task_id, notified_state, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
                )
                .bind(preview.chat_id)
                .bind(preview.message_id)
                .bind(&preview.preview_id)
                .bind(preview.user_id)
                .bind(&preview.session_id)
                .bind(&preview.summary)
                .bind(preview.expires_at)
                .bind(preview.state.as_str())
                .bind(&preview.task_id)
                .bind(preview.notified_state.map(|state| state.as_str()))
                .bind(now)
                .execute(&self.pool)
                .await;
                $crate::error::conflict_on_duplicate(inserted, "that message already shows a preview")?;
                Ok(())
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn chat_preview(
                &self,
                chat_id: i64,
                message_id: i64,
            ) -> $crate::Result<Option<domain::telegram::ChatPreview>> {
                sqlx::query_as::<_, $crate::telegram::ChatPreviewRow>(concat!(
                    "SELECT ",
                    $crate::telegram::chat_preview_columns!(),
                    " FROM telegram_previews WHERE chat_id = $1 AND message_id = $2"
                ))
                .bind(chat_id)
                .bind(message_id)
                .fetch_optional(&self.pool)
                .await?
                .map(TryInto::try_into)
                .transpose()
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn settle_chat_preview(
                &self,
                chat_id: i64,
                message_id: i64,
                settled: $crate::ChatPreviewSettlement,
            ) -> $crate::Result<bool> {
                use domain::telegram::ChatPreviewState;
                // A confirm the gateway accepted lands even on a preview expired in the same
                // instant: its task file is written.
                let updated = sqlx::query(
                    "UPDATE telegram_previews SET state = $3, task_id = $4, notified_state = $5, updated_at = $6 \
                     WHERE chat_id = $1 AND message_id = $2 AND (state = 'pending' OR ($3 = 'confirmed' AND state = 'expired'))",
                )
                .bind(chat_id)
                .bind(message_id)
                .bind(settled.state.as_str())
                .bind(&settled.task_id)
                .bind(settled.notified_state.map(|state| state.as_str()))
                .bind($crate::now())
                .execute(&self.pool)
                .await?;
                debug_assert!(settled.state != ChatPreviewState::Pending);
                Ok(updated.rows_affected() > 0)
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn expired_chat_previews(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                limit: i64,
            ) -> $crate::Result<Vec<domain::telegram::ChatPreview>> {
                let rows = sqlx::query_as::<_, $crate::telegram::ChatPreviewRow>(concat!(
                    "SELECT ",
                    $crate::telegram::chat_preview_columns!(),
                    " FROM telegram_previews WHERE state = 'pending' AND expires_at <= $1 ORDER BY expires_at LIMIT $2"
                ))
                .bind(now)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn chat_tasks_to_follow(
                &self,
                after: (i64, i64),
                limit: i64,
            ) -> $crate::Result<Vec<domain::telegram::ChatPreview>> {
                let rows = sqlx::query_as::<_, $crate::telegram::ChatPreviewRow>(concat!(
                    "SELECT ",
                    $crate::telegram::chat_preview_columns!(),
                    " FROM telegram_previews WHERE state = 'confirmed' \
                     AND (notified_state IS NULL OR notified_state NOT IN ('done', 'failed')) \
                     AND (chat_id > $1 OR (chat_id = $1 AND message_id > $2)) \
                     ORDER BY chat_id, message_id LIMIT $3"
                ))
                .bind(after.0)
                .bind(after.1)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn forget_chat_previews(&self, before: chrono::DateTime<chrono::Utc>) -> $crate::Result<u64> {
                let deleted = sqlx::query(
                    "DELETE FROM telegram_previews WHERE updated_at < $1 AND (state IN ('cancelled', 'expired') \
                     OR (state = 'confirmed' AND notified_state IN ('done', 'failed')))",
                )
                .bind(before)
                .execute(&self.pool)
                .await?;
                Ok(deleted.rows_affected())
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn record_chat_notice(
                &self,
                chat_id: i64,
                message_id: i64,
                told: Option<domain::control_plane::TaskState>,
                news: domain::control_plane::TaskState,
            ) -> $crate::Result<bool> {
                let told = told.map(|state| state.as_str()).unwrap_or("");
                let updated = sqlx::query(
                    "UPDATE telegram_previews SET notified_state = $4, updated_at = $5 \
                     WHERE chat_id = $1 AND message_id = $2 AND state = 'confirmed' \
                     AND COALESCE(notified_state, '') = $3",
                )
                .bind(chat_id)
                .bind(message_id)
                .bind(told)
                .bind(news.as_str())
                .bind($crate::now())
                .execute(&self.pool)
                .await?;
                Ok(updated.rows_affected() > 0)
            }
        }

        #[async_trait::async_trait]
        impl $crate::LeaseStore for $store {
            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn acquire_lease(
                &self,
                name: &str,
                holder: &str,
                ttl: std::time::Duration,
            ) -> $crate::Result<Option<i64>> {
                let now = $crate::now();
                let until = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX / 2);
                Ok(sqlx::query_scalar::<_, i64>(
                    "INSERT INTO leases (name, holder, token, expires_at) VALUES ($1, $2, 1, $3) \
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at, \
                     token = CASE WHEN leases.holder = excluded.holder AND leases.expires_at > $4 \
                     THEN leases.token ELSE leases.token + 1 END \
                     WHERE leases.holder = excluded.holder OR leases.expires_at <= $4 \
                     RETURNING token",
                )
                .bind(name)
                .bind(holder)
                .bind(until)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?)
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn renew_lease(
                &self,
                name: &str,
                holder: &str,
                token: i64,
                ttl: std::time::Duration,
            ) -> $crate::Result<bool> {
                let now = $crate::now();
                let until = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX / 2);
                let renewed = sqlx::query(
                    "UPDATE leases SET expires_at = $4 \
                     WHERE name = $1 AND holder = $2 AND token = $3 AND expires_at > $5",
                )
                .bind(name)
                .bind(holder)
                .bind(token)
                .bind(until)
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(renewed.rows_affected() == 1)
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn release_lease(&self, name: &str, holder: &str) -> $crate::Result<()> {
                sqlx::query("UPDATE leases SET expires_at = $3 WHERE name = $1 AND holder = $2")
                    .bind(name)
                    .bind(holder)
                    .bind($crate::now())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn forget_lease(&self, name: &str, holder: &str) -> $crate::Result<()> {
                sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
                    .bind(name)
                    .bind(holder)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn expired_leases(&self, prefix: &str, limit: i64) -> $crate::Result<Vec<String>> {
                Ok(sqlx::query_scalar::<_, String>(
                    "SELECT name FROM leases WHERE substr(name, 1, length($1)) = $1 AND expires_at <= $2 \
                     ORDER BY expires_at LIMIT $3",
                )
                .bind(prefix)
                .bind($crate::now())
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }
        }
    };
}

pub(crate) use {chat_preview_columns, impl_telegram_store};
