//! How room settings read in forms and lists.

use domain::rooms::{MemberRole, RoomMode, RoomVisibility};

/// A visibility with what it means, for choosing one.
pub fn visibility_choice(visibility: RoomVisibility) -> &'static str {
    match visibility {
        RoomVisibility::Private => "private — members only",
        RoomVisibility::Public => "public — every signed-in person reads",
        RoomVisibility::Demo => "demo — guests read too",
    }
}

/// A mode with what it means, for choosing one.
pub fn mode_choice(mode: RoomMode) -> &'static str {
    match mode {
        RoomMode::Manual => "manual — agents answer people",
        RoomMode::Auto => "auto — agents may also talk among themselves",
    }
}

/// A room role with what it allows, for choosing one.
pub fn member_role_choice(role: MemberRole) -> &'static str {
    match role {
        MemberRole::Owner => "owner — manages the room",
        MemberRole::Member => "member — writes and runs",
        MemberRole::Viewer => "viewer — reads",
    }
}
