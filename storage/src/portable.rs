//! The [`Store`](crate::Store) methods whose SQL both SQLite and PostgreSQL understand.
//!
//! `impl_portable_store!` is expanded once per backend, so every query below is type-checked
//! against each database's driver. Placeholders are `$N`, which both accept. A backend type
//! must have a `pool` field and an inherent `backend()`.

macro_rules! room_columns {
    () => {
        "id, name, mode, visibility, run_max_steps, run_max_seconds, run_budget_tokens, owner_id, created_at"
    };
}
macro_rules! agent_columns {
    () => {
        "id, room_id, name, model, system_prompt, temperature, is_active, tools, created_at"
    };
}
macro_rules! message_columns {
    () => {
        "id, room_id, sender_type, sender_id, sender_name, content, content_html, status, tokens_in, tokens_out, \
         usage_estimated, latency_ms, first_token_ms, model, error, selection_reason, run_id, created_at, \
         alternatives, alternative_index, edited_at, deleted_at"
    };
}
macro_rules! run_columns {
    () => {
        "id, room_id, status, max_steps, max_seconds, budget_tokens, steps, tokens_used, started_at, \
         stopped_at, stop_reason"
    };
}
macro_rules! usage_columns {
    () => {
        "id, room_id, agent_id, message_id, run_id, provider, model, input_tokens, output_tokens, \
         estimated, cost, user_id, created_at"
    };
}

