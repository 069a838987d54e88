//! Running statements on either backend: one generic transaction runner,
//! and the few things (binding, decoding, `BEGIN`) each backend does its way.

use std::future::Future;
use std::sync::Arc;

use sqlx::query::Query;
use sqlx::{AssertSqlSafe, Executor, IntoArguments, Pool as SqlxPool};

use super::dialect::Dialect;
use super::encode::{Batch, ColumnType, SqlValue};

/// A checkpoint row as stored, before it is checked.
#[derive(Debug)]
pub(crate) struct RawCheckpoint {
    pub(crate) cursor: Option<String>,
    pub(crate) state: String,
    pub(crate) pages: i64,
    pub(crate) items_written: i64,
    pub(crate) last_error: Option<String>,
    pub(crate) updated_at: i64,
}

/// A checkpoint row to write (see [`Dialect::upsert_checkpoint`] for the binds).
#[derive(Debug)]
pub(crate) struct CheckpointRow<'a> {
    pub(crate) sql: Arc<str>,
    pub(crate) collection: &'a str,
    pub(crate) cursor: Option<&'a str>,
    pub(crate) state: &'static str,
    pub(crate) pages: i64,
    pub(crate) items_written: i64,
    pub(crate) last_error: Option<&'a str>,
    pub(crate) updated_at: i64,
}

/// Everything one transaction does, in order: DDL, upserts, the checkpoint.
#[derive(Debug, Default)]
pub(crate) struct TxPlan<'a> {
    pub(crate) ddl: Vec<String>,
    pub(crate) batch: Option<&'a Batch>,
    /// Statement text and the batch rows it writes.
    pub(crate) upserts: Vec<(Arc<str>, &'a [usize])>,
    /// The column types of the batch's values.
    pub(crate) types: Vec<ColumnType>,
    pub(crate) checkpoint: Option<CheckpointRow<'a>>,
}

type Q<'q, DB> = Query<'q, DB, <DB as sqlx::Database>::Arguments>;

/// What differs between SQLite and PostgreSQL beyond SQL text.
pub(crate) trait Backend: sqlx::Database + sqlx::database::HasStatementCache {
    /// Run before DDL in a transaction, to serialize schema changes.
    const DDL_LOCK: Option<&'static str>;
    /// How a write transaction starts.
    fn begin(
        pool: &SqlxPool<Self>,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, Self>, sqlx::Error>> + Send;
    /// Binds `rows` of `batch` for [`Dialect::upsert`](super::dialect::Dialect::upsert).
    fn bind_rows<'q>(q: Q<'q, Self>, batch: &Batch, rows: &[usize], types: &[ColumnType]) -> Q<'q, Self>;
    fn bind_text<'q>(q: Q<'q, Self>, v: Option<&str>) -> Q<'q, Self>;
    fn bind_i64<'q>(q: Q<'q, Self>, v: i64) -> Q<'q, Self>;
    fn read_count(row: &Self::Row) -> Result<i64, sqlx::Error>;
    fn read_checkpoint(row: &Self::Row) -> Result<RawCheckpoint, sqlx::Error>;
}

