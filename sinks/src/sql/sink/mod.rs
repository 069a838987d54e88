//! The SQL sink: one transaction per batch with the batch's checkpoint, and
//! staging tables activated when a run completes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use crawlpipe_core::{Cursor, Outcome, PageEnd, Sink, SinkContext, SinkError, State};

use crate::sql::append::Replace;
use crate::sql::backend::TxPlan;
use crate::sql::children::child_done;
use crate::sql::dialect::{Dialect, TableShape};
use crate::sql::encode::{ColumnType, EncodeBatch};
use crate::sql::fence;
use crate::sql::high_water::HighWaterSql;
use crate::sql::ident::Ident;
use crate::sql::retry::commit_with_retry;
use crate::sql::setup::Opened;
use crate::sql::validators::{PageBook, PageRow, ValidatorSql};

mod open;
mod pages;
mod replay;
mod spec;
mod typed_table;
mod write;

pub use self::replay::ReplayReport;
pub(crate) use self::spec::SinkSpec;
pub(crate) use self::typed_table::shape_of;
pub(crate) use self::typed_table::{Place, TypedTable};

/// A [`Sink`] writing a collection to a SQLite or PostgreSQL table.
///
/// When the pipeline opens it, the sink takes the collection's name, creates
/// its table (and staging table) if missing, and returns the stored cursor,
/// so the pipeline resumes where the last run stopped.
///
/// Each batch is one transaction: the items, deduplicated by key (the last
/// occurrence wins), as multi-row `INSERT … ON CONFLICT ("key") DO UPDATE`
/// statements chunked under the backend's bind-parameter limit, then the
/// batch's cursor, pages and rows written in the checkpoint table. So a
/// crash at any instant loses no committed item, and a resumed run rewrites
/// at most the uncommitted batch, which the upsert absorbs. `items_written`
/// counts rows (distinct keys per batch), not items.
///
/// In staging mode on PostgreSQL the rows are streamed in with binary
/// `COPY` instead: the staging table has no primary key and numbers its rows
/// in write order, and the swap keeps the latest row of each key before it
/// adds the primary key, which leaves exactly what the upserts would have.
///
/// A batch that cannot commit (server gone, disk full, lock timeout) is
/// retried with backoff for the retry budget, then fails the pipeline with
/// [`SinkError::Write`] naming the collection and the database's message;
/// nothing of it was committed, and the failure is resumable. An item that
/// can never be written (see the builders' "Key identity") is
/// [`SinkError::Rejected`], after the items before it are committed.
///
/// `finish` records the outcome: `completed` clears the cursor (the next
/// run starts over) and, in staging mode, activates the staging table in the
/// same transaction; `failed` and `cancelled` record only the state, keeping
/// the cursor for the resume.
///
/// Made by [`Database::documents`](crate::Database::documents) or [`Database::rows`](crate::Database::rows).
pub struct SqlSink<T> {
    spec: SinkSpec,
    dialect: Dialect,
    shape: TableShape,
    encoder: Box<dyn EncodeBatch<T>>,
    opened: Option<(Opened, SinkContext)>,
    /// Upsert text per row count: stable text is what lets the driver's
    /// per-connection statement cache prepare each shape once.
    statements: HashMap<usize, Arc<str>>,
    /// The `COPY` statement of a PostgreSQL staging table, set by `open`.
    copy: Option<Arc<str>>,
    /// The batch's upsert and checkpoint row as one statement, set by `open`.
    fused: Option<Arc<str>>,
    max_rows: usize,
    /// Rows committed in this run.
    rows: u64,
    /// Incremental refresh: the high-water mark's field and state.
    high_water: Option<HighWater<T>>,
    /// A keyless collection (see `append.rs`).
    append: Option<Append>,
    /// Typed document tables: columns, child tables, rejected items.
    typed: Option<TypedTable>,
    /// Page validators (conditional requests), once offered by `open`.
    validators: Option<(ValidatorSql, PageBook)>,
    /// The validators of the batch being committed.
    page_rows: Vec<PageRow>,
}

/// A keyless sink's state.
#[derive(Debug, Default)]
struct Append {
    /// The delete replacing the previous run's rows, set by `open`.
    replace: Option<Replace>,
    /// The run has not committed yet: its first transaction deletes the
    /// rows past its own.
    pending: bool,
}

/// Reads an item's incremental field, as text.
pub(crate) type MarkFn<T> = Box<dyn Fn(&T) -> Option<String> + Send + Sync>;

