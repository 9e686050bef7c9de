//! The PostgreSQL backend, for running at scale.

use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

use crate::{Backend, PoolLimits, Result};

#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    pub const BACKEND: Backend = Backend::Postgres;

    fn database_pool(pool: &PgPool) -> crate::DatabasePool {
        crate::DatabasePool::Postgres(pool.clone())
    }

    /// Connects and migrates.
    pub async fn open(url: &str, limits: PoolLimits) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(limits.max_connections)
            .acquire_timeout(limits.acquire_timeout)
            .connect(url)
            .await?;
        sqlx::migrate!("../migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }
}

impl crate::portable::HasDatabase for PostgresStore {
    type Database = sqlx::Postgres;
}

crate::accounts::impl_account_store!(PostgresStore);
crate::portable::impl_portable_store!(PostgresStore);
crate::proposals::impl_proposal_store!(PostgresStore);
crate::telegram::impl_telegram_store!(PostgresStore);
crate::message_changes::impl_message_change_store!(PostgresStore);
