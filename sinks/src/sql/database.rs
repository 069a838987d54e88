//! Opening a database by URL, and the handle sinks and stores are made from.

use std::sync::Arc;
use std::time::Duration;

use super::backend::{Pool, TxPlan};
use super::checkpoint_row;
use super::config::DatabaseConfig;
use super::ident::Ident;
use crate::Error;

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) pool: Pool,
    pub(crate) checkpoints: Ident,
    pub(crate) retry_budget: Duration,
    /// The SQLite lock file this database holds, while a guard keeps it.
    #[cfg(feature = "sqlite")]
    pub(crate) file_lock: std::sync::Mutex<std::sync::Weak<std::fs::File>>,
    /// Live tables this handle has created (or found), by their exact
    /// `CREATE TABLE IF NOT EXISTS` text: a sink opening one of them again
    /// (the next child of a child collection) skips the DDL transaction.
    pub(crate) created: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Tables' key types read or committed through this handle.
    pub(crate) key_types: std::sync::Mutex<std::collections::HashMap<String, super::key::KeyType>>,
    /// Inferred tables' column types as this handle's sinks found them,
    /// by table (see [`InferredTypes`]).
    pub(crate) inferred: std::sync::Mutex<std::collections::HashMap<String, InferredTypes>>,
}

/// The column types of one inferred table that this handle's sinks have
/// found or loaded, by lowercase column name: a sink inferring a column
/// another sink of the table (a sibling child collection's) inferred a moment
/// ago adopts that column's type instead of racing it with its own.
pub(crate) type InferredTypes =
    Arc<std::sync::Mutex<std::collections::HashMap<String, super::encode::ColumnType>>>;

/// A SQLite or PostgreSQL database holding collections and their checkpoints.
///
/// Cheap to clone (a shared pool). Make a sink per collection with
/// [`documents`](Self::documents) or [`rows`](Self::rows) (the pipeline
/// gives it the collection's name when it opens), the checkpoint store with
/// [`checkpoint_store`](Self::checkpoint_store), and take the collections'
/// locks with [`lock`](Self::lock) before crawling. All of them use the same
/// checkpoint table, so a sink's transactional cursor is what the store loads.
///
/// SQLite is opened with WAL, `synchronous=NORMAL`, a busy timeout and a single
/// connection (SQLite has one writer at a time; collections sharing a file
/// take turns). An in-memory SQLite database lives as long as that
/// connection: a transaction that fails in a way that leaves its state
/// unknown closes the connection, and with it such a database.
/// PostgreSQL gets a pool.
#[derive(Debug, Clone)]
pub struct Database {
    pub(crate) inner: Arc<Inner>,
}

