//! One page per file.

pub mod control_plane;
pub mod home;
pub mod not_found;
pub mod room;
pub mod rooms;
pub mod run;
pub mod sign_in;
pub mod sign_up;
pub mod telegram;
pub mod tokens;
pub mod usage;
pub mod users;
