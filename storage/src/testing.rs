//! Fresh, migrated databases for tests: a new SQLite file, or a new PostgreSQL database on the
//! server named by `TEST_DATABASE_URL` (`make test` starts a private one).

use std::sync::Arc;

use sqlx::{Connection, Executor, PgConnection};
use tempfile::TempDir;

use crate::{DynStore, PoolLimits, PostgresStore, SqliteStore};

/// A database that lives as long as this value: the SQLite file's folder is removed on drop.
pub struct TestDatabase {
    pub store: DynStore,
    pub url: String,
    _folder: Option<TempDir>,
}

/// Opens a store on a new SQLite file in a temporary folder.
pub async fn fresh_sqlite() -> TestDatabase {
    let folder = tempfile::tempdir().expect("create a temporary folder");
    let url = format!("sqlite://{}?mode=rwc", folder.path().join("test.db").display());
    let store = SqliteStore::open(&url, PoolLimits::default()).await.expect("open the SQLite test database");
    TestDatabase { store: Arc::new(store), url, _folder: Some(folder) }
}

/// The URL of the PostgreSQL server tests use. Tests on PostgreSQL are part of the suite, not
/// optional: without a server they fail with this explanation rather than silently pass.
pub fn postgres_server_url() -> String {
    std::env::var("TEST_DATABASE_URL").expect(
        "TEST_DATABASE_URL is not set: run the tests with `make test`, which starts a private PostgreSQL, \
         or point TEST_DATABASE_URL at a server where the user may create databases",
    )
}

/// Creates a new, uniquely named database on the test server and opens a migrated store on it.
pub async fn fresh_postgres() -> TestDatabase {
    let server_url = postgres_server_url();
    let name = format!("test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&server_url).await.expect("connect to TEST_DATABASE_URL");
    admin.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("create a test database");
    admin.close().await.ok();
    let url = with_database(&server_url, &name);
    let limits = PoolLimits { max_connections: 5, ..PoolLimits::default() };
    let store = PostgresStore::open(&url, limits).await.expect("open the PostgreSQL test database");
    TestDatabase { store: Arc::new(store), url, _folder: None }
}

/// Replaces the database name in a PostgreSQL URL.
fn with_database(server_url: &str, database: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server_url, None),
    };
    let authority_start = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_or_adds_the_database_name() {
        assert_eq!(with_database("postgres://u@127.0.0.1:5433/postgres", "t1"), "postgres://u@127.0.0.1:5433/t1");
        assert_eq!(with_database("postgres://u@127.0.0.1:5433", "t1"), "postgres://u@127.0.0.1:5433/t1");
        assert_eq!(with_database("postgres://u@h/db?sslmode=disable", "t1"), "postgres://u@h/t1?sslmode=disable");
    }
}
