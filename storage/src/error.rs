use thiserror::Error;

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// What can go wrong in storage, in terms the service layer can act on.
#[derive(Debug, Error)]
pub enum StorageError {
    /// A row the operation needs does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The change would break a uniqueness rule (one running run per room, unique email, ...).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The change would exceed a limit on stored things.
    #[error("limit reached: {0}")]
    LimitReached(&'static str),
    /// The database could not be reached in time.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// The connection URL names no database this product supports.
    #[error("unsupported database URL: expected sqlite: or postgres://")]
    UnsupportedUrl,
    /// A stored value cannot be read back as the type it should have.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StorageError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed => {
                StorageError::Unavailable(error)
            }
            // The server going away: shutting down, restarting, or the connection lost
            // (SQLSTATE classes 57P "operator intervention" and 08 "connection exception").
            sqlx::Error::Database(ref db)
                if db.code().is_some_and(|code| code.starts_with("57P") || code.starts_with("08")) =>
            {
                StorageError::Unavailable(error)
            }
            other => StorageError::Database(other),
        }
    }
}

impl From<domain::UnknownVariant> for StorageError {
    fn from(error: domain::UnknownVariant) -> Self {
        StorageError::Corrupt(error.to_string())
    }
}

/// Turns the database refusing a duplicate under a unique index into `Conflict(message)`.
pub(crate) fn conflict_on_duplicate<T>(result: Result<T, sqlx::Error>, message: &'static str) -> Result<T> {
    match result {
        Err(sqlx::Error::Database(db)) if db.is_unique_violation() => Err(StorageError::Conflict(message)),
        other => Ok(other?),
    }
}
