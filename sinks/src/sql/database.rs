//! Opening a database by URL, and the handle sinks and stores are made from.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::backend::{Pool, TxPlan};
use super::ident::Ident;
use super::sink::{DocumentSinkBuilder, RowSinkBuilder};
use super::store::SqlCheckpointStore;
use crate::Error;

/// Settings for [`Database::open_with`]; every one has a default.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sinks::DatabaseOptions;
///
/// let options = DatabaseOptions::new()
///     .checkpoint_table("crawl_checkpoints")
///     .retry_budget(Duration::from_secs(60));
/// # let _ = options;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct DatabaseOptions {
    checkpoint_table: String,
    retry_budget: Duration,
    busy_timeout: Duration,
    max_connections: u32,
    acquire_timeout: Duration,
}

impl Default for DatabaseOptions {
    fn default() -> Self {
        Self {
            checkpoint_table: "pipeline_checkpoints".to_owned(),
            retry_budget: Duration::from_secs(30),
            busy_timeout: Duration::from_secs(5),
            max_connections: 8,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

impl DatabaseOptions {
    /// The defaults: checkpoints in `pipeline_checkpoints`, a 30 s retry
    /// budget, a 5 s SQLite busy timeout, 8 PostgreSQL connections, a 10 s
    /// connection acquire timeout.
    pub fn new() -> Self {
        Self::default()
    }

    /// The table holding every collection's checkpoint (validated at open).
    pub fn checkpoint_table(mut self, name: impl Into<String>) -> Self {
        self.checkpoint_table = name.into();
        self
    }

    /// How long sinks keep retrying a batch that cannot commit before failing
    /// the pipeline (default 30 s; a sink can override it).
    pub fn retry_budget(mut self, budget: Duration) -> Self {
        self.retry_budget = budget;
        self
    }

    /// How long SQLite waits for a lock held by another connection (default 5 s).
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// PostgreSQL pool size (default 8). SQLite always has one writer connection.
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// How long to wait for a pooled connection, connecting included (default 10 s).
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) pool: Pool,
    pub(crate) checkpoints: Ident,
    pub(crate) retry_budget: Duration,
}

/// A SQLite or PostgreSQL database holding collections and their checkpoints.
///
/// Cheap to clone (a shared pool). Make a sink per collection with
/// [`documents`](Self::documents) or [`rows`](Self::rows), and the checkpoint
/// store with [`checkpoint_store`](Self::checkpoint_store); all of them use the
/// same checkpoint table, so a sink's transactional cursor is what the store loads.
///
/// SQLite is opened with WAL, `synchronous=NORMAL`, a busy timeout and a single
/// connection (SQLite has one writer at a time; collections sharing a file
/// take turns). PostgreSQL gets a pool.
#[derive(Debug, Clone)]
pub struct Database {
    pub(crate) inner: Arc<Inner>,
}

impl Database {
    /// Opens `url` with the default [`DatabaseOptions`]: `sqlite://path`
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
    /// # async fn main() -> Result<(), sinks::Error> {
    /// let db = sinks::Database::open("sqlite::memory:").await?;
    /// let store = db.checkpoint_store();
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "sqlite"))]
    /// # fn main() {}
    /// ```
    pub async fn open(url: &str) -> Result<Self, Error> {
        Self::open_with(url, DatabaseOptions::default()).await
    }

    /// Opens `url` (see [`open`](Self::open)) with `options`.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open), and [`Error::Identifier`] for a bad checkpoint table name.
    pub async fn open_with(url: &str, options: DatabaseOptions) -> Result<Self, Error> {
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
                    .busy_timeout(options.busy_timeout);
                let pool = SqlitePoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(options.acquire_timeout)
                    // An in-memory database lives as long as its connection.
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect_with(connect)
                    .await?;
                Self::from_sqlite_pool(pool, options).await
            }
            #[cfg(feature = "postgres")]
            "postgres" | "postgresql" => {
                use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
                use std::str::FromStr;
                let connect = PgConnectOptions::from_str(url).map_err(|e| Error::Url {
                    reason: e.to_string(),
                })?;
                let pool = PgPoolOptions::new()
                    .max_connections(options.max_connections)
                    .acquire_timeout(options.acquire_timeout)
                    .connect_with(connect)
                    .await?;
                Self::from_pg_pool(pool, options).await
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
    pub async fn from_sqlite_pool(pool: sqlx::SqlitePool, options: DatabaseOptions) -> Result<Self, Error> {
        Self::from_pool(Pool::Sqlite(pool), options).await
    }

    /// Uses an existing PostgreSQL pool.
    ///
    /// # Errors
    ///
    /// [`Error::Identifier`] for a bad checkpoint table name,
    /// [`Error::Database`] when the checkpoint table cannot be created.
    #[cfg(feature = "postgres")]
    pub async fn from_pg_pool(pool: sqlx::PgPool, options: DatabaseOptions) -> Result<Self, Error> {
        Self::from_pool(Pool::Postgres(pool), options).await
    }

    async fn from_pool(pool: Pool, options: DatabaseOptions) -> Result<Self, Error> {
        let checkpoints = Ident::new("checkpoint table", &options.checkpoint_table)?;
        let plan = TxPlan {
            ddl: vec![pool.dialect().create_checkpoints(&checkpoints)],
            ..TxPlan::default()
        };
        pool.run_tx(&plan).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                checkpoints,
                retry_budget: options.retry_budget,
            }),
        })
    }

    /// A sink writing JSON documents of `collection` to a table
    /// `key TEXT PRIMARY KEY, data, fetched_at` (`data` is JSON text on
    /// SQLite, JSONB on PostgreSQL). The table is named after the collection
    /// unless [`table`](DocumentSinkBuilder::table) says otherwise; the key is
    /// `/id` unless [`key_pointer`](DocumentSinkBuilder::key_pointer) or
    /// [`key_fn`](DocumentSinkBuilder::key_fn) says otherwise.
    pub fn documents(&self, collection: impl Into<String>) -> DocumentSinkBuilder {
        DocumentSinkBuilder::new(self.clone(), collection.into())
    }

    /// A sink writing `T`s of `collection` as typed rows: `key`, one column
    /// per [`column`](RowSinkBuilder::column), `fetched_at`. Each item is
    /// serialized (serde) to a JSON object whose fields fill the columns of
    /// the same name; the key is the field `key` unless
    /// [`key_field`](RowSinkBuilder::key_field) or
    /// [`key_fn`](RowSinkBuilder::key_fn) says otherwise.
    pub fn rows<T: Serialize + Send + 'static>(&self, collection: impl Into<String>) -> RowSinkBuilder<T> {
        RowSinkBuilder::new(self.clone(), collection.into())
    }

    /// The checkpoint store over this database's checkpoint table.
    pub fn checkpoint_store(&self) -> SqlCheckpointStore {
        SqlCheckpointStore::new(self.clone())
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
