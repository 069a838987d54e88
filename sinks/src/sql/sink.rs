//! The SQL sink: one transaction per batch with the batch's checkpoint, and
//! staging tables activated when a run completes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use pipeline_core::{Cursor, Outcome, Sink, SinkError, State};
use serde::Serialize;
use serde_json::Value;

use super::backend::{CheckpointRow, TxPlan};
use super::database::Database;
use super::dialect::{Dialect, TableShape};
use super::encode::{Batch, ColumnType, Documents, EncodeBatch, KeySpec, Rows};
use super::ident::Ident;
use super::retry::commit_with_retry;
use super::store::{decode, unix_millis};
use crate::Error;

/// Settings shared by both builders.
#[derive(Debug)]
struct Common {
    db: Database,
    collection: String,
    table: Option<String>,
    staging: bool,
    fresh: bool,
    retry_budget: Option<Duration>,
}

macro_rules! common_setters {
    () => {
        /// The table to write (default: the collection's name, which must then
        /// be a valid identifier).
        pub fn table(mut self, name: impl Into<String>) -> Self {
            self.common.table = Some(name.into());
            self
        }

        /// Staging mode: write to `<table>__staging`; a completed run replaces
        /// the live table by it in one transaction (readers see the old or
        /// the new table, never a half), a failed or cancelled run leaves the
        /// live table as it was and keeps staging for the resume.
        ///
        /// Whether a run resumes is read from the checkpoint table when the
        /// sink is built: a stored cursor keeps the staging table (the run is
        /// expected to resume from that cursor); no cursor empties it.
        pub fn staging(mut self, on: bool) -> Self {
            self.common.staging = on;
            self
        }

        /// Starts over: forgets the stored cursor (and in staging mode empties
        /// the staging table) when the sink is built. Use it for a pipeline
        /// that starts from the first page although a checkpoint exists.
        pub fn fresh(mut self, on: bool) -> Self {
            self.common.fresh = on;
            self
        }

        /// How long a batch that cannot commit is retried before the pipeline
        /// fails (default: the database's, 30 s unless set in [`DatabaseOptions`](crate::DatabaseOptions)).
        pub fn retry_budget(mut self, budget: Duration) -> Self {
            self.common.retry_budget = Some(budget);
            self
        }
    };
}

/// Builds a [`SqlSink`] of JSON documents; from [`Database::documents`].
#[must_use = "a builder does nothing until built"]
#[derive(Debug)]
pub struct DocumentSinkBuilder {
    common: Common,
    key: KeySpec<Value>,
}

impl DocumentSinkBuilder {
    pub(crate) fn new(db: Database, collection: String) -> Self {
        Self {
            common: Common::new(db, collection),
            key: KeySpec::Pointer("/id".to_owned()),
        }
    }

    common_setters!();

    /// Takes the key at this JSON pointer (RFC 6901, e.g. `/id` or
    /// `/meta/uuid`). A string is the key as is; a number or boolean its JSON
    /// text; a missing, null, array or object value fails the batch with
    /// [`SinkError::Encode`] naming the collection.
    pub fn key_pointer(mut self, pointer: impl Into<String>) -> Self {
        self.key = KeySpec::Pointer(pointer.into());
        self
    }

    /// Takes the key from a closure; `None` fails the batch with [`SinkError::Encode`].
    pub fn key_fn(mut self, f: impl Fn(&Value) -> Option<String> + Send + Sync + 'static) -> Self {
        self.key = KeySpec::Fn(Box::new(f));
        self
    }

    /// Validates names, creates the tables if missing, prepares staging.
    ///
    /// # Errors
    ///
    /// [`Error::Identifier`] or [`Error::Config`] for a bad name or key
    /// pointer (nothing is touched then); [`Error::Config`] when staging
    /// cannot resume (a stored cursor but no staging table, or a corrupt
    /// checkpoint: use [`fresh`](Self::fresh)); [`Error::Database`].
    pub async fn build(self) -> Result<SqlSink<Value>, Error> {
        check_pointer(&self.common.collection, &self.key)?;
        let data = Ident::new("column", "data")?;
        let shape = TableShape {
            columns: vec![(data, ColumnType::Json, true)],
        };
        let key = self.key;
        self.common.build(shape, Box::new(Documents { key })).await
    }
}

/// Builds a [`SqlSink`] of typed rows; from [`Database::rows`].
#[must_use = "a builder does nothing until built"]
#[derive(Debug)]
pub struct RowSinkBuilder<T> {
    common: Common,
    key: KeySpec<T>,
    columns: Vec<(String, ColumnType)>,
}