impl Database {
    /// Opens `url` with the default [`DatabaseConfig`]: `sqlite://path`
    /// (created if missing), `sqlite::memory:`, or `postgres://…` /
    /// `postgresql://…`. Creates the checkpoint table if it is missing.
    ///
    /// # Errors
    ///
    /// [`Error::Url`] for an unknown scheme or unparsable URL,
    /// [`Error::Database`] when the database cannot be reached.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), crawlpipe_sinks::Error> {
    /// let db = crawlpipe_sinks::Database::open("sqlite::memory:").await?;
    /// let store = db.checkpoint_store();
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "sqlite"))]
    /// # fn main() {}
    /// ```
    pub async fn open(url: &str) -> Result<Self, Error> {
        Self::open_with(url, DatabaseConfig::default()).await
    }

    /// Opens `url` (see [`open`](Self::open)) with `options`.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open), and [`Error::Identifier`] for a bad checkpoint table name.
    pub async fn open_with(url: &str, config: DatabaseConfig) -> Result<Self, Error> {
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or_default();
        match scheme {
            #[cfg(feature = "sqlite")]
            "sqlite" => {
                use sqlx::sqlite::{
                    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
                };
                use std::str::FromStr;
                let connect = SqliteConnectOptions::from_str(url)
                    .map_err(|e| Error::Url {
                        reason: e.to_string(),
                    })?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(config.busy_timeout);
                let pool = SqlitePoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(config.acquire_timeout)
                    // An in-memory database lives as long as its connection.
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect_with(connect)
                    .await?;
                Self::from_sqlite_pool(pool, config).await
            }
            #[cfg(feature = "postgres")]
            "postgres" | "postgresql" => {
                use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
                use std::str::FromStr;
                let connect = PgConnectOptions::from_str(url).map_err(|e| Error::Url {
                    reason: e.to_string(),
                })?;
                let pool = PgPoolOptions::new()
                    .max_connections(config.max_connections)
                    .acquire_timeout(config.acquire_timeout)
                    .connect_with(connect)
                    .await?;
                Self::from_pg_pool(pool, config).await
            }
            _ => Err(Error::Url {
                reason: format!(
                    "scheme {scheme:?} is not supported (enabled: {})",
                    supported_schemes()
                ),
            }),
        }
    }

    /// Uses an existing SQLite pool. It should have one connection, WAL and
    /// `synchronous=NORMAL`, as [`open`](Self::open) sets up.
    ///
    /// # Errors
    ///
    /// [`Error::Identifier`] for a bad checkpoint table name,
    /// [`Error::Database`] when the checkpoint table cannot be created.
    #[cfg(feature = "sqlite")]
    pub async fn from_sqlite_pool(pool: sqlx::SqlitePool, config: DatabaseConfig) -> Result<Self, Error> {
        Self::from_pool(Pool::Sqlite(pool), config).await
    }

    /// Uses an existing PostgreSQL pool.
    ///
    /// # Errors
    ///
    /// [`Error::Identifier`] for a bad checkpoint table name,
    /// [`Error::Database`] when the checkpoint table cannot be created.
    #[cfg(feature = "postgres")]
    pub async fn from_pg_pool(pool: sqlx::PgPool, config: DatabaseConfig) -> Result<Self, Error> {
        Self::from_pool(Pool::Postgres(pool), config).await
    }

    async fn from_pool(pool: Pool, config: DatabaseConfig) -> Result<Self, Error> {
        let checkpoints = Ident::new("checkpoint table", &config.checkpoint_table)?;
        let plan = TxPlan {
            ddl: vec![
                checkpoint_row::create_table(pool.dialect(), &checkpoints),
                super::key_type_row::create_table(),
            ],
            ..TxPlan::default()
        };
        pool.run_tx(&plan, false).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                checkpoints,
                retry_budget: config.retry_budget,
                #[cfg(feature = "sqlite")]
                file_lock: std::sync::Mutex::new(std::sync::Weak::new()),
                created: std::sync::Mutex::default(),
                key_types: std::sync::Mutex::default(),
                inferred: std::sync::Mutex::default(),
            }),
        })
    }

    /// Whether a sink of this handle ran `create` (a live table's
    /// `CREATE TABLE IF NOT EXISTS`) and none failed a write since.
    pub(crate) fn table_known(&self, create: &str) -> bool {
        self.created().contains(create)
    }

    /// Records that `create` succeeded: the next sink opening that table skips it.
    pub(crate) fn remember_table(&self, create: String) {
        self.created().insert(create);
    }

    /// Forgets every created table, after a write failed: the table may be
    /// gone, and the next sink to open recreates it.
    pub(crate) fn forget_tables(&self) {
        self.created().clear();
    }

    /// `table`'s key type, if this handle has read or committed it.
    pub(crate) fn key_type(&self, table: &str) -> Option<super::key::KeyType> {
        self.key_types().get(table).copied()
    }

    /// Remembers `table`'s stored key type.
    pub(crate) fn remember_key_type(&self, table: &str, ty: super::key::KeyType) {
        self.key_types().insert(table.to_owned(), ty);
    }

    /// The inferred column types of `table` (see [`InferredTypes`]), with
    /// `stored` (the table's columns as its sink opened it) put over what
    /// was there: what is committed is what every sink must agree on.
    pub(crate) fn inferred_types(&self, table: &str, stored: &[super::columns::DocColumn]) -> InferredTypes {
        let shared = self
            .inner
            .inferred
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(table.to_owned())
            .or_default()
            .clone();
        let mut types = shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for c in stored {
            types.insert(c.name.as_str().to_ascii_lowercase(), c.ty);
        }
        drop(types);
        shared
    }

    fn key_types(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, super::key::KeyType>> {
        self.inner
            .key_types
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn created(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<String>> {
        self.inner
            .created
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.inner.pool.close().await;
    }

    /// Which backend this is: `"sqlite"` or `"postgres"`.
    pub fn backend_name(&self) -> &'static str {
        match self.inner.pool {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(_) => "sqlite",
            #[cfg(feature = "postgres")]
            Pool::Postgres(_) => "postgres",
        }
    }
}

fn supported_schemes() -> &'static str {
    match (cfg!(feature = "sqlite"), cfg!(feature = "postgres")) {
        (true, true) => "sqlite, postgres",
        (true, false) => "sqlite",
        _ => "postgres",
    }
}
