//! The [`MessageChangeStore`](crate::MessageChangeStore) and
//! [`UsageReportStore`](crate::UsageReportStore) methods, written once for both databases like
//! `portable.rs`.

/// Copies the version a message row shows into its place among the alternatives, so it can be
/// shown again after another version replaces it.
macro_rules! keep_shown_version {
    () => {
        "INSERT INTO message_alternatives (message_id, idx, content, content_html, status, tokens_in, tokens_out, \
         usage_estimated, latency_ms, first_token_ms, model, error) \
         SELECT id, alternative_index, content, content_html, status, tokens_in, tokens_out, usage_estimated, \
         latency_ms, first_token_ms, model, error FROM messages WHERE id = $1 \
         ON CONFLICT (message_id, idx) DO UPDATE SET content = excluded.content, \
         content_html = excluded.content_html, status = excluded.status, tokens_in = excluded.tokens_in, \
         tokens_out = excluded.tokens_out, usage_estimated = excluded.usage_estimated, \
         latency_ms = excluded.latency_ms, first_token_ms = excluded.first_token_ms, model = excluded.model, \
         error = excluded.error"
    };
}

macro_rules! impl_message_change_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::MessageChangeStore for $store {
            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn restart_message(
                &self,
                message_id: uuid::Uuid,
                rewrite: $crate::Rewrite,
                model: Option<String>,
            ) -> $crate::Result<domain::rooms::Message> {
                let mut tx = self.pool.begin().await?;
                let sql = match rewrite {
                    $crate::Rewrite::Regenerate => {
                        sqlx::query($crate::message_changes::keep_shown_version!())
                            .bind(message_id)
                            .execute(&mut *tx)
                            .await?;
                        concat!(
                            "UPDATE messages SET alternative_index = alternatives, alternatives = alternatives + 1, \
                             content = '', content_html = NULL, status = 'streaming', tokens_in = NULL, \
                             tokens_out = NULL, usage_estimated = FALSE, latency_ms = NULL, first_token_ms = NULL, \
                             error = NULL, model = COALESCE($2, model) \
                             WHERE id = $1 AND status <> 'streaming' AND deleted_at IS NULL RETURNING ",
                            $crate::portable::message_columns!()
                        )
                    }
                    $crate::Rewrite::Retry => concat!(
                        "UPDATE messages SET content = '', content_html = NULL, status = 'streaming', \
                         tokens_in = NULL, tokens_out = NULL, usage_estimated = FALSE, latency_ms = NULL, \
                         first_token_ms = NULL, error = NULL, model = COALESCE($2, model) \
                         WHERE id = $1 AND status <> 'streaming' AND deleted_at IS NULL RETURNING ",
                        $crate::portable::message_columns!()
                    ),
                };
                let row = sqlx::query_as::<_, $crate::rows::MessageRow>(sql)
                    .bind(message_id)
                    .bind(model)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else {
                    return Err(self.unchangeable(message_id).await);
                };
                tx.commit().await?;
                row.try_into()
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn select_alternative(
                &self,
                message_id: uuid::Uuid,
                index: i64,
            ) -> $crate::Result<domain::rooms::Message> {
                let mut tx = self.pool.begin().await?;
                sqlx::query($crate::message_changes::keep_shown_version!())
                    .bind(message_id)
                    .execute(&mut *tx)
                    .await?;
                let version = sqlx::query_as::<_, $crate::rows::AlternativeRow>(
                    "SELECT content, content_html, status, tokens_in, tokens_out, usage_estimated, latency_ms, \
                     first_token_ms, model, error FROM message_alternatives WHERE message_id = $1 AND idx = $2",
                )
                .bind(message_id)
                .bind(index)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(version) = version else {
                    return Err(self.unchangeable(message_id).await);
                };
                let row = sqlx::query_as::<_, $crate::rows::MessageRow>(concat!(
                    "UPDATE messages SET alternative_index = $2, content = $3, content_html = $4, status = $5, \
                     tokens_in = $6, tokens_out = $7, usage_estimated = $8, latency_ms = $9, first_token_ms = $10, \
                     model = $11, error = $12 \
                     WHERE id = $1 AND status <> 'streaming' AND deleted_at IS NULL AND $2 < alternatives RETURNING ",
                    $crate::portable::message_columns!()
                ))
                .bind(message_id)
                .bind(index)
                .bind(&version.content)
                .bind(&version.content_html)
                .bind(&version.status)
                .bind(version.tokens_in)
                .bind(version.tokens_out)
                .bind(version.usage_estimated)
                .bind(version.latency_ms)
                .bind(version.first_token_ms)
                .bind(&version.model)
                .bind(&version.error)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Err(self.unchangeable(message_id).await);
                };
                tx.commit().await?;
                row.try_into()
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn edit_message(
                &self,
                message_id: uuid::Uuid,
                content: &str,
                content_html: &str,
            ) -> $crate::Result<domain::rooms::Message> {
                let row = sqlx::query_as::<_, $crate::rows::MessageRow>(concat!(
                    "UPDATE messages SET content = $2, content_html = $3, edited_at = $4 \
                     WHERE id = $1 AND status <> 'streaming' AND deleted_at IS NULL RETURNING ",
                    $crate::portable::message_columns!()
                ))
                .bind(message_id)
                .bind(content)
                .bind(content_html)
                .bind($crate::now())
                .fetch_optional(&self.pool)
                .await?;
                match row {
                    Some(row) => row.try_into(),
                    None => Err(self.unchangeable(message_id).await),
                }
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn delete_message(&self, message_id: uuid::Uuid) -> $crate::Result<domain::rooms::Message> {
                let mut tx = self.pool.begin().await?;
                let row = sqlx::query_as::<_, $crate::rows::MessageRow>(concat!(
                    "UPDATE messages SET content = '', content_html = NULL, error = NULL, deleted_at = $2, \
                     alternatives = 1, alternative_index = 0 \
                     WHERE id = $1 AND status <> 'streaming' AND deleted_at IS NULL RETURNING ",
                    $crate::portable::message_columns!()
                ))
                .bind(message_id)
                .bind($crate::now())
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Err(self.unchangeable(message_id).await);
                };
                // The removed text is not kept in any version.
                sqlx::query("DELETE FROM message_alternatives WHERE message_id = $1")
                    .bind(message_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                row.try_into()
            }
        }

        impl $store {
            /// Why a change to the message matched no row: it does not exist, is still being
            /// written, or was removed.
            async fn unchangeable(&self, message_id: uuid::Uuid) -> $crate::StorageError {
                use $crate::Store as _;
                match self.get_message(message_id).await {
                    Ok(None) => $crate::StorageError::NotFound("message"),
                    Ok(Some(message)) if message.is_deleted() => $crate::StorageError::Conflict($crate::MESSAGE_REMOVED),
                    Ok(Some(message)) if message.status == domain::rooms::MessageStatus::Streaming => {
                        $crate::StorageError::Conflict($crate::MESSAGE_STREAMING)
                    }
                    Ok(Some(_)) => $crate::StorageError::NotFound("alternative"),
                    Err(error) => error,
                }
            }
        }

        #[async_trait::async_trait]
        impl $crate::UsageReportStore for $store {
            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn usage_report(
                &self,
                scope: $crate::UsageScope,
                group: domain::usage::UsageGroup,
                range: (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>),
            ) -> $crate::Result<Vec<domain::usage::UsageTotal>> {
                let day = match <$store>::BACKEND {
                    $crate::Backend::Sqlite => "substr(u.created_at, 1, 10)",
                    $crate::Backend::Postgres => "to_char(u.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
                };
                // Only fixed SQL is put together here; every value is bound.
                let (key, label, group_by, order) = match group {
                    domain::usage::UsageGroup::Day => (day, day, day.to_owned(), "1"),
                    domain::usage::UsageGroup::Room => (
                        $crate::message_changes::uuid_text!(<$store>::BACKEND, "u.room_id"),
                        "MAX(r.name)",
                        "u.room_id".to_owned(),
                        "5 DESC, 2",
                    ),
                    domain::usage::UsageGroup::Agent => (
                        $crate::message_changes::uuid_text!(<$store>::BACKEND, "u.agent_id"),
                        "COALESCE(MAX(a.name), 'No agent') || ' (' || MAX(r.name) || ')'",
                        "u.agent_id, u.room_id".to_owned(),
                        "5 DESC, 2",
                    ),
                    domain::usage::UsageGroup::Model => {
                        ("u.provider || '/' || u.model", "u.model", "u.provider, u.model".to_owned(), "5 DESC, 2")
                    }
                };
                let visible = match scope {
                    $crate::UsageScope::Everything => "",
                    $crate::UsageScope::Person(_) => {
                        " AND u.room_id IN (SELECT room_id FROM room_members WHERE user_id = $3)"
                    }
                };
                let sql = format!(
                    "SELECT {key} AS key, {label} AS label, \
                     CAST(COALESCE(SUM(u.input_tokens), 0) AS BIGINT) AS input_tokens, \
                     CAST(COALESCE(SUM(u.output_tokens), 0) AS BIGINT) AS output_tokens, \
                     CAST(COALESCE(SUM(u.cost), 0) AS DOUBLE PRECISION) AS cost \
                     FROM usage_events u JOIN rooms r ON r.id = u.room_id LEFT JOIN agents a ON a.id = u.agent_id \
                     WHERE u.created_at >= $1 AND u.created_at < $2{visible} \
                     GROUP BY {group_by} ORDER BY {order} LIMIT {limit}",
                    limit = $crate::USAGE_REPORT_ROWS,
                );
                let mut query = sqlx::query_as::<_, $crate::rows::UsageTotalRow>(&sql).bind(range.0).bind(range.1);
                if let $crate::UsageScope::Person(user_id) = scope {
                    query = query.bind(user_id);
                }
                let rows = query.fetch_all(&self.pool).await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }
        }
    };
}

/// A UUID column as text in both databases (SQLite keeps UUIDs as 16-byte blobs).
macro_rules! uuid_text {
    ($backend:expr, $column:literal) => {
        match $backend {
            $crate::Backend::Sqlite => concat!(
                "CASE WHEN ",
                $column,
                " IS NULL THEN 'none' ELSE lower(",
                "substr(hex(",
                $column,
                "), 1, 8) || '-' || substr(hex(",
                $column,
                "), 9, 4) || '-' || ",
                "substr(hex(",
                $column,
                "), 13, 4) || '-' || substr(hex(",
                $column,
                "), 17, 4) || '-' || ",
                "substr(hex(",
                $column,
                "), 21)) END"
            ),
            $crate::Backend::Postgres => concat!("COALESCE(CAST(", $column, " AS TEXT), 'none')"),
        }
    };
}

pub(crate) use {impl_message_change_store, keep_shown_version, uuid_text};