impl<T: Serialize + Send + 'static> RowSinkBuilder<T> {
    pub(crate) fn new(db: Database, collection: String) -> Self {
        Self {
            common: Common::new(db, collection),
            key: KeySpec::Pointer("/key".to_owned()),
            columns: Vec::new(),
        }
    }

    common_setters!();

    /// Takes the key from this top-level field of the serialized item (default `key`).
    pub fn key_field(mut self, field: &str) -> Self {
        self.key = KeySpec::Pointer(format!("/{}", field.replace('~', "~0").replace('/', "~1")));
        self
    }

    /// Takes the key at this JSON pointer into the serialized item.
    pub fn key_pointer(mut self, pointer: impl Into<String>) -> Self {
        self.key = KeySpec::Pointer(pointer.into());
        self
    }

    /// Takes the key from a closure; `None` fails the batch with [`SinkError::Encode`].
    pub fn key_fn(mut self, f: impl Fn(&T) -> Option<String> + Send + Sync + 'static) -> Self {
        self.key = KeySpec::Fn(Box::new(f));
        self
    }

    /// Adds a column, filled from the serialized field of the same name
    /// (missing or null: SQL NULL). `key` and `fetched_at` are reserved.
    pub fn column(mut self, name: impl Into<String>, ty: ColumnType) -> Self {
        self.columns.push((name.into(), ty));
        self
    }

    /// Adds several columns (see [`column`](Self::column)).
    pub fn columns<N: Into<String>>(mut self, columns: impl IntoIterator<Item = (N, ColumnType)>) -> Self {
        self.columns
            .extend(columns.into_iter().map(|(n, t)| (n.into(), t)));
        self
    }

    /// Validates names, creates the tables if missing, prepares staging.
    ///
    /// # Errors
    ///
    /// As [`DocumentSinkBuilder::build`], and [`Error::Identifier`] or
    /// [`Error::Config`] for a bad, reserved or repeated column name.
    pub async fn build(self) -> Result<SqlSink<T>, Error> {
        check_pointer(&self.common.collection, &self.key)?;
        let collection = &self.common.collection;
        let mut seen = std::collections::HashSet::new();
        let mut columns = Vec::with_capacity(self.columns.len());
        for (name, ty) in &self.columns {
            let ident = Ident::new("column", name)?;
            let lower = name.to_ascii_lowercase();
            if lower == "key" || lower == "fetched_at" {
                return Err(config(collection, format!("column name {name:?} is reserved")));
            }
            if !seen.insert(lower) {
                return Err(config(collection, format!("column {name:?} is given twice")));
            }
            columns.push((ident, *ty, false));
        }
        let shape = TableShape { columns };
        let encoder = Rows {
            key: self.key,
            columns: self.columns,
        };
        self.common.build(shape, Box::new(encoder)).await
    }
}

fn config(collection: &str, reason: String) -> Error {
    Error::Config {
        collection: collection.to_owned(),
        reason,
    }
}

fn check_pointer<T>(collection: &str, key: &KeySpec<T>) -> Result<(), Error> {
    match key {
        KeySpec::Pointer(p) if !p.starts_with('/') => Err(config(
            collection,
            format!("key pointer {p:?} must start with '/' (e.g. \"/id\")"),
        )),
        _ => Ok(()),
    }
}

impl Common {
    fn new(db: Database, collection: String) -> Self {
        Self {
            db,
            collection,
            table: None,
            staging: false,
            fresh: false,
            retry_budget: None,
        }
    }

