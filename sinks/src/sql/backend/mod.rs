//! Running statements on either backend: one transaction runner, written
//! once as trait defaults, and the few things (binding a batch, `BEGIN`)
//! each backend does its own way.
//!
//! A connection whose transaction failed is rolled back explicitly; one
//! whose transaction state is then unknown (the rollback failed, or the
//! `COMMIT` did) is closed instead of returned to the pool, so no later
//! batch inherits a half-open transaction.

use std::future::Future;
use std::sync::Arc;

use sqlx::pool::PoolConnection;
use sqlx::query::Query;
use sqlx::{AssertSqlSafe, ColumnIndex, Connection, Decode, Encode, Executor, IntoArguments, Type};

use super::checkpoint_row::RawCheckpoint;
use super::dialect::Dialect;
use super::encode::{Batch, ColumnType};

#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

/// One bound value of a [`Statement`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Bind<'a> {
    Text(Option<&'a str>),
    Int(i64),
}

/// A statement and its values, bound in order.
#[derive(Debug)]
pub(crate) struct Statement<'a> {
    pub(crate) sql: Arc<str>,
    pub(crate) binds: Vec<Bind<'a>>,
}

/// Everything one transaction does, in order: the fence check, the
/// checkpoint check, DDL, upserts or `COPY`, then statements (the checkpoint row).
#[derive(Debug, Default)]
pub(crate) struct TxPlan<'a> {
    /// A query that must return a row, or nothing is committed
    /// ([`FencedOut`]): the collection's lease is still this run's.
    pub(crate) guard: Option<Statement<'a>>,
    pub(crate) ddl: Vec<String>,
    /// `ALTER TABLE … ADD COLUMN`s run after `ddl`, each skipped when its
    /// statement returns a row (the column is there: another sink of the
    /// process added it; SQLite has no `ADD COLUMN IF NOT EXISTS`).
    pub(crate) add_columns: Vec<(Statement<'a>, String)>,
    /// Inferred columns recorded in `pipeline_schemas` after the DDL: each
    /// insert (which keeps a row already there), then its check, which must
    /// return a row ([`ColumnClaimed`]): the recorded type is this batch's.
    pub(crate) claims: Vec<(Statement<'a>, Statement<'a>)>,
    pub(crate) batch: Option<&'a Batch>,
    /// Statement text and the batch rows it writes.
    pub(crate) upserts: Vec<(Arc<str>, &'a [usize])>,
    /// The column types of the batch's values.
    pub(crate) types: Vec<ColumnType>,
    /// A `COPY … FROM STDIN` statement and the batch rows it streams in
    /// (PostgreSQL staging tables), run after the upserts.
    pub(crate) copy: Option<(Arc<str>, &'a [usize])>,
    /// One statement doing the one upsert and then the one statement (see
    /// `Dialect::fused_upsert`): run instead of them, without a transaction,
    /// unless the plan has a `guard`.
    pub(crate) fused: Option<Arc<str>>,
    /// Child tables of unnested arrays: their parents' old rows deleted,
    /// the new ones inserted, after the upserts.
    pub(crate) children: Vec<ChildWrite<'a>>,
    pub(crate) statements: Vec<Statement<'a>>,
    /// A statement that must return a row, run after the guard, or nothing is committed
    /// ([`LostCommits`]): the checkpoint row still holds the counts this run
    /// last committed (PostgreSQL staging; see the `copy` module).
    pub(crate) check: Option<Statement<'a>>,
    /// Commit without waiting for the WAL flush (PostgreSQL staging batches;
    /// see the `copy` module).
    pub(crate) async_commit: bool,
}

/// One child table's part of a batch's transaction.
#[derive(Debug)]
pub(crate) struct ChildWrite<'a> {
    pub(crate) delete: Statement<'a>,
    /// Insert statements and the rows of `batch` each writes.
    pub(crate) inserts: Vec<(Arc<str>, Vec<usize>)>,
    pub(crate) batch: &'a Batch,
    pub(crate) types: Vec<ColumnType>,
}

/// A transaction's fence check found that the collection's lease has a
/// newer fence: another process owns the collection now.
#[derive(Debug, thiserror::Error)]
#[error("the collection's lease has passed to another process")]
pub(crate) struct FencedOut;

/// A transaction's [`check`](TxPlan::check) found the checkpoint row
/// changed behind this run's back: the server lost commits this run had seen
/// succeed (a crash after asynchronous commits), or another writer moved it.
/// Nothing of this transaction is committed; the run must resume from what
/// the checkpoint row holds.
#[derive(Debug, thiserror::Error)]
#[error(
    "the checkpoint row no longer holds what this run last committed (the server lost \
     commits in a crash, or a commit whose reply was lost did succeed); resume from the \
     stored checkpoint"
)]
pub(crate) struct LostCommits;