/// The high-water mark of an incremental sink (see `high_water.rs`).
struct HighWater<T> {
    mark: MarkFn<T>,
    sql: Option<HighWaterSql>,
    /// The run's maximum as committed.
    committed: Option<String>,
    /// The maximum including the batch being committed.
    next: Option<String>,
    /// The least mark of every run (see [`SqlSink::high_water_floor`]).
    floor: Option<String>,
}

impl<T> std::fmt::Debug for SqlSink<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlSink")
            .field("collection", &self.collection())
            .field("table", &self.target_table())
            .field("staging", &self.spec.staging)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

impl<T> SqlSink<T> {
    pub(crate) fn new(
        spec: SinkSpec,
        columns: Vec<(Ident, ColumnType, bool)>,
        encoder: Box<dyn EncodeBatch<T>>,
    ) -> Self {
        let dialect = spec.db.inner.pool.dialect();
        let width = 1 + columns.len();
        Self {
            spec,
            dialect,
            shape: TableShape { columns },
            encoder,
            opened: None,
            statements: HashMap::new(),
            copy: None,
            fused: None,
            max_rows: (dialect.max_binds() / width).max(1),
            rows: 0,
            high_water: None,
            append: None,
            typed: None,
            validators: None,
            page_rows: Vec::new(),
        }
    }

    /// A typed document sink (see `typed_table.rs`).
    pub(crate) fn with_typed(mut self, typed: TypedTable) -> Self {
        self.typed = Some(typed);
        self
    }

    /// Sets the table's columns after `data` (typed documents): the shape,
    /// and the statements made from it.
    fn reshape(&mut self, columns: &[crate::sql::columns::DocColumn]) {
        self.shape = shape_of(columns, self.append.is_some(), self.spec.child.is_some());
        self.statements.clear();
        self.max_rows = (self.dialect.max_binds() / (1 + self.shape.columns.len())).max(1);
        if let Some((opened, _)) = &self.opened {
            self.copy = self.dialect.staging_copy(opened.staging.as_ref(), &self.shape);
            self.fused =
                self.dialect
                    .fused_upsert(opened.target(), &self.shape, opened.checkpoints.progress_sql());
            // Rows carried over from the live table take the new columns too.
            if let Some((sql, _)) = self.validators.as_mut() {
                *sql = ValidatorSql::new(self.dialect, &opened.live, opened.staging.as_ref(), &self.shape);
            }
        }
    }

    /// Makes the sink keyless (`on`): rows at their positions, a new run
    /// replacing the previous one.
    pub(crate) fn keyless(mut self, on: bool) -> Self {
        self.append = on.then(Append::default);
        self
    }

    /// Tracks the greatest `mark` of the items written (incremental refresh).
    pub(crate) fn with_high_water(mut self, mark: MarkFn<T>) -> Self {
        self.high_water = Some(HighWater {
            mark,
            sql: None,
            committed: None,
            next: None,
            floor: None,
        });
        self
    }

    /// Incremental refresh with a mark known before the run: the run's
    /// high-water mark is at least `floor` (the greatest of it and the
    /// items' marks, if a mark was set on the builder), and a completed run
    /// stores it even when it wrote no item. A date-windowed run gives the
    /// end of its last window, where the next run starts. Read it with
    /// [`Database::high_water`](crate::Database::high_water).
    #[must_use]
    pub fn high_water_floor(mut self, floor: impl Into<String>) -> Self {
        let floor = Some(floor.into());
        match self.high_water.as_mut() {
            Some(h) => h.floor = floor,
            None => {
                self.high_water = Some(HighWater {
                    mark: Box::new(|_| None),
                    sql: None,
                    committed: None,
                    next: None,
                    floor,
                });
            }
        }
        self
    }

    /// The collection's name, once the pipeline has opened the sink.
    pub fn collection(&self) -> Option<&str> {
        self.opened.as_ref().map(|(o, _)| o.collection.as_str())
    }

    /// The live table's name (unquoted), once opened.
    pub fn table(&self) -> Option<&str> {
        self.opened.as_ref().map(|(o, _)| o.live.name.as_str())
    }

    /// The table batches go to (the staging table in staging mode), once
    /// opened; qualified (`pipeline_staging.<table>`) on PostgreSQL.
    pub fn target_table(&self) -> Option<String> {
        self.opened.as_ref().map(|(o, _)| match &o.target().schema {
            Some(schema) => format!("{}.{}", schema.as_str(), o.target().name.as_str()),
            None => o.target().name.as_str().to_owned(),
        })
    }