    async fn build<T: Send + 'static>(
        self,
        shape: TableShape,
        encoder: Box<dyn EncodeBatch<T>>,
    ) -> Result<SqlSink<T>, Error> {
        let collection = self.collection;
        let live = match &self.table {
            Some(t) => Ident::new("table", t)?,
            None => Ident::new("table", &collection)
                .map_err(|e| config(&collection, format!("{e}; name the table with .table(..)")))?,
        };
        let inner = &self.db.inner;
        if live.as_str().eq_ignore_ascii_case(inner.checkpoints.as_str()) {
            return Err(config(
                &collection,
                format!("table {live} is the checkpoint table"),
            ));
        }
        let staging = if self.staging {
            Some(live.with_suffix("staging table", "__staging")?)
        } else {
            None
        };
        let pool = &inner.pool;
        let dialect = pool.dialect();
        let stored = pool
            .load(&dialect.select_checkpoint(&inner.checkpoints), &collection)
            .await?;
        let exists = stored.is_some();
        let stored_cursor = match stored {
            None => None,
            // Starting over: whatever is stored is replaced below.
            Some(_) if self.fresh => None,
            Some(row) => {
                let raw = row
                    .map_err(|e| e.to_string())
                    .and_then(|raw| decode(&collection, raw).map(stored_cursor_of));
                match raw {
                    Ok(cursor) => cursor,
                    Err(reason) => {
                        return Err(config(
                            &collection,
                            format!(
                                "the stored checkpoint is corrupt ({reason}); build the sink \
                                 with .fresh(true) to start over"
                            ),
                        ));
                    }
                }
            }
        };
        let resume = stored_cursor.is_some() && !self.fresh;
        let mut plan = TxPlan {
            ddl: vec![dialect.create_table(&live, &shape)],
            ..TxPlan::default()
        };
        if let Some(staging) = &staging {
            if resume {
                if !pool.table_exists(staging.as_str()).await? {
                    return Err(config(
                        &collection,
                        format!(
                            "the stored checkpoint has a cursor but staging table {staging} is missing, \
                             so resuming would activate a partial table; build the sink with .fresh(true)"
                        ),
                    ));
                }
            } else {
                plan.ddl.extend(dialect.recreate(staging, &shape));
            }
        }
        let reset_sql: Arc<str> = dialect.upsert_checkpoint(&inner.checkpoints, true, false).into();
        if self.fresh && exists {
            plan.checkpoint = Some(CheckpointRow {
                sql: dialect.upsert_checkpoint(&inner.checkpoints, true, true).into(),
                collection: &collection,
                cursor: None,
                state: State::Crawling.as_str(),
                pages: 0,
                items_written: 0,
                last_error: None,
                updated_at: unix_millis(SystemTime::now()),
            });
        }
        pool.run_tx(&plan).await?;
        drop(plan);
        tracing::debug!(%collection, table = %live, staging = staging.is_some(), resume, "sql sink ready");
        let width = 1 + shape.columns.len();
        Ok(SqlSink {
            retry_budget: self.retry_budget.unwrap_or(inner.retry_budget),
            keep_cursor_sql: dialect.upsert_checkpoint(&inner.checkpoints, false, false).into(),
            checkpoint_sql: reset_sql,
            max_rows: (dialect.max_binds() / width).max(1),
            dialect,
            target: staging.clone().unwrap_or_else(|| live.clone()),
            live,
            staging,
            shape,
            encoder,
            statements: HashMap::new(),
            items_written: 0,
            db: self.db,
            collection,
        })
    }
}

fn stored_cursor_of(checkpoint: pipeline_core::Checkpoint) -> Option<String> {
    checkpoint.cursor.map(Cursor::into_string)
}

/// A [`Sink`] writing a collection to a SQLite or PostgreSQL table.
///
/// Each batch is one transaction: the items, deduplicated by key (the last
/// occurrence wins), as multi-row `INSERT … ON CONFLICT ("key") DO UPDATE`
/// statements chunked under the backend's bind-parameter limit, then the
/// batch's checkpoint upserted into the checkpoint table. So a crash at any
/// instant loses no committed item, and a resumed run rewrites at most the
/// uncommitted batch, which the upsert absorbs.
///
/// A batch that cannot commit (server gone, disk full, lock timeout) is
/// retried with backoff for the retry budget, then fails the pipeline with
/// [`SinkError::Write`] naming the collection; nothing of it was committed.
///
/// `finish` records the outcome in the checkpoint row: `completed` clears the
/// cursor (the next run starts over) and, in staging mode, activates the
/// staging table in the same transaction; `failed` and `cancelled` keep the
/// cursor for the resume.
///
/// Made by [`Database::documents`] or [`Database::rows`].
pub struct SqlSink<T> {
    db: Database,
    collection: String,
    dialect: Dialect,
    live: Ident,
    staging: Option<Ident>,
    target: Ident,
    shape: TableShape,
    encoder: Box<dyn EncodeBatch<T>>,
    /// Upsert text per row count: stable text is what lets the driver's
    /// per-connection statement cache prepare each shape once.
    statements: HashMap<usize, Arc<str>>,
    checkpoint_sql: Arc<str>,
    keep_cursor_sql: Arc<str>,
    max_rows: usize,
    retry_budget: Duration,
    items_written: u64,
}

impl<T> std::fmt::Debug for SqlSink<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlSink")
            .field("collection", &self.collection)
            .field("table", &self.target)
            .field("staging", &self.staging.is_some())
            .field("items_written", &self.items_written)
            .finish_non_exhaustive()
    }
}