/// A transaction's [`claims`](TxPlan::claims) found an inferred column
/// recorded with another type than this batch's: another process inferred
/// the same new column of the table at the same time. Nothing of this
/// transaction is committed; the next run reads the recorded type.
#[derive(Debug, thiserror::Error)]
#[error(
    "another writer of the table added one of the columns this batch inferred, with another type, \
     at the same time; nothing of the batch was committed, and the next run uses the recorded type"
)]
pub(crate) struct ColumnClaimed;

type Q<'q, DB> = Query<'q, DB, <DB as sqlx::Database>::Arguments>;

/// What differs between SQLite and PostgreSQL beyond SQL text; everything
/// the two do alike is a default method.
pub(crate) trait Backend: sqlx::Database + sqlx::database::HasStatementCache
where
    for<'c> &'c mut <Self as sqlx::Database>::Connection: Executor<'c, Database = Self>,
    <Self as sqlx::Database>::Arguments: IntoArguments<Self>,
    for<'q> Option<&'q str>: Encode<'q, Self> + Type<Self>,
    for<'q> i64: Encode<'q, Self> + Decode<'q, Self> + Type<Self>,
    for<'r> String: Decode<'r, Self> + Type<Self>,
    usize: ColumnIndex<<Self as sqlx::Database>::Row>,
{
    /// Run before DDL in a transaction, to serialize schema changes.
    const DDL_LOCK: Option<&'static str>;

    /// How a write transaction starts; with `async_commit`, one whose
    /// commit need not wait for the disk ([`TxPlan::async_commit`], where the
    /// backend has such commits).
    fn begin(
        conn: &mut <Self as sqlx::Database>::Connection,
        async_commit: bool,
    ) -> impl Future<Output = Result<sqlx::Transaction<'_, Self>, sqlx::Error>> + Send;

    /// Binds `rows` of `batch` for [`Dialect::upsert`].
    fn bind_rows<'q>(q: Q<'q, Self>, batch: &Batch, rows: &[usize], types: &[ColumnType]) -> Q<'q, Self>;

    /// Streams `rows` of `batch` in with the `COPY … FROM STDIN` statement
    /// `sql`; only PostgreSQL has it.
    fn copy_rows<'c>(
        conn: &'c mut <Self as sqlx::Database>::Connection,
        sql: &'c str,
        batch: &'c Batch,
        rows: &'c [usize],
        types: &'c [ColumnType],
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'c {
        let _ = (conn, sql, batch, rows, types);
        async {
            Err(sqlx::Error::Protocol(
                "COPY is only used with PostgreSQL".to_owned(),
            ))
        }
    }

    /// Binds one value.
    fn bind<'q>(q: Q<'q, Self>, value: Bind<'_>) -> Q<'q, Self> {
        match value {
            Bind::Text(v) => q.bind(v),
            Bind::Int(v) => q.bind(v),
        }
    }

    /// Runs `plan` in one transaction; on any error nothing of it is
    /// committed. A `dry_run` rolls back what succeeded: it only tells
    /// whether the plan would commit.
    fn run_tx(
        pool: &sqlx::Pool<Self>,
        plan: &TxPlan<'_>,
        dry_run: bool,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send {
        async move {
            let mut conn = Self::acquire(pool).await?;
            // A guard (the fence check) must run first in the same
            // transaction, so a guarded plan is never fused.
            if let Some(sql) = plan.fused.as_ref().filter(|_| !dry_run && plan.guard.is_none()) {
                // A single statement is atomic by itself: no BEGIN, no COMMIT.
                return Self::run_fused(&mut conn, sql, plan).await;
            }
            let mut tx = Self::begin(&mut conn, plan.async_commit).await?;
            let ran = Self::run_plan(&mut tx, plan).await;
            let (error, known) = match ran {
                Ok(()) if dry_run => match tx.rollback().await {
                    Ok(()) => return Ok(()),
                    Err(e) => (e, false),
                },
                Ok(()) => match tx.commit().await {
                    Ok(()) => return Ok(()),
                    // Whether a failed COMMIT left the transaction open is not known.
                    Err(e) => (e, false),
                },
                Err(e) => {
                    let rolled_back = tx.rollback().await;
                    if let Err(rollback) = &rolled_back {
                        tracing::warn!(%rollback, "rolling back a failed transaction failed");
                    }
                    (e, rolled_back.is_ok())
                }
            };
            if !known || conn.is_in_transaction() {
                tracing::warn!(%error, "closing a connection whose transaction state is unknown");
                conn.close_on_drop();
            }
            Err(error)
        }
    }

    /// Runs `plan`'s fused statement: the batch's binds, then the statement's.
    fn run_fused<'c>(
        conn: &'c mut <Self as sqlx::Database>::Connection,
        sql: &'c Arc<str>,
        plan: &'c TxPlan<'_>,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'c {
        async move {
            let (Some(batch), [(_, rows)], [statement]) =
                (plan.batch, &plan.upserts[..], &plan.statements[..])
            else {
                return Err(sqlx::Error::Protocol(
                    "a fused statement needs one upsert and one statement".to_owned(),
                ));
            };
            let mut q = Self::bind_rows(sqlx::query(AssertSqlSafe(sql.clone())), batch, rows, &plan.types);
            for value in &statement.binds {
                q = Self::bind(q, *value);
            }
            q.execute(&mut *conn).await?;
            Ok(())
        }
    }

    /// A pooled connection that is not inside a transaction.
    fn acquire(
        pool: &sqlx::Pool<Self>,
    ) -> impl Future<Output = Result<PoolConnection<Self>, sqlx::Error>> + Send {
        async move {
            let mut conn = pool.acquire().await?;
            if conn.is_in_transaction() {
                // A rollback queued by a dropped transaction runs with the next command.
                conn.ping().await?;
            }
            if conn.is_in_transaction() {
                tracing::warn!("closing a pooled connection left inside a transaction");
                conn.close_on_drop();
                drop(conn);
                conn = pool.acquire().await?;
            }
            Ok(conn)
        }
    }

    /// Runs `statement` and tells whether it returned a row.
    fn returns_row<'c>(
        conn: &'c mut <Self as sqlx::Database>::Connection,
        statement: &'c Statement<'_>,
    ) -> impl Future<Output = Result<bool, sqlx::Error>> + Send + 'c {
        async move {
            let mut q = sqlx::query(AssertSqlSafe(statement.sql.clone()));
            for value in &statement.binds {
                q = Self::bind(q, *value);
            }
            Ok(q.fetch_optional(&mut *conn).await?.is_some())
        }
    }

    /// The statements of `plan`, inside the caller's transaction.
    fn run_plan<'c>(
        conn: &'c mut <Self as sqlx::Database>::Connection,
        plan: &'c TxPlan<'_>,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'c {
        async move {
            if let Some(guard) = &plan.guard
                && !Self::returns_row(&mut *conn, guard).await?
            {
                return Err(sqlx::Error::Configuration(Box::new(FencedOut)));
            }
            if let Some(check) = &plan.check
                && !Self::returns_row(&mut *conn, check).await?
            {
                return Err(sqlx::Error::Configuration(Box::new(LostCommits)));
            }
            if let Some(lock) = Self::DDL_LOCK.filter(|_| !plan.ddl.is_empty()) {
                sqlx::query(lock).execute(&mut *conn).await?;
            }
            for ddl in &plan.ddl {
                // DDL is not worth caching: it runs once per run.
                sqlx::query(AssertSqlSafe(ddl.as_str()))
                    .persistent(false)
                    .execute(&mut *conn)
                    .await?;
            }
            for (exists, ddl) in &plan.add_columns {
                if !Self::returns_row(&mut *conn, exists).await? {
                    sqlx::query(AssertSqlSafe(ddl.as_str()))
                        .persistent(false)
                        .execute(&mut *conn)
                        .await?;
                }
            }
            for (claim, check) in &plan.claims {
                // An insert returns no row; only its effect counts.
                Self::returns_row(&mut *conn, claim).await?;
                if !Self::returns_row(&mut *conn, check).await? {
                    return Err(sqlx::Error::Configuration(Box::new(ColumnClaimed)));
                }
            }
            if let Some(batch) = plan.batch {
                for (sql, rows) in &plan.upserts {
                    let q = sqlx::query(AssertSqlSafe(sql.clone()));
                    Self::bind_rows(q, batch, rows, &plan.types)
                        .execute(&mut *conn)
                        .await?;
                }
                if let Some((sql, rows)) = &plan.copy {
                    Self::copy_rows(&mut *conn, sql, batch, rows, &plan.types).await?;
                }
            }
            for child in &plan.children {
                Self::returns_row(&mut *conn, &child.delete).await?;
                for (sql, rows) in &child.inserts {
                    let q = sqlx::query(AssertSqlSafe(sql.clone()));
                    Self::bind_rows(q, child.batch, rows, &child.types)
                        .execute(&mut *conn)
                        .await?;
                }
            }
            for statement in &plan.statements {
                let mut q = sqlx::query(AssertSqlSafe(statement.sql.clone()));
                for value in &statement.binds {
                    q = Self::bind(q, *value);
                }
                q.execute(&mut *conn).await?;
            }
            Ok(())
        }
    }

    /// Runs a `SELECT COUNT(*)` query with text binds.
    fn count(
        pool: &sqlx::Pool<Self>,
        sql: &'static str,
        binds: &[Option<&str>],
    ) -> impl Future<Output = Result<i64, sqlx::Error>> + Send {
        async move {
            let mut conn = Self::acquire(pool).await?;
            let mut q = sqlx::query(sql);
            for value in binds {
                q = Self::bind(q, Bind::Text(*value));
            }
            let row = q.fetch_one(&mut *conn).await?;
            sqlx::Row::try_get(&row, 0)
        }
    }

    /// Reads one checkpoint row: `Err` when it cannot be read, `Ok(Some(Err))`
    /// when it was read but cannot be decoded.
    fn load(
        pool: &sqlx::Pool<Self>,
        sql: &str,
        collection: &str,
    ) -> impl Future<Output = Result<Option<Result<RawCheckpoint, sqlx::Error>>, sqlx::Error>> + Send {
        async move {
            let mut conn = Self::acquire(pool).await?;
            let row = sqlx::query(AssertSqlSafe(sql))
                .bind(Some(collection))
                .fetch_optional(&mut *conn)
                .await?;
            Ok(row.map(|r| Self::read_checkpoint(&r)))
        }
    }

    /// Decodes a row of the checkpoint `SELECT`.
    fn read_checkpoint(row: &<Self as sqlx::Database>::Row) -> Result<RawCheckpoint, sqlx::Error> {
        use sqlx::Row;
        Ok(RawCheckpoint {
            cursor: row.try_get(0)?,
            state: row.try_get(1)?,
            pages: row.try_get(2)?,
            items_written: row.try_get(3)?,
            last_error: row.try_get(4)?,
            updated_at: row.try_get(5)?,
        })
    }
}

