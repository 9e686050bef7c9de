//! One page per file.

pub mod control_plane;
pub mod home;
pub mod not_found;
pub mod room;
pub mod rooms;
