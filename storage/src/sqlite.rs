//! The SQLite backend: one file, WAL journal, a busy timeout instead of immediate lock errors.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use crate::{Backend, PoolLimits, Result, StorageError};

#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub const BACKEND: Backend = Backend::Sqlite;

    fn database_pool(pool: &SqlitePool) -> crate::DatabasePool {
        crate::DatabasePool::Sqlite(pool.clone())
    }

    /// Opens (creating if the URL says `mode=rwc`) the database file and migrates it.
    pub async fn open(url: &str, limits: PoolLimits) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        if let Some(parent) = Path::new(options.get_filename()).parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|e| StorageError::Unavailable(sqlx::Error::Io(e)))?;
            }
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(limits.max_connections)
            .acquire_timeout(limits.acquire_timeout)
            .connect_with(options)
            .await?;
        sqlx::migrate!("../migrations/sqlite").run(&pool).await?;
        Ok(Self { pool })
    }
}

impl crate::portable::HasDatabase for SqliteStore {
    type Database = sqlx::Sqlite;
}

crate::accounts::impl_account_store!(SqliteStore);
crate::portable::impl_portable_store!(SqliteStore);
crate::proposals::impl_proposal_store!(SqliteStore);
crate::telegram::impl_telegram_store!(SqliteStore);
crate::message_changes::impl_message_change_store!(SqliteStore);