/// A pool on either backend.
#[derive(Debug, Clone)]
pub(crate) enum Pool {
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqlitePool),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
}

/// Calls the same backend function on whichever pool this is.
macro_rules! dispatch {
    ($pool:expr, $p:ident => $call:expr) => {
        match $pool {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite($p) => $call,
            #[cfg(feature = "postgres")]
            Pool::Postgres($p) => $call,
        }
    };
}

impl Pool {
    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite(_) => Dialect::Sqlite,
            #[cfg(feature = "postgres")]
            Self::Postgres(_) => Dialect::Postgres,
        }
    }

    /// See [`Backend::run_tx`].
    pub(crate) async fn run_tx(&self, plan: &TxPlan<'_>, dry_run: bool) -> Result<(), sqlx::Error> {
        dispatch!(self, p => Backend::run_tx(p, plan, dry_run).await)
    }

    /// Whether `table` exists (in `schema`, or the current one).
    pub(crate) async fn table_exists(&self, schema: Option<&str>, table: &str) -> Result<bool, sqlx::Error> {
        let sql = self.dialect().table_exists();
        let n = dispatch!(self, p => Backend::count(p, sql, &[Some(table), schema]).await)?;
        Ok(n > 0)
    }

    pub(crate) async fn load(
        &self,
        sql: &str,
        collection: &str,
    ) -> Result<Option<Result<RawCheckpoint, sqlx::Error>>, sqlx::Error> {
        dispatch!(self, p => Backend::load(p, sql, collection).await)
    }

    /// Closes the pool, waiting for connections to be returned.
    pub(crate) async fn close(&self) {
        dispatch!(self, p => p.close().await)
    }
}