/// Runs `plan` in one transaction; on any error nothing of it is committed.
pub(crate) async fn run_tx<DB: Backend>(pool: &SqlxPool<DB>, plan: &TxPlan<'_>) -> Result<(), sqlx::Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
{
    let mut tx = DB::begin(pool).await?;
    if let Some(lock) = DB::DDL_LOCK.filter(|_| !plan.ddl.is_empty()) {
        sqlx::query(lock).execute(&mut *tx).await?;
    }
    for ddl in &plan.ddl {
        // DDL is not worth caching: it runs once per run.
        sqlx::query(AssertSqlSafe(ddl.as_str()))
            .persistent(false)
            .execute(&mut *tx)
            .await?;
    }
    if let Some(batch) = plan.batch {
        for (sql, rows) in &plan.upserts {
            let q = sqlx::query(AssertSqlSafe(sql.clone()));
            DB::bind_rows(q, batch, rows, &plan.types)
                .execute(&mut *tx)
                .await?;
        }
    }
    if let Some(c) = &plan.checkpoint {
        let mut q = sqlx::query(AssertSqlSafe(c.sql.clone()));
        q = DB::bind_text(q, Some(c.collection));
        q = DB::bind_text(q, c.cursor);
        q = DB::bind_text(q, Some(c.state));
        q = DB::bind_i64(q, c.pages);
        q = DB::bind_i64(q, c.items_written);
        q = DB::bind_text(q, c.last_error);
        q = DB::bind_i64(q, c.updated_at);
        q.execute(&mut *tx).await?;
    }
    tx.commit().await
}

/// Runs a `SELECT COUNT(*) … = $1` query.
pub(crate) async fn count<DB: Backend>(
    pool: &SqlxPool<DB>,
    sql: &'static str,
    arg: &str,
) -> Result<i64, sqlx::Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
{
    let mut conn = pool.acquire().await?;
    let row = DB::bind_text(sqlx::query(sql), Some(arg))
        .fetch_one(&mut *conn)
        .await?;
    DB::read_count(&row)
}

/// Reads one checkpoint row: `Err` when it cannot be read, `Ok(Some(Err))`
/// when it was read but cannot be decoded.
pub(crate) async fn load<DB: Backend>(
    pool: &SqlxPool<DB>,
    sql: &str,
    collection: &str,
) -> Result<Option<Result<RawCheckpoint, sqlx::Error>>, sqlx::Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
{
    let mut conn = pool.acquire().await?;
    let row = DB::bind_text(sqlx::query(AssertSqlSafe(sql)), Some(collection))
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.map(|r| DB::read_checkpoint(&r)))
}

#[cfg(feature = "sqlite")]
impl Backend for sqlx::Sqlite {
    // BEGIN IMMEDIATE already serializes writers.
    const DDL_LOCK: Option<&'static str> = None;

    async fn begin(pool: &SqlxPool<Self>) -> Result<sqlx::Transaction<'static, Self>, sqlx::Error> {
        // Take the write lock up front: a deferred transaction that upgrades
        // later can fail with SQLITE_BUSY without waiting for the busy timeout.
        pool.begin_with("BEGIN IMMEDIATE").await
    }

    fn bind_rows<'q>(mut q: Q<'q, Self>, batch: &Batch, rows: &[usize], _: &[ColumnType]) -> Q<'q, Self> {
        for &i in rows {
            let (key, values) = batch.row(i);
            q = q.bind(key);
            for v in values {
                q = sqlite_value(q, v);
            }
        }
        q
    }

    fn bind_text<'q>(q: Q<'q, Self>, v: Option<&str>) -> Q<'q, Self> {
        q.bind(v)
    }

    fn bind_i64<'q>(q: Q<'q, Self>, v: i64) -> Q<'q, Self> {
        q.bind(v)
    }

    fn read_count(row: &Self::Row) -> Result<i64, sqlx::Error> {
        sqlx::Row::try_get(row, 0)
    }

    fn read_checkpoint(row: &Self::Row) -> Result<RawCheckpoint, sqlx::Error> {
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

#[cfg(feature = "sqlite")]
fn sqlite_value<'q>(q: Q<'q, sqlx::Sqlite>, v: &SqlValue) -> Q<'q, sqlx::Sqlite> {
    match v {
        SqlValue::Null(_) => q.bind(None::<&str>),
        SqlValue::Text(s) => q.bind(s.as_str()),
        SqlValue::Int(i) => q.bind(*i),
        SqlValue::Real(f) => q.bind(*f),
        SqlValue::Bool(b) => q.bind(*b),
        SqlValue::Json(j) => q.bind(sqlx::types::Json(j)),
    }
}

#[cfg(feature = "postgres")]
impl Backend for sqlx::Postgres {
    // Concurrent `CREATE TABLE IF NOT EXISTS` of one name can fail on a
    // catalog unique index; a transaction-scoped advisory lock serializes them.
    const DDL_LOCK: Option<&'static str> = Some("SELECT pg_advisory_xact_lock(7245817201)");