impl<T> SqlSink<T> {
    /// The collection's name.
    pub fn collection(&self) -> &str {
        &self.collection
    }

    /// The live table's name (unquoted).
    pub fn table(&self) -> &str {
        self.live.as_str()
    }

    /// The table batches go to (`<table>__staging` in staging mode).
    pub fn target_table(&self) -> &str {
        self.target.as_str()
    }

    /// Rows per upsert statement: the backend's bind-parameter limit divided
    /// by the row width (SQLite binds each value; PostgreSQL binds one array
    /// per column, and keeps the same chunking to bound message sizes).
    pub fn rows_per_statement(&self) -> usize {
        self.max_rows
    }

    fn statement(&mut self, rows: usize) -> Arc<str> {
        if self.statements.len() > 64 && !self.statements.contains_key(&rows) {
            self.statements.clear();
        }
        let (dialect, target, shape) = (self.dialect, &self.target, &self.shape);
        self.statements
            .entry(rows)
            .or_insert_with(|| dialect.upsert(target, shape, rows).into())
            .clone()
    }

    async fn commit(&self, plan: &TxPlan<'_>) -> Result<(), SinkError> {
        let pool = &self.db.inner.pool;
        commit_with_retry(&self.collection, self.retry_budget, || pool.run_tx(plan)).await
    }
}

#[async_trait]
impl<T: Send + 'static> Sink<T> for SqlSink<T> {
    async fn write(&mut self, items: Vec<T>, checkpoint: Option<&Cursor>) -> Result<(), SinkError> {
        let n = items.len() as u64;
        let mut batch = Batch::default();
        self.encoder
            .encode(items, &mut batch)
            .map_err(|reason| SinkError::Encode {
                collection: self.collection.clone(),
                reason,
            })?;
        let order = batch.dedup();
        let statements: Vec<Arc<str>> = order
            .chunks(self.max_rows)
            .map(|chunk| chunk.len())
            .collect::<Vec<_>>()
            .into_iter()
            .map(|rows| self.statement(rows))
            .collect();
        let written = self.items_written + n;
        let plan = TxPlan {
            ddl: Vec::new(),
            batch: Some(&batch),
            upserts: statements.into_iter().zip(order.chunks(self.max_rows)).collect(),
            types: self.shape.columns.iter().map(|(_, ty, _)| *ty).collect(),
            checkpoint: checkpoint.map(|c| CheckpointRow {
                sql: self.checkpoint_sql.clone(),
                collection: &self.collection,
                cursor: Some(c.as_str()),
                state: State::Crawling.as_str(),
                pages: 0,
                items_written: i64::try_from(written).unwrap_or(i64::MAX),
                last_error: None,
                updated_at: unix_millis(SystemTime::now()),
            }),
        };
        if plan.upserts.is_empty() && plan.checkpoint.is_none() {
            return Ok(());
        }
        self.commit(&plan).await?;
        self.items_written = written;
        Ok(())
    }

    async fn finish(&mut self, outcome: &Outcome) -> Result<(), SinkError> {
        let error;
        let (state, last_error, ddl, sql) = match outcome {
            Outcome::Completed => {
                let ddl = match &self.staging {
                    Some(staging) => self.dialect.swap(staging, &self.live),
                    None => Vec::new(),
                };
                (State::Completed.as_str(), None, ddl, self.checkpoint_sql.clone())
            }
            Outcome::Failed(f) => {
                error = f.error.to_string();
                (
                    State::Failed.as_str(),
                    Some(error.as_str()),
                    Vec::new(),
                    self.keep_cursor_sql.clone(),
                )
            }
            Outcome::Cancelled => (
                State::Cancelled.as_str(),
                None,
                Vec::new(),
                self.keep_cursor_sql.clone(),
            ),
        };
        let plan = TxPlan {
            ddl,
            batch: None,
            upserts: Vec::new(),
            types: Vec::new(),
            checkpoint: Some(CheckpointRow {
                sql,
                collection: &self.collection,
                cursor: None,
                state,
                pages: 0,
                items_written: i64::try_from(self.items_written).unwrap_or(i64::MAX),
                last_error,
                updated_at: unix_millis(SystemTime::now()),
            }),
        };
        self.commit(&plan).await?;
        if outcome.is_completed() && self.staging.is_some() {
            tracing::info!(collection = %self.collection, table = %self.live, "staging table activated");
        }
        Ok(())
    }
}
