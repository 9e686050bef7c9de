//! The [`ProposalStore`](crate::ProposalStore) methods, written once for both databases like
//! `portable.rs`.

macro_rules! proposal_columns {
    () => {
        "id, room_id, message_id, agent_id, agent_name, run_id, command, reason, preview_id, intent, operations, \
         risk, lane, rule_id, risk_reason, requires_structured_override, expires_at, state, error, decided_by, \
         decided_by_name, decided_at, task_id, task_state, path_written, result_summary, created_at, updated_at"
    };
}

macro_rules! impl_proposal_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::ProposalStore for $store {
            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn insert_proposal(&self, new: $crate::NewProposal) -> $crate::Result<domain::proposals::Proposal> {
                let now = $crate::now();
                let operations = serde_json::to_string(&new.operations)
                    .map_err(|error| $crate::StorageError::Corrupt(error.to_string()))?;
                sqlx::query_as::<_, $crate::rows::ProposalRow>(concat!(
                    "INSERT INTO proposals (id, room_id, message_id, agent_id, agent_name, run_id, command, reason, \
                     preview_id, intent, operations, risk, lane, rule_id, risk_reason, requires_structured_override, \
                     expires_at, state, error, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $20) \
                     RETURNING ",
                    $crate::proposals::proposal_columns!()
                ))
                .bind(uuid::Uuid::now_v7())
                .bind(new.room_id)
                .bind(new.message_id)
                .bind(new.agent_id)
                .bind(&new.agent_name)
                .bind(new.run_id)
                .bind(&new.command)
                .bind(&new.reason)
                .bind(&new.preview_id)
                .bind(&new.intent)
                .bind(operations)
                .bind(new.risk.map(|risk| risk.as_str()))
                .bind(new.lane.map(|lane| lane.as_str()))
                .bind(&new.rule_id)
                .bind(&new.risk_reason)
                .bind(new.requires_structured_override)
                .bind(new.expires_at)
                .bind(new.state.as_str())
                .bind(&new.error)
                .bind(now)
                .fetch_one(&self.pool)
                .await?
                .try_into()
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn get_proposal(
                &self,
                room_id: uuid::Uuid,
                proposal_id: uuid::Uuid,
            ) -> $crate::Result<Option<domain::proposals::Proposal>> {
                sqlx::query_as::<_, $crate::rows::ProposalRow>(concat!(
                    "SELECT ", $crate::proposals::proposal_columns!(), " FROM proposals WHERE room_id = $1 AND id = $2"
                ))
                .bind(room_id)
                .bind(proposal_id)
                .fetch_optional(&self.pool)
                .await?
                .map(TryInto::try_into)
                .transpose()
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn list_proposals(
                &self,
                room_id: uuid::Uuid,
                limit: i64,
            ) -> $crate::Result<Vec<domain::proposals::Proposal>> {
                let rows = sqlx::query_as::<_, $crate::rows::ProposalRow>(concat!(
                    "SELECT ", $crate::proposals::proposal_columns!(),
                    " FROM proposals WHERE room_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
                ))
                .bind(room_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                let mut proposals = rows.into_iter().map(TryInto::try_into).collect::<$crate::Result<Vec<_>>>()?;
                proposals.reverse();
                Ok(proposals)
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn count_open_proposals(
                &self,
                room_id: uuid::Uuid,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<i64> {
                Ok(sqlx::query_scalar::<_, i64>(
                    "SELECT COUNT(*) FROM proposals WHERE room_id = $1 AND state = 'pending' AND expires_at > $2",
                )
                .bind(room_id)
                .bind(now)
                .fetch_one(&self.pool)
                .await?)
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn decide_proposal(
                &self,
                proposal_id: uuid::Uuid,
                decision: $crate::ProposalDecisionRecord,
            ) -> $crate::Result<Option<domain::proposals::Proposal>> {
                let now = $crate::now();
                sqlx::query_as::<_, $crate::rows::ProposalRow>(concat!(
                    "UPDATE proposals SET state = $2, decided_by = $3, decided_by_name = $4, decided_at = $5, \
                     task_id = $6, task_state = $7, path_written = $8, updated_at = $5 \
                     WHERE id = $1 AND (state = 'pending' OR ($2 = 'confirmed' AND state = 'expired')) RETURNING ",
                    $crate::proposals::proposal_columns!()
                ))
                .bind(proposal_id)
                .bind(decision.state.as_str())
                .bind(decision.decided_by)
                .bind(&decision.decided_by_name)
                .bind(now)
                .bind(&decision.task_id)
                .bind(decision.task_state.map(|state| state.as_str()))
                .bind(&decision.path_written)
                .fetch_optional(&self.pool)
                .await?
                .map(TryInto::try_into)
                .transpose()
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn record_proposal_task(
                &self,
                proposal_id: uuid::Uuid,
                task_state: domain::control_plane::TaskState,
                result_summary: Option<String>,
            ) -> $crate::Result<domain::proposals::Proposal> {
                sqlx::query_as::<_, $crate::rows::ProposalRow>(concat!(
                    "UPDATE proposals SET task_state = $2, result_summary = COALESCE($3, result_summary), \
                     updated_at = $4 WHERE id = $1 RETURNING ",
                    $crate::proposals::proposal_columns!()
                ))
                .bind(proposal_id)
                .bind(task_state.as_str())
                .bind(result_summary)
                .bind($crate::now())
                .fetch_optional(&self.pool)
                .await?
                .ok_or($crate::StorageError::NotFound("proposal"))?
                .try_into()
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn expire_proposal(
                &self,
                proposal_id: uuid::Uuid,
            ) -> $crate::Result<Option<domain::proposals::Proposal>> {
                sqlx::query_as::<_, $crate::rows::ProposalRow>(concat!(
                    "UPDATE proposals SET state = 'expired', updated_at = $2 WHERE id = $1 AND state = 'pending' \
                     RETURNING ",
                    $crate::proposals::proposal_columns!()
                ))
                .bind(proposal_id)
                .bind($crate::now())
                .fetch_optional(&self.pool)
                .await?
                .map(TryInto::try_into)
                .transpose()
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn expire_proposals(
                &self,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<Vec<domain::proposals::Proposal>> {
                let rows = sqlx::query_as::<_, $crate::rows::ProposalRow>(concat!(
                    "UPDATE proposals SET state = 'expired', updated_at = $1 \
                     WHERE state = 'pending' AND expires_at <= $1 RETURNING ",
                    $crate::proposals::proposal_columns!()
                ))
                .bind(now)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn proposals_to_follow(&self, limit: i64) -> $crate::Result<Vec<domain::proposals::Proposal>> {
                let rows = sqlx::query_as::<_, $crate::rows::ProposalRow>(concat!(
                    "SELECT ", $crate::proposals::proposal_columns!(),
                    " FROM proposals WHERE state = 'confirmed' AND task_id IS NOT NULL \
                     AND (task_state IS NULL OR task_state NOT IN ('done', 'failed')) \
                     ORDER BY created_at LIMIT $1"
                ))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }
        }
    };
}

pub(crate) use {impl_proposal_store, proposal_columns};
