//! The service layer. The REST handlers in `server` and the server functions in `app` both call
//! into it, so every rule is written once.

pub mod config;
pub mod context;
pub mod error;
pub mod events;
pub mod llm;
pub mod markdown;
pub mod replies;
pub mod rooms;
pub mod runs;
pub mod state;

pub use config::Config;
pub use error::{ServiceError, ServiceResult};
pub use state::AppState;