    /// Rows per upsert statement: the backend's bind-parameter limit divided
    /// by the row width (SQLite binds each value; PostgreSQL binds one array
    /// per column, and keeps the same chunking to bound message sizes).
    pub fn rows_per_statement(&self) -> usize {
        self.max_rows
    }
}

fn not_opened() -> SinkError {
    SinkError::Config {
        reason: "the SQL sink was used before Sink::open".to_owned(),
    }
}

#[async_trait]
impl<T: Send + 'static> Sink<T> for SqlSink<T> {
    async fn open(&mut self, ctx: &SinkContext) -> Result<Option<Cursor>, SinkError> {
        self.open_sink(ctx).await
    }

    fn page_ends(&mut self, ends: Vec<PageEnd>) {
        if let Some((_, book)) = self.validators.as_mut() {
            book.set_ends(ends);
        }
    }

    async fn write(&mut self, items: Vec<T>, checkpoint: Option<&Cursor>) -> Result<(), SinkError> {
        self.write_batch(items, checkpoint, false).await.map(drop)
    }

    /// The last batch and the completion in one transaction (not in staging
    /// mode: the swap stays in `finish`).
    async fn write_last(&mut self, items: Vec<T>, checkpoint: Option<&Cursor>) -> Result<bool, SinkError> {
        let last = self.opened.as_ref().is_some_and(|(o, _)| o.staging.is_none());
        self.write_batch(items, checkpoint, last).await
    }

    async fn finish(&mut self, outcome: &Outcome) -> Result<(), SinkError> {
        let Some((opened, ctx)) = &self.opened else {
            return Ok(());
        };
        let collection = opened.collection.as_str();
        let error = match outcome {
            Outcome::Failed(f) => Some(f.error.to_string()),
            _ => None,
        };
        let mut plan = TxPlan::default();
        // An unfinished run's state is worth one attempt, not the retry
        // budget: the database may be what failed it.
        let budget = match outcome {
            Outcome::Completed => {
                if let Some(staging) = &opened.staging {
                    plan.ddl = self.dialect.swap(staging, &opened.live);
                    // The unnested child tables swap in with their parents.
                    for child in self.typed.iter().flat_map(|t| &t.children) {
                        plan.ddl.extend(child.swap(self.dialect));
                    }
                    if let Some((sql, _)) = &self.validators {
                        plan.statements
                            .extend(sql.promote(collection, opened.live.name.as_str()));
                    }
                }
                if self.copy.is_some() {
                    // The batches committed asynchronously: swap only if the
                    // server still holds all of them (this commit is synchronous).
                    plan.check = Some(opened.checkpoints.holds(collection, opened.committed));
                }
                let pages = opened.base_pages + ctx.pages();
                let rows = opened.base_rows + self.rows;
                plan.statements
                    .push(opened.checkpoints.complete(collection, pages, rows));
                if let Some(h) = self.high_water.as_ref()
                    && let Some(sql) = h.sql.as_ref()
                {
                    // A floor no batch carried yet (a run without items).
                    if h.next != h.committed
                        && let Some(mark) = &h.next
                    {
                        plan.statements.push(sql.pending(collection, mark));
                    }
                    plan.statements.push(sql.promote(collection));
                }
                if let Some((child, key)) = &self.spec.child {
                    plan.statements.push(child_done(self.dialect, child, key));
                }
                // A keyless run that wrote nothing still replaces the last.
                if let Some(Append {
                    replace: Some(replace),
                    pending: true,
                }) = &self.append
                {
                    plan.statements.extend(replace.statements(0));
                }
                self.retry_budget()
            }
            Outcome::Failed(_) => {
                plan.statements.push(
                    opened
                        .checkpoints
                        .record(collection, State::Failed, error.as_deref()),
                );
                Duration::ZERO
            }
            Outcome::Cancelled => {
                plan.statements
                    .push(opened.checkpoints.record(collection, State::Cancelled, None));
                Duration::ZERO
            }
        };
        // A run that lost its lease records nothing over the new owner's state.
        plan.guard = opened.fence.as_ref().map(|g| g.statement(collection));
        let pool = &self.spec.db.inner.pool;
        let fence = fence::token(opened.fence.as_ref());
        commit_with_retry(collection, fence, budget, || pool.run_tx(&plan, false))
            .await
            .map_err(|e| e.into_sink_error(collection))?;
        if outcome.is_completed() && opened.staging.is_some() {
            tracing::info!(%collection, table = %opened.live, "staging table activated");
        }
        Ok(())
    }
}