macro_rules! impl_portable_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::Store for $store {
            fn backend(&self) -> $crate::Backend {
                <$store>::BACKEND
            }

            fn pool(&self) -> $crate::DatabasePool {
                <$store>::database_pool(&self.pool)
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn ping(&self) -> $crate::Result<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn close(&self) {
                self.pool.close().await;
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn create_room(&self, new: $crate::NewRoom) -> $crate::Result<domain::rooms::Room> {
                let mut tx = self.pool.begin().await?;
                let room: domain::rooms::Room = sqlx::query_as::<_, $crate::rows::RoomRow>(concat!(
                    "INSERT INTO rooms (id, name, mode, visibility, owner_id, created_at, run_max_steps, run_max_seconds, \
                     run_budget_tokens) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     RETURNING ",
                    $crate::portable::room_columns!()
                ))
                .bind(uuid::Uuid::now_v7())
                .bind(&new.name)
                .bind(new.mode.as_str())
                .bind(new.visibility.as_str())
                .bind(new.owner_id)
                .bind($crate::now())
                .bind(new.run_limits.max_steps)
                .bind(new.run_limits.max_seconds)
                .bind(new.run_limits.budget_tokens)
                .fetch_one(&mut *tx)
                .await?
                .try_into()?;
                if let Some(owner) = new.owner_id {
                    sqlx::query("INSERT INTO room_members (id, room_id, user_id, role) VALUES ($1, $2, $3, 'owner')")
                        .bind(uuid::Uuid::now_v7())
                        .bind(room.id)
                        .bind(owner)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(room)
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn update_room(&self, room_id: uuid::Uuid, patch: $crate::RoomPatch) -> $crate::Result<domain::rooms::Room> {
                sqlx::query_as::<_, $crate::rows::RoomRow>(concat!(
                    "UPDATE rooms SET name = COALESCE($2, name), mode = COALESCE($3, mode), \
                     visibility = COALESCE($4, visibility), \
                     run_max_steps = CASE WHEN $5 THEN $6 ELSE run_max_steps END, \
                     run_max_seconds = CASE WHEN $5 THEN $7 ELSE run_max_seconds END, \
                     run_budget_tokens = CASE WHEN $5 THEN $8 ELSE run_budget_tokens END \
                     WHERE id = $1 RETURNING ",
                    $crate::portable::room_columns!()
                ))
                .bind(room_id)
                .bind(&patch.name)
                .bind(patch.mode.map(|m| m.as_str()))
                .bind(patch.visibility.map(|v| v.as_str()))
                .bind(patch.run_limits.is_some())
                .bind(patch.run_limits.map(|l| l.max_steps))
                .bind(patch.run_limits.map(|l| l.max_seconds))
                .bind(patch.run_limits.and_then(|l| l.budget_tokens))
                .fetch_optional(&self.pool)
                .await?
                .ok_or($crate::StorageError::NotFound("room"))?
                .try_into()
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn delete_room(&self, room_id: uuid::Uuid) -> $crate::Result<()> {
                let deleted = sqlx::query("DELETE FROM rooms WHERE id = $1").bind(room_id).execute(&self.pool).await?;
                if deleted.rows_affected() == 0 {
                    return Err($crate::StorageError::NotFound("room"));
                }
                Ok(())
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn get_room(&self, room_id: uuid::Uuid) -> $crate::Result<Option<domain::rooms::Room>> {
                sqlx::query_as::<_, $crate::rows::RoomRow>(concat!("SELECT ", $crate::portable::room_columns!(), " FROM rooms WHERE id = $1"))
                    .bind(room_id)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(TryInto::try_into)
                    .transpose()
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn list_rooms(&self, viewer: $crate::RoomViewer, limit: i64) -> $crate::Result<Vec<domain::rooms::Room>> {
                let query = match viewer {
                    $crate::RoomViewer::Everything => sqlx::query_as::<_, $crate::rows::RoomRow>(concat!(
                        "SELECT ", $crate::portable::room_columns!(), " FROM rooms ORDER BY created_at DESC, id DESC LIMIT $1"
                    ))
                    .bind(limit),
                    $crate::RoomViewer::Person(user_id) => sqlx::query_as::<_, $crate::rows::RoomRow>(concat!(
                        "SELECT ", $crate::portable::room_columns!(), " FROM rooms \
                         WHERE visibility IN ('public', 'demo') \
                            OR id IN (SELECT room_id FROM room_members WHERE user_id = $2) \
                         ORDER BY created_at DESC, id DESC LIMIT $1"
                    ))
                    .bind(limit)
                    .bind(user_id),
                    $crate::RoomViewer::Guest => sqlx::query_as::<_, $crate::rows::RoomRow>(concat!(
                        "SELECT ", $crate::portable::room_columns!(), " FROM rooms WHERE visibility = 'demo' \
                         ORDER BY created_at DESC, id DESC LIMIT $1"
                    ))
                    .bind(limit),
                };
                let rows = query.fetch_all(&self.pool).await?;
                $crate::rows::convert_all(rows)
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn room_activity(&self, viewer: $crate::RoomViewer) -> $crate::Result<Vec<$crate::RoomActivity>> {
                let query = match viewer {
                    $crate::RoomViewer::Everything => {
                        sqlx::query_as::<_, $crate::RoomActivity>(
                            "SELECT room_id, COUNT(*) AS messages, MAX(created_at) AS last_message_at FROM messages \
                             GROUP BY room_id",
                        )
                    }
                    $crate::RoomViewer::Person(user_id) => sqlx::query_as::<_, $crate::RoomActivity>(
                        "SELECT room_id, COUNT(*) AS messages, MAX(created_at) AS last_message_at FROM messages \
                         WHERE room_id IN (SELECT id FROM rooms WHERE visibility IN ('public', 'demo') \
                            OR id IN (SELECT room_id FROM room_members WHERE user_id = $1)) \
                         GROUP BY room_id",
                    )
                    .bind(user_id),
                    $crate::RoomViewer::Guest => sqlx::query_as::<_, $crate::RoomActivity>(
                        "SELECT room_id, COUNT(*) AS messages, MAX(created_at) AS last_message_at FROM messages \
                         WHERE room_id IN (SELECT id FROM rooms WHERE visibility = 'demo') GROUP BY room_id",
                    ),
                };
                Ok(query.fetch_all(&self.pool).await?)
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn create_agent(&self, new: $crate::NewAgent, limits: $crate::AgentLimits) -> $crate::Result<domain::rooms::Agent> {
                let mut tx = self.pool.begin().await?;
                lock_room(&mut *tx, new.room_id).await?;
                if count_agents(&mut *tx, new.room_id).await? >= limits.max_total {
                    return Err($crate::StorageError::LimitReached($crate::TOO_MANY_AGENTS));
                }
                if count_active_agents(&mut *tx, new.room_id).await? >= limits.max_active {
                    return Err($crate::StorageError::LimitReached($crate::TOO_MANY_ACTIVE_AGENTS));
                }
                let agent = sqlx::query_as::<_, $crate::rows::AgentRow>(concat!(
                    "INSERT INTO agents (id, room_id, name, model, system_prompt, temperature, is_active, tools, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, TRUE, $7, $8) RETURNING ", $crate::portable::agent_columns!()
                ))
                .bind(uuid::Uuid::now_v7())
                .bind(new.room_id)
                .bind(&new.name)
                .bind(&new.model)
                .bind(&new.system_prompt)
                .bind(new.temperature)
                .bind($crate::rows::tools_text(&new.tools))
                .bind($crate::now())
                .fetch_one(&mut *tx)
                .await;
                let agent: domain::rooms::Agent =
                    $crate::error::conflict_on_duplicate(agent, $crate::portable::DUPLICATE_AGENT_NAME)?.try_into()?;
                tx.commit().await?;
                Ok(agent)
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn get_agent(&self, room_id: uuid::Uuid, agent_id: uuid::Uuid) -> $crate::Result<Option<domain::rooms::Agent>> {
                sqlx::query_as::<_, $crate::rows::AgentRow>(concat!(
                    "SELECT ", $crate::portable::agent_columns!(), " FROM agents WHERE room_id = $1 AND id = $2"
                ))
                .bind(room_id)
                .bind(agent_id)
                .fetch_optional(&self.pool)
                .await?
                .map(TryInto::try_into)
                .transpose()
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn list_agents(&self, room_id: uuid::Uuid) -> $crate::Result<Vec<domain::rooms::Agent>> {
                let rows = sqlx::query_as::<_, $crate::rows::AgentRow>(concat!(
                    "SELECT ", $crate::portable::agent_columns!(), " FROM agents WHERE room_id = $1 ORDER BY id"
                ))
                .bind(room_id)
                .fetch_all(&self.pool)
                .await?;
                $crate::rows::convert_all(rows)
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn update_agent(
                &self,
                room_id: uuid::Uuid,
                agent_id: uuid::Uuid,
                patch: $crate::AgentPatch,
                max_active: i64,
            ) -> $crate::Result<domain::rooms::Agent> {
                let mut tx = self.pool.begin().await?;
                lock_room(&mut *tx, room_id).await?;
                let current: Option<bool> =
                    sqlx::query_scalar("SELECT is_active FROM agents WHERE room_id = $1 AND id = $2")
                        .bind(room_id)
                        .bind(agent_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some(was_active) = current else {
                    return Err($crate::StorageError::NotFound("agent"));
                };
                if patch.is_active == Some(true) && !was_active
                    && count_active_agents(&mut *tx, room_id).await? >= max_active
                {
                    return Err($crate::StorageError::LimitReached($crate::TOO_MANY_ACTIVE_AGENTS));
                }
                let agent = sqlx::query_as::<_, $crate::rows::AgentRow>(concat!(
                    "UPDATE agents SET name = COALESCE($3, name), model = COALESCE($4, model), \
                     system_prompt = COALESCE($5, system_prompt), temperature = COALESCE($6, temperature), \
                     is_active = COALESCE($7, is_active), tools = COALESCE($8, tools) \
                     WHERE room_id = $1 AND id = $2 RETURNING ",
                    $crate::portable::agent_columns!()
                ))
                .bind(room_id)
                .bind(agent_id)
                .bind(&patch.name)
                .bind(&patch.model)
                .bind(&patch.system_prompt)
                .bind(patch.temperature)
                .bind(patch.is_active)
                .bind(patch.tools.as_deref().map($crate::rows::tools_text))
                .fetch_one(&mut *tx)
                .await;
                let agent: domain::rooms::Agent =
                    $crate::error::conflict_on_duplicate(agent, $crate::portable::DUPLICATE_AGENT_NAME)?.try_into()?;
                tx.commit().await?;
                Ok(agent)
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn insert_message(&self, new: $crate::NewMessage) -> $crate::Result<domain::rooms::Message> {
                sqlx::query_as::<_, $crate::rows::MessageRow>(concat!(
                    "INSERT INTO messages (id, room_id, sender_type, sender_id, sender_name, content, status, \
                     model, selection_reason, run_id, created_at, content_html) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING ",
                    $crate::portable::message_columns!()
                ))
                .bind(uuid::Uuid::now_v7())
                .bind(new.room_id)
                .bind(new.sender_type.as_str())
                .bind(new.sender_id)
                .bind(&new.sender_name)
                .bind(&new.content)
                .bind(new.status.as_str())
                .bind(&new.model)
                .bind(&new.selection_reason)
                .bind(new.run_id)
                .bind($crate::now())
                .bind(&new.content_html)
                .fetch_one(&self.pool)
                .await?
                .try_into()
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn get_message(&self, message_id: uuid::Uuid) -> $crate::Result<Option<domain::rooms::Message>> {
                sqlx::query_as::<_, $crate::rows::MessageRow>(concat!(
                    "SELECT ", $crate::portable::message_columns!(), " FROM messages WHERE id = $1"
                ))
                .bind(message_id)
                .fetch_optional(&self.pool)
                .await?
                .map(TryInto::try_into)
                .transpose()
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn list_messages(
                &self,
                room_id: uuid::Uuid,
                before: Option<uuid::Uuid>,
                limit: i64,
            ) -> $crate::Result<domain::rooms::MessagePage> {
                // One extra row tells whether an older page exists.
                let query = match before {
                    Some(before) => sqlx::query_as::<_, $crate::rows::MessageRow>(concat!(
                        "SELECT ", $crate::portable::message_columns!(),
                        " FROM messages WHERE room_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
                    ))
                    .bind(room_id)
                    .bind(before)
                    .bind(limit + 1),
                    None => sqlx::query_as::<_, $crate::rows::MessageRow>(concat!(
                        "SELECT ", $crate::portable::message_columns!(), " FROM messages WHERE room_id = $1 ORDER BY id DESC LIMIT $2"
                    ))
                    .bind(room_id)
                    .bind(limit + 1),
                };
                let mut rows = query.fetch_all(&self.pool).await?;
                let has_older = rows.len() as i64 > limit;
                rows.truncate(limit.max(0) as usize);
                rows.reverse();
                let messages: Vec<domain::rooms::Message> = $crate::rows::convert_all(rows)?;
                let next_cursor = if has_older { messages.first().map(|m| m.id) } else { None };
                Ok(domain::rooms::MessagePage { messages, next_cursor })
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn save_streaming_text(&self, message_id: uuid::Uuid, content: &str) -> $crate::Result<()> {
                sqlx::query("UPDATE messages SET content = $2 WHERE id = $1 AND status = 'streaming'")
                    .bind(message_id)
                    .bind(content)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn finish_message(
                &self,
                message_id: uuid::Uuid,
                outcome: $crate::MessageOutcome,
            ) -> $crate::Result<domain::rooms::Message> {
                sqlx::query_as::<_, $crate::rows::MessageRow>(concat!(
                    "UPDATE messages SET status = $2, content = $3, tokens_in = $4, tokens_out = $5, \
                     usage_estimated = $6, latency_ms = $7, first_token_ms = $8, error = $9, content_html = $10 \
                     WHERE id = $1 RETURNING ",
                    $crate::portable::message_columns!()
                ))
                .bind(message_id)
                .bind(outcome.status.as_str())
                .bind(&outcome.content)
                .bind(outcome.tokens_in)
                .bind(outcome.tokens_out)
                .bind(outcome.usage_estimated)
                .bind(outcome.latency_ms)
                .bind(outcome.first_token_ms)
                .bind(&outcome.error)
                .bind(&outcome.content_html)
                .fetch_optional(&self.pool)
                .await?
                .ok_or($crate::StorageError::NotFound("message"))?
                .try_into()
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn last_agent_speaker(&self, room_id: uuid::Uuid) -> $crate::Result<Option<uuid::Uuid>> {
                Ok(sqlx::query_scalar::<_, Option<uuid::Uuid>>(
                    "SELECT sender_id FROM messages WHERE room_id = $1 AND sender_type = 'agent' \
                     ORDER BY id DESC LIMIT 1",
                )
                .bind(room_id)
                .fetch_optional(&self.pool)
                .await?
                .flatten())
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn interrupt_streaming_messages(&self) -> $crate::Result<u64> {
                let result = sqlx::query(
                    "UPDATE messages SET status = 'interrupted', \
                     error = COALESCE(error, 'The server stopped while this message was being written.') \
                     WHERE status = 'streaming'",
                )
                .execute(&self.pool)
                .await?;
                Ok(result.rows_affected())
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn interrupt_streaming_messages_of(
                &self,
                room_id: uuid::Uuid,
                run_id: Option<uuid::Uuid>,
            ) -> $crate::Result<Vec<domain::rooms::Message>> {
                let rows = sqlx::query_as::<_, $crate::rows::MessageRow>(concat!(
                    "UPDATE messages SET status = 'interrupted', \
                     error = COALESCE(error, 'The server writing this message stopped; another one carries on.') \
                     WHERE room_id = $1 AND status = 'streaming' \
                     AND ($2 IS NULL OR run_id = $2) RETURNING ",
                    $crate::portable::message_columns!()
                ))
                .bind(room_id)
                .bind(run_id)
                .fetch_all(&self.pool)
                .await?;
                $crate::rows::convert_all(rows)
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn rooms_with_streaming_messages(&self, limit: i64) -> $crate::Result<Vec<uuid::Uuid>> {
                Ok(sqlx::query_scalar::<_, uuid::Uuid>(
                    "SELECT DISTINCT room_id FROM messages WHERE status = 'streaming' LIMIT $1",
                )
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn run_started_by(&self, run_id: uuid::Uuid) -> $crate::Result<Option<uuid::Uuid>> {
                Ok(sqlx::query_scalar::<_, Option<uuid::Uuid>>("SELECT started_by FROM runs WHERE id = $1")
                    .bind(run_id)
                    .fetch_optional(&self.pool)
                    .await?
                    .flatten())
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn list_running_runs(&self, limit: i64) -> $crate::Result<Vec<domain::runs::Run>> {
                let rows = sqlx::query_as::<_, $crate::rows::RunRow>(concat!(
                    "SELECT ", $crate::portable::run_columns!(),
                    " FROM runs WHERE status = 'running' ORDER BY started_at, id LIMIT $1"
                ))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                $crate::rows::convert_all(rows)
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn create_run(&self, new: $crate::NewRun) -> $crate::Result<domain::runs::Run> {
                let result = sqlx::query_as::<_, $crate::rows::RunRow>(concat!(
                    "INSERT INTO runs (id, room_id, status, max_steps, max_seconds, budget_tokens, steps, tokens_used, \
                     started_at, started_by) VALUES ($1, $2, 'running', $3, $4, $5, 0, 0, $6, $7) RETURNING ",
                    $crate::portable::run_columns!()
                ))
                .bind(uuid::Uuid::now_v7())
                .bind(new.room_id)
                .bind(new.max_steps)
                .bind(new.max_seconds)
                .bind(new.budget_tokens)
                .bind($crate::now())
                .bind(new.started_by)
                .fetch_one(&self.pool)
                .await;
                $crate::error::conflict_on_duplicate(result, "a run is already active in this room")?.try_into()
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn get_run(&self, room_id: uuid::Uuid, run_id: uuid::Uuid) -> $crate::Result<Option<domain::runs::Run>> {
                sqlx::query_as::<_, $crate::rows::RunRow>(concat!(
                    "SELECT ", $crate::portable::run_columns!(), " FROM runs WHERE room_id = $1 AND id = $2"
                ))
                .bind(room_id)
                .bind(run_id)
                .fetch_optional(&self.pool)
                .await?
                .map(TryInto::try_into)
                .transpose()
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn list_runs(&self, room_id: uuid::Uuid, limit: i64) -> $crate::Result<Vec<domain::runs::Run>> {
                let rows = sqlx::query_as::<_, $crate::rows::RunRow>(concat!(
                    "SELECT ", $crate::portable::run_columns!(), " FROM runs WHERE room_id = $1 ORDER BY started_at DESC, id DESC LIMIT $2"
                ))
                .bind(room_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                $crate::rows::convert_all(rows)
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn run_messages(
                &self,
                room_id: uuid::Uuid,
                run_id: uuid::Uuid,
                limit: i64,
            ) -> $crate::Result<Vec<domain::rooms::Message>> {
                let rows = sqlx::query_as::<_, $crate::rows::MessageRow>(concat!(
                    "SELECT ", $crate::portable::message_columns!(),
                    " FROM messages WHERE run_id = $1 AND room_id = $2 ORDER BY id LIMIT $3"
                ))
                .bind(run_id)
                .bind(room_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                $crate::rows::convert_all(rows)
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn running_run(&self, room_id: uuid::Uuid) -> $crate::Result<Option<domain::runs::Run>> {
                sqlx::query_as::<_, $crate::rows::RunRow>(concat!(
                    "SELECT ", $crate::portable::run_columns!(), " FROM runs WHERE room_id = $1 AND status = 'running'"
                ))
                .bind(room_id)
                .fetch_optional(&self.pool)
                .await?
                .map(TryInto::try_into)
                .transpose()
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn count_running_runs_started_by(&self, user_id: uuid::Uuid) -> $crate::Result<i64> {
                Ok(sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM runs WHERE started_by = $1 AND status = 'running'")
                    .bind(user_id)
                    .fetch_one(&self.pool)
                    .await?)
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn record_run_progress(&self, run_id: uuid::Uuid, steps: i64, tokens_used: i64) -> $crate::Result<()> {
                sqlx::query("UPDATE runs SET steps = $2, tokens_used = $3 WHERE id = $1")
                    .bind(run_id)
                    .bind(steps)
                    .bind(tokens_used)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn finish_run(
                &self,
                run_id: uuid::Uuid,
                status: domain::runs::RunStatus,
                reason: domain::runs::StopReason,
            ) -> $crate::Result<Option<domain::runs::Run>> {
                sqlx::query_as::<_, $crate::rows::RunRow>(concat!(
                    "UPDATE runs SET status = $2, stop_reason = $3, stopped_at = $4 \
                     WHERE id = $1 AND status = 'running' RETURNING ",
                    $crate::portable::run_columns!()
                ))
                .bind(run_id)
                .bind(status.as_str())
                .bind(reason.as_str())
                .bind($crate::now())
                .fetch_optional(&self.pool)
                .await?
                .map(TryInto::try_into)
                .transpose()
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn close_running_runs(
                &self,
                status: domain::runs::RunStatus,
                reason: domain::runs::StopReason,
            ) -> $crate::Result<Vec<domain::runs::Run>> {
                let rows = sqlx::query_as::<_, $crate::rows::RunRow>(concat!(
                    "UPDATE runs SET status = $1, stop_reason = $2, stopped_at = $3 WHERE status = 'running' RETURNING ",
                    $crate::portable::run_columns!()
                ))
                .bind(status.as_str())
                .bind(reason.as_str())
                .bind($crate::now())
                .fetch_all(&self.pool)
                .await?;
                $crate::rows::convert_all(rows)
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn insert_usage_event(&self, new: $crate::NewUsageEvent) -> $crate::Result<domain::rooms::UsageEvent> {
                sqlx::query_as::<_, $crate::rows::UsageEventRow>(concat!(
                    "INSERT INTO usage_events (id, room_id, agent_id, message_id, run_id, provider, model, \
                     input_tokens, output_tokens, estimated, cost, user_id, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING ",
                    $crate::portable::usage_columns!()
                ))
                .bind(uuid::Uuid::now_v7())
                .bind(new.room_id)
                .bind(new.agent_id)
                .bind(new.message_id)
                .bind(new.run_id)
                .bind(&new.provider)
                .bind(&new.model)
                .bind(new.input_tokens)
                .bind(new.output_tokens)
                .bind(new.estimated)
                .bind(new.cost)
                .bind(new.user_id)
                .bind(chrono::SubsecRound::trunc_subsecs(new.created_at, 3))
                .fetch_one(&self.pool)
                .await?
                .try_into()
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn list_usage_events(&self, room_id: uuid::Uuid) -> $crate::Result<Vec<domain::rooms::UsageEvent>> {
                let rows = sqlx::query_as::<_, $crate::rows::UsageEventRow>(concat!(
                    "SELECT ", $crate::portable::usage_columns!(), " FROM usage_events WHERE room_id = $1 ORDER BY id"
                ))
                .bind(room_id)
                .fetch_all(&self.pool)
                .await?;
                $crate::rows::convert_all(rows)
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn tokens_used_by_since(
                &self,
                user_id: uuid::Uuid,
                since: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<i64> {
                Ok(sqlx::query_scalar::<_, i64>(
                    "SELECT CAST(COALESCE(SUM(input_tokens + output_tokens), 0) AS BIGINT) FROM usage_events \
                     WHERE user_id = $1 AND created_at >= $2 AND provider <> 'demo'",
                )
                .bind(user_id)
                .bind(since)
                .fetch_one(&self.pool)
                .await?)
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn tokens_used_by_guests_since(&self, since: chrono::DateTime<chrono::Utc>) -> $crate::Result<i64> {
                Ok(sqlx::query_scalar::<_, i64>(
                    "SELECT CAST(COALESCE(SUM(input_tokens + output_tokens), 0) AS BIGINT) FROM usage_events \
                     WHERE user_id IS NULL AND created_at >= $1 AND provider <> 'demo'",
                )
                .bind(since)
                .fetch_one(&self.pool)
                .await?)
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn run_cost(&self, run_id: uuid::Uuid) -> $crate::Result<f64> {
                Ok(sqlx::query_scalar::<_, f64>(
                    "SELECT CAST(COALESCE(SUM(cost), 0) AS DOUBLE PRECISION) FROM usage_events WHERE run_id = $1",
                )
                .bind(run_id)
                .fetch_one(&self.pool)
                .await?)
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn telemetry_anchor(&self, log: &str) -> $crate::Result<Option<(i64, String)>> {
                Ok(sqlx::query_as::<_, (i64, String)>("SELECT seq, hash FROM telemetry_anchors WHERE log = $1")
                    .bind(log)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn keep_telemetry_anchor(&self, log: &str, seq: i64, hash: &str) -> $crate::Result<()> {
                sqlx::query(
                    "INSERT INTO telemetry_anchors (log, seq, hash, updated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (log) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, \
                     updated_at = excluded.updated_at",
                )
                .bind(log)
                .bind(seq)
                .bind(hash)
                .bind($crate::now())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn server_key(&self, name: &str, fresh: &str) -> $crate::Result<String> {
                sqlx::query(
                    "INSERT INTO server_keys (name, value, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(name)
                .bind(fresh)
                .bind($crate::now())
                .execute(&self.pool)
                .await?;
                Ok(sqlx::query_scalar::<_, String>("SELECT value FROM server_keys WHERE name = $1")
                    .bind(name)
                    .fetch_one(&self.pool)
                    .await?)
            }
        }

        /// Serialises changes to one room's agents: the update takes the room row's write lock
        /// on PostgreSQL and the database write lock on SQLite.
        async fn lock_room<'c, E>(executor: E, room_id: uuid::Uuid) -> $crate::Result<()>
        where
            E: sqlx::Executor<'c, Database = <$store as $crate::portable::HasDatabase>::Database>,
        {
            let locked = sqlx::query("UPDATE rooms SET name = name WHERE id = $1")
                .bind(room_id)
                .execute(executor)
                .await?;
            if locked.rows_affected() == 0 {
                return Err($crate::StorageError::NotFound("room"));
            }
            Ok(())
        }

        async fn count_agents<'c, E>(executor: E, room_id: uuid::Uuid) -> $crate::Result<i64>
        where
            E: sqlx::Executor<'c, Database = <$store as $crate::portable::HasDatabase>::Database>,
        {
            Ok(sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM agents WHERE room_id = $1")
                .bind(room_id)
                .fetch_one(executor)
                .await?)
        }

        async fn count_active_agents<'c, E>(executor: E, room_id: uuid::Uuid) -> $crate::Result<i64>
        where
            E: sqlx::Executor<'c, Database = <$store as $crate::portable::HasDatabase>::Database>,
        {
            Ok(sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM agents WHERE room_id = $1 AND is_active")
                .bind(room_id)
                .fetch_one(executor)
                .await?)
        }
    };
}

/// What storage says when two agents of a room would share a name.
pub(crate) const DUPLICATE_AGENT_NAME: &str = "the room already has an agent with this name";

pub(crate) use {agent_columns, impl_portable_store, message_columns, room_columns, run_columns, usage_columns};

/// Names the sqlx database a store type talks to, so the shared helpers can be typed per backend.
pub(crate) trait HasDatabase {
    type Database: sqlx::Database;
}