    async fn begin(pool: &SqlxPool<Self>) -> Result<sqlx::Transaction<'static, Self>, sqlx::Error> {
        pool.begin().await
    }

    fn bind_rows<'q>(mut q: Q<'q, Self>, batch: &Batch, rows: &[usize], types: &[ColumnType]) -> Q<'q, Self> {
        q = q.bind(rows.iter().map(|&i| batch.row(i).0).collect::<Vec<&str>>());
        for (col, ty) in types.iter().enumerate() {
            let cells = rows.iter().map(|&i| &batch.row(i).1[col]);
            // Encoding made every value match its column's type (or be NULL).
            q = match ty {
                ColumnType::Text => q.bind(array(cells, |v| match v {
                    SqlValue::Text(s) => Some(s.as_str()),
                    _ => None,
                })),
                ColumnType::Integer => q.bind(array(cells, |v| match v {
                    SqlValue::Int(i) => Some(*i),
                    _ => None,
                })),
                ColumnType::Real => q.bind(array(cells, |v| match v {
                    SqlValue::Real(f) => Some(*f),
                    _ => None,
                })),
                ColumnType::Boolean => q.bind(array(cells, |v| match v {
                    SqlValue::Bool(b) => Some(*b),
                    _ => None,
                })),
                ColumnType::Json => q.bind(array(cells, |v| match v {
                    SqlValue::Json(j) => Some(sqlx::types::Json(j)),
                    _ => None,
                })),
            };
        }
        q
    }

    fn bind_text<'q>(q: Q<'q, Self>, v: Option<&str>) -> Q<'q, Self> {
        q.bind(v)
    }

    fn bind_i64<'q>(q: Q<'q, Self>, v: i64) -> Q<'q, Self> {
        q.bind(v)
    }

    fn read_count(row: &Self::Row) -> Result<i64, sqlx::Error> {
        sqlx::Row::try_get(row, 0)
    }

    fn read_checkpoint(row: &Self::Row) -> Result<RawCheckpoint, sqlx::Error> {
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

impl Pool {
    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite(_) => Dialect::Sqlite,
            #[cfg(feature = "postgres")]
            Self::Postgres(_) => Dialect::Postgres,
        }
    }

    pub(crate) async fn run_tx(&self, plan: &TxPlan<'_>) -> Result<(), sqlx::Error> {
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite(p) => run_tx(p, plan).await,
            #[cfg(feature = "postgres")]
            Self::Postgres(p) => run_tx(p, plan).await,
        }
    }

    pub(crate) async fn table_exists(&self, table: &str) -> Result<bool, sqlx::Error> {
        let sql = self.dialect().table_exists();
        let n = match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite(p) => count(p, sql, table).await?,
            #[cfg(feature = "postgres")]
            Self::Postgres(p) => count(p, sql, table).await?,
        };
        Ok(n > 0)
    }

    pub(crate) async fn load(
        &self,
        sql: &str,
        collection: &str,
    ) -> Result<Option<Result<RawCheckpoint, sqlx::Error>>, sqlx::Error> {
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite(p) => load(p, sql, collection).await,
            #[cfg(feature = "postgres")]
            Self::Postgres(p) => load(p, sql, collection).await,
        }
    }

    /// Closes the pool, waiting for connections to be returned.
    pub(crate) async fn close(&self) {
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite(p) => p.close().await,
            #[cfg(feature = "postgres")]
            Self::Postgres(p) => p.close().await,
        }
    }
}

/// One column of a batch as a PostgreSQL array for `UNNEST`: NULL where a cell
/// holds no value of the column's type.
#[cfg(feature = "postgres")]
fn array<'a, T>(
    cells: impl Iterator<Item = &'a SqlValue>,
    value: impl Fn(&'a SqlValue) -> Option<T>,
) -> Vec<Option<T>> {
    cells.map(value).collect()
}
