//! The control plane's Telegram channel: linking a chat to a person, and what the bot keeps of
//! the previews it showed there.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::string_enum::string_enum;

/// How long a link code may be sent to the bot.
pub const LINK_CODE_TTL_SECONDS: i64 = 600;

/// `POST /api/telegram/link-code`: a one-time code to send to the bot as `/link <code>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LinkCode {
    pub code: String,
    pub expires_at: DateTime<Utc>,
}

/// A Telegram chat bound to the person who linked it (`GET /api/telegram/links`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TelegramLink {
    pub chat_id: i64,
    /// The chat's name as Telegram gave it when it was linked.
    pub chat_title: String,
    pub linked_at: DateTime<Utc>,
}

string_enum! {
    /// Where a preview shown in a chat is in its life.
    ChatPreviewState {
        /// Shown with its buttons; waiting for the person until it expires.
        Pending => "pending",
        /// Confirmed: the task file is written and the chat follows the task.
        Confirmed => "confirmed",
        /// The person cancelled it; nothing was written.
        Cancelled => "cancelled",
        /// Its time ran out before a confirm.
        Expired => "expired",
    }
}

/// A preview the bot showed in a chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatPreview {
    pub chat_id: i64,
    /// The bot's message that shows the preview.
    pub message_id: i64,
    pub preview_id: String,
    pub user_id: Uuid,
    pub session_id: String,
    /// The message's text as first shown.
    pub summary: String,
    pub expires_at: DateTime<Utc>,
    pub state: ChatPreviewState,
    pub task_id: Option<String>,
    /// The task state the chat was last told of.
    pub notified_state: Option<crate::control_plane::TaskState>,
}
