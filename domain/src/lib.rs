//! The product's vocabulary, shared by the server and the browser.
//!
//! Nothing here may depend on a server-only crate: this crate is compiled to wasm.

pub mod accounts;
pub mod addresses;
pub mod control_plane;
pub mod error;
pub mod events;
pub mod persona_cards;
pub mod proposals;
pub mod rooms;
pub mod runs;
pub mod snapshot;

mod string_enum;
pub mod telegram;
pub mod transcripts;
pub mod turns;
pub mod usage;

pub use error::{ErrorBody, ErrorCode, PublicError};
pub use string_enum::UnknownVariant;

/// The product version shown in the footer and reported by the server.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
