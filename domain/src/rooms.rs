//! Rooms, agents and messages as they travel between server and browser.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Declares a string-backed enum with its wire name, `as_str` and `FromStr`, so storage and
/// the wire use the same spelling.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = crate::rooms::UnknownVariant;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(crate::rooms::UnknownVariant {
                        kind: stringify!($name),
                        value: other.to_owned(),
                    }),
                }
            }
        }
    };
}
pub(crate) use string_enum;

/// A stored string that names no variant of the enum it should decode into.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} value {value:?}")]
pub struct UnknownVariant {
    pub kind: &'static str,
    pub value: String,
}

string_enum! {
    /// Whether agents only answer people (`manual`) or may also talk among themselves (`auto`).
    RoomMode { Manual => "manual", Auto => "auto" }
}

string_enum! {
    /// Who wrote a message.
    SenderType { Human => "human", Agent => "agent", System => "system" }
}

string_enum! {
    /// Where a message is in its life.
    MessageStatus {
        /// Written in full.
        Complete => "complete",
        /// An agent is still producing it.
        Streaming => "streaming",
        /// The provider failed; the text so far is kept with an error.
        Failed => "failed",
        /// The server stopped while it was streaming; the text so far is kept.
        Interrupted => "interrupted",
        /// A person stopped the run while it was streaming; the text so far is kept.
        Stopped => "stopped",
    }
}

string_enum! {
    /// A member's role in a room.
    MemberRole { Owner => "owner", Member => "member", Viewer => "viewer" }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Room {
    pub id: Uuid,
    pub name: String,
    pub mode: RoomMode,
    pub owner_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    pub id: Uuid,
    pub room_id: Uuid,
    pub name: String,
    pub model: String,
    pub system_prompt: String,
    pub temperature: f64,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: Uuid,
    pub room_id: Uuid,
    pub sender_type: SenderType,
    pub sender_id: Option<Uuid>,
    pub sender_name: String,
    pub content: String,
    pub status: MessageStatus,
    pub tokens_in: Option<i64>,
    pub tokens_out: Option<i64>,
    /// True when the provider sent no usage and the token counts are estimates.
    pub usage_estimated: bool,
    pub latency_ms: Option<i64>,
    /// Time from the request to the provider until its first token.
    pub first_token_ms: Option<i64>,
    pub model: Option<String>,
    /// A readable reason when `status` is `failed`.
    pub error: Option<String>,
    /// Why this agent was chosen to speak.
    pub selection_reason: Option<String>,
    pub run_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomMember {
    pub id: Uuid,
    pub room_id: Uuid,
    pub user_id: Uuid,
    pub role: MemberRole,
}

/// One generation's token usage and cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageEvent {
    pub id: Uuid,
    pub room_id: Uuid,
    pub agent_id: Option<Uuid>,
    pub message_id: Option<Uuid>,
    pub run_id: Option<Uuid>,
    pub provider: String,
    pub model: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub estimated: bool,
    pub cost: f64,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_through_their_stored_names() {
        for status in MessageStatus::ALL {
            assert_eq!(status.as_str().parse::<MessageStatus>().unwrap(), *status);
            let json = serde_json::to_string(status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
        for mode in RoomMode::ALL {
            assert_eq!(mode.as_str().parse::<RoomMode>().unwrap(), *mode);
        }
    }

    #[test]
    fn unknown_stored_names_are_errors() {
        let err = "paused".parse::<MessageStatus>().unwrap_err();
        assert_eq!(err.kind, "MessageStatus");
        assert_eq!(err.value, "paused");
    }
}
