//! Row shapes as the database returns them, and their conversion into domain types.
//!
//! The same row structs decode on both backends: ids are UUIDs (BLOB on SQLite), times are
//! `DateTime<Utc>` (TEXT on SQLite), enums are their stored names.

use chrono::{DateTime, Utc};
use domain::accounts::{ApiToken, Member, Role};
use domain::rooms::{Agent, Message, Room, UsageEvent};
use domain::runs::Run;
use uuid::Uuid;

use crate::error::StorageError;

/// A stored user. Not a wire type: it carries the password hash.
#[derive(Clone, PartialEq)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    /// An argon2 PHC string; `None` for an account that cannot sign in with a password.
    pub password_hash: Option<String>,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: Uuid,
    email: String,
    name: String,
    password_hash: Option<String>,
    role: String,
    created_at: DateTime<Utc>,
}

impl TryFrom<UserRow> for User {
    type Error = StorageError;
    fn try_from(row: UserRow) -> Result<Self, StorageError> {
        Ok(User {
            id: row.id,
            email: row.email,
            name: row.name,
            password_hash: row.password_hash,
            role: row.role.parse()?,
            created_at: row.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ApiTokenRow {
    id: Uuid,
    name: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
}

impl TryFrom<ApiTokenRow> for ApiToken {
    type Error = StorageError;
    fn try_from(row: ApiTokenRow) -> Result<Self, StorageError> {
        Ok(ApiToken { id: row.id, name: row.name, created_at: row.created_at, last_used_at: row.last_used_at })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct MemberRow {
    user_id: Uuid,
    email: String,
    name: String,
    role: String,
}

impl TryFrom<MemberRow> for Member {
    type Error = StorageError;
    fn try_from(row: MemberRow) -> Result<Self, StorageError> {
        Ok(Member { user_id: row.user_id, email: row.email, name: row.name, role: row.role.parse()? })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct RoomRow {
    id: Uuid,
    name: String,
    mode: String,
    visibility: String,
    run_max_steps: i64,
    run_max_seconds: i64,
    run_budget_tokens: Option<i64>,
    owner_id: Option<Uuid>,
    created_at: DateTime<Utc>,
}

impl TryFrom<RoomRow> for Room {
    type Error = StorageError;
    fn try_from(row: RoomRow) -> Result<Self, StorageError> {
        Ok(Room {
            id: row.id,
            name: row.name,
            mode: row.mode.parse()?,
            visibility: row.visibility.parse()?,
            run_limits: domain::runs::RunLimits {
                max_steps: row.run_max_steps,
                max_seconds: row.run_max_seconds,
                budget_tokens: row.run_budget_tokens,
            },
            owner_id: row.owner_id,
            created_at: row.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AgentRow {
    id: Uuid,
    room_id: Uuid,
    name: String,
    model: String,
    system_prompt: String,
    temperature: f64,
    is_active: bool,
    tools: String,
    created_at: DateTime<Utc>,
}

/// How an agent's tools are stored: their names, comma-separated.
pub(crate) fn tools_text(tools: &[domain::proposals::AgentTool]) -> String {
    tools.iter().map(|tool| tool.as_str()).collect::<Vec<_>>().join(",")
}

impl TryFrom<AgentRow> for Agent {
    type Error = StorageError;
    fn try_from(row: AgentRow) -> Result<Self, StorageError> {
        Ok(Agent {
            id: row.id,
            room_id: row.room_id,
            name: row.name,
            model: row.model,
            system_prompt: row.system_prompt,
            temperature: row.temperature,
            is_active: row.is_active,
            tools: row.tools.split(',').filter(|name| !name.is_empty()).map(str::parse).collect::<Result<_, _>>()?,
            created_at: row.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct MessageRow {
    id: Uuid,
    room_id: Uuid,
    sender_type: String,
    sender_id: Option<Uuid>,
    sender_name: String,
    content: String,
    content_html: Option<String>,
    status: String,
    tokens_in: Option<i64>,
    tokens_out: Option<i64>,
    usage_estimated: bool,
    latency_ms: Option<i64>,
    first_token_ms: Option<i64>,
    model: Option<String>,
    error: Option<String>,
    selection_reason: Option<String>,
    run_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    alternatives: i64,
    alternative_index: i64,
    edited_at: Option<DateTime<Utc>>,
    deleted_at: Option<DateTime<Utc>>,
}

impl TryFrom<MessageRow> for Message {
    type Error = StorageError;
    fn try_from(row: MessageRow) -> Result<Self, StorageError> {
        Ok(Message {
            id: row.id,
            room_id: row.room_id,
            sender_type: row.sender_type.parse()?,
            sender_id: row.sender_id,
            sender_name: row.sender_name,
            content: row.content,
            content_html: row.content_html,
            status: row.status.parse()?,
            tokens_in: row.tokens_in,
            tokens_out: row.tokens_out,
            usage_estimated: row.usage_estimated,
            latency_ms: row.latency_ms,
            first_token_ms: row.first_token_ms,
            model: row.model,
            error: row.error,
            selection_reason: row.selection_reason,
            run_id: row.run_id,
            created_at: row.created_at,
            alternatives: row.alternatives,
            alternative_index: row.alternative_index,
            edited_at: row.edited_at,
            deleted_at: row.deleted_at,
        })
    }
}

/// A stored version of a regenerated message.
#[derive(sqlx::FromRow)]
pub(crate) struct AlternativeRow {
    pub content: String,
    pub content_html: Option<String>,
    pub status: String,
    pub tokens_in: Option<i64>,
    pub tokens_out: Option<i64>,
    pub usage_estimated: bool,
    pub latency_ms: Option<i64>,
    pub first_token_ms: Option<i64>,
    pub model: Option<String>,
    pub error: Option<String>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct UsageTotalRow {
    key: String,
    label: Option<String>,
    input_tokens: i64,
    output_tokens: i64,
    cost: f64,
}

impl From<UsageTotalRow> for domain::usage::UsageTotal {
    fn from(row: UsageTotalRow) -> Self {
        domain::usage::UsageTotal {
            label: row.label.unwrap_or_else(|| row.key.clone()),
            key: row.key,
            input_tokens: row.input_tokens,
            output_tokens: row.output_tokens,
            cost: row.cost,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct RunRow {
    id: Uuid,
    room_id: Uuid,
    status: String,
    max_steps: i64,
    max_seconds: i64,
    budget_tokens: Option<i64>,
    steps: i64,
    tokens_used: i64,
    started_at: DateTime<Utc>,
    stopped_at: Option<DateTime<Utc>>,
    stop_reason: Option<String>,
}

impl TryFrom<RunRow> for Run {
    type Error = StorageError;
    fn try_from(row: RunRow) -> Result<Self, StorageError> {
        Ok(Run {
            id: row.id,
            room_id: row.room_id,
            status: row.status.parse()?,
            max_steps: row.max_steps,
            max_seconds: row.max_seconds,
            budget_tokens: row.budget_tokens,
            steps: row.steps,
            tokens_used: row.tokens_used,
            started_at: row.started_at,
            stopped_at: row.stopped_at,
            stop_reason: row.stop_reason.map(|r| r.parse()).transpose()?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct UsageEventRow {
    id: Uuid,
    room_id: Uuid,
    agent_id: Option<Uuid>,
    message_id: Option<Uuid>,
    run_id: Option<Uuid>,
    provider: String,
    model: String,
    input_tokens: i64,
    output_tokens: i64,
    estimated: bool,
    cost: f64,
    user_id: Option<Uuid>,
    created_at: DateTime<Utc>,
}

impl TryFrom<UsageEventRow> for UsageEvent {
    type Error = StorageError;
    fn try_from(row: UsageEventRow) -> Result<Self, StorageError> {
        Ok(UsageEvent {
            id: row.id,
            room_id: row.room_id,
            agent_id: row.agent_id,
            message_id: row.message_id,
            run_id: row.run_id,
            provider: row.provider,
            model: row.model,
            input_tokens: row.input_tokens,
            output_tokens: row.output_tokens,
            estimated: row.estimated,
            cost: row.cost,
            user_id: row.user_id,
            created_at: row.created_at,
        })
    }
}

/// Converts a list of rows, failing on the first that cannot be read.
pub(crate) fn convert_all<R, T>(rows: Vec<R>) -> Result<Vec<T>, StorageError>
where
    T: TryFrom<R, Error = StorageError>,
{
    rows.into_iter().map(T::try_from).collect()
}

#[derive(sqlx::FromRow)]
pub(crate) struct ProposalRow {
    id: Uuid,
    room_id: Uuid,
    message_id: Option<Uuid>,
    agent_id: Option<Uuid>,
    agent_name: String,
    run_id: Option<Uuid>,
    command: String,
    reason: String,
    preview_id: Option<String>,
    intent: Option<String>,
    operations: String,
    risk: Option<String>,
    lane: Option<String>,
    rule_id: Option<String>,
    risk_reason: Option<String>,
    requires_structured_override: bool,
    expires_at: Option<DateTime<Utc>>,
    state: String,
    error: Option<String>,
    decided_by: Option<Uuid>,
    decided_by_name: Option<String>,
    decided_at: Option<DateTime<Utc>>,
    task_id: Option<String>,
    task_state: Option<String>,
    path_written: Option<String>,
    result_summary: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<ProposalRow> for domain::proposals::Proposal {
    type Error = StorageError;
    fn try_from(row: ProposalRow) -> Result<Self, StorageError> {
        let operations = serde_json::from_str(&row.operations)
            .map_err(|error| StorageError::Corrupt(format!("proposal {} operations: {error}", row.id)))?;
        Ok(domain::proposals::Proposal {
            id: row.id,
            room_id: row.room_id,
            message_id: row.message_id,
            agent_id: row.agent_id,
            agent_name: row.agent_name,
            run_id: row.run_id,
            command: row.command,
            reason: row.reason,
            preview_id: row.preview_id,
            intent: row.intent,
            operations,
            risk: row.risk.as_deref().map(str::parse).transpose()?,
            lane: row.lane.as_deref().map(str::parse).transpose()?,
            rule_id: row.rule_id,
            risk_reason: row.risk_reason,
            requires_structured_override: row.requires_structured_override,
            expires_at: row.expires_at,
            state: row.state.parse()?,
            error: row.error,
            decided_by: row.decided_by,
            decided_by_name: row.decided_by_name,
            decided_at: row.decided_at,
            task_id: row.task_id,
            task_state: row.task_state.as_deref().map(str::parse).transpose()?,
            path_written: row.path_written,
            result_summary: row.result_summary,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}
