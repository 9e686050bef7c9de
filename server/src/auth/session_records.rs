//! Where sign-in sessions are kept: a table in the product's own database, SQLite or
//! PostgreSQL, through `tower-sessions`' sqlx stores.

use async_trait::async_trait;
use storage::DatabasePool;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

#[derive(Debug, Clone)]
pub enum SessionRecords {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl SessionRecords {
    /// The session table in the database behind `pool`, created when missing.
    pub async fn open(pool: DatabasePool) -> Result<Self, sqlx::Error> {
        let records = match pool {
            DatabasePool::Sqlite(pool) => SessionRecords::Sqlite(SqliteStore::new(pool)),
            DatabasePool::Postgres(pool) => SessionRecords::Postgres(PostgresStore::new(pool)),
        };
        match &records {
            SessionRecords::Sqlite(store) => store.migrate().await?,
            SessionRecords::Postgres(store) => store.migrate().await?,
        }
        Ok(records)
    }
}

#[async_trait]
impl SessionStore for SessionRecords {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            SessionRecords::Sqlite(store) => store.create(record).await,
            SessionRecords::Postgres(store) => store.create(record).await,
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            SessionRecords::Sqlite(store) => store.save(record).await,
            SessionRecords::Postgres(store) => store.save(record).await,
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            SessionRecords::Sqlite(store) => store.load(id).await,
            SessionRecords::Postgres(store) => store.load(id).await,
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            SessionRecords::Sqlite(store) => store.delete(id).await,
            SessionRecords::Postgres(store) => store.delete(id).await,
        }
    }
}

#[async_trait]
impl ExpiredDeletion for SessionRecords {
    async fn delete_expired(&self) -> session_store::Result<()> {
        match self {
            SessionRecords::Sqlite(store) => store.delete_expired().await,
            SessionRecords::Postgres(store) => store.delete_expired().await,
        }
    }
}
