//! Filling columns of rows already stored from their `data`, with the same
//! rules as the write path (`coerce.rs`): a value that does not fit is
//! stored as NULL (the row is already in its table; it stays whole in
//! `data`).
//!
//! A collection's evolution (its tables' new columns, their backfill and
//! their record in `pipeline_schemas`) is one transaction, run before the
//! crawl writes: a crash leaves all of it or none, and the next open redoes
//! none of it twice. Inside it rows are read and updated in key order, a
//! chunk at a time, so memory stays bounded whatever the table's size.

use std::fmt::Write;

use crawlpipe_core::RawItem;
use sqlx::{AssertSqlSafe, Connection, Row};

use super::backend::{Backend, Bind, Pool, Statement, TxPlan};
use super::coerce::coerce;
use super::columns::DocColumn;
use super::dialect::Dialect;
use super::encode::{Batch, ColumnType, SqlValue};
use super::ident::TableName;

/// Rows per chunk (fewer when the row is wide: SQLite binds every value).
const CHUNK: usize = 5_000;

/// How a table's rows are identified: a collection's table by `key`, an
/// unnested child table by (`parent_key`, `idx`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowKey {
    Key,
    ParentIdx,
}

/// Columns of one table to fill from `data`.
#[derive(Debug, Clone)]
pub(crate) struct Fill {
    pub(crate) table: TableName,
    pub(crate) rows: RowKey,
    pub(crate) columns: Vec<DocColumn>,
}

/// Runs `ddl`, fills every `fills` and runs `statements`, all in one
/// transaction; returns the rows filled.
pub(crate) async fn evolve_in_one(
    pool: &Pool,
    ddl: Vec<String>,
    fills: &[Fill],
    statements: Vec<Statement<'_>>,
) -> Result<u64, sqlx::Error> {
    let dialect = pool.dialect();
    let start = TxPlan {
        ddl,
        ..TxPlan::default()
    };
    let end = TxPlan {
        statements,
        ..TxPlan::default()
    };
    macro_rules! run {
        ($db:ty, $p:expr) => {{
            let mut conn = <$db as Backend>::acquire($p).await?;
            let mut tx = <$db as Backend>::begin(&mut conn, false).await?;
            let ran = async {
                <$db as Backend>::run_plan(&mut tx, &start).await?;
                let mut total = 0;
                for fill in fills {
                    total += fill_table::<$db>(&mut tx, dialect, fill).await?;
                }
                <$db as Backend>::run_plan(&mut tx, &end).await?;
                Ok::<u64, sqlx::Error>(total)
            }
            .await;
            let outcome = match ran {
                Ok(total) => tx.commit().await.map(|()| total),
                Err(e) => {
                    if let Err(rollback) = tx.rollback().await {
                        tracing::warn!(%rollback, "rolling back a failed backfill failed");
                    }
                    Err(e)
                }
            };
            if outcome.is_err() && conn.is_in_transaction() {
                conn.close_on_drop();
            }
            outcome
        }};
    }
    match pool {
        #[cfg(feature = "sqlite")]
        Pool::Sqlite(p) => run!(sqlx::Sqlite, p),
        #[cfg(feature = "postgres")]
        Pool::Postgres(p) => run!(sqlx::Postgres, p),
    }
}

/// Fills `fill` chunk by chunk inside the caller's transaction.
async fn fill_table<DB>(
    conn: &mut <DB as sqlx::Database>::Connection,
    dialect: Dialect,
    fill: &Fill,
) -> Result<u64, sqlx::Error>
where
    DB: Backend,
    for<'c> &'c mut <DB as sqlx::Database>::Connection: sqlx::Executor<'c, Database = DB>,
    <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    for<'q> Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'r> String: sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    usize: sqlx::ColumnIndex<<DB as sqlx::Database>::Row>,
{
    let key_width = usize::from(fill.rows == RowKey::ParentIdx);
    let chunk = CHUNK.min(dialect.max_binds() / (1 + key_width + fill.columns.len()));
    let first = select_chunk(dialect, fill, chunk, false);
    let next = select_chunk(dialect, fill, chunk, true);
    let mut types = Vec::with_capacity(key_width + fill.columns.len());
    if key_width == 1 {
        types.push(ColumnType::Integer);
    }
    types.extend(fill.columns.iter().map(|c| c.ty));
    let mut after: Option<(String, i64)> = None;
    let mut total = 0u64;
    loop {
        let sql = if after.is_some() {
            next.as_str()
        } else {
            first.as_str()
        };
        let mut q = sqlx::query(AssertSqlSafe(sql));
        if let Some((key, idx)) = &after {
            q = DB::bind(q, Bind::Text(Some(key.as_str())));
            if key_width == 1 {
                q = DB::bind(q, Bind::Int(*idx));
            }
        }
        let rows = q.fetch_all(&mut *conn).await?;
        let mut batch = Batch {
            width: key_width + fill.columns.len(),
            ..Batch::default()
        };
        for row in &rows {
            let key: String = row.try_get(0)?;
            let idx: i64 = match key_width {
                1 => row.try_get(1)?,
                _ => 0,
            };
            let data: Option<String> = row.try_get(1 + key_width)?;
            let item = data.and_then(|d| RawItem::new(d).ok());
            if key_width == 1 {
                batch.values.push(SqlValue::Int(idx));
            }
            for c in &fill.columns {
                let value = item.as_ref().and_then(|i| i.pointer(&c.pointer));
                batch
                    .values
                    .push(coerce(value.as_ref(), c.ty).unwrap_or(SqlValue::Null(c.ty)));
            }
            batch.keys.push(key);
            after = Some((batch.keys[batch.keys.len() - 1].clone(), idx));
        }
        let n = batch.keys.len();
        if n == 0 {
            return Ok(total);
        }
        total += n as u64;
        let order: Vec<usize> = (0..n).collect();
        let sql = update(dialect, fill, n);
        let q = sqlx::query(AssertSqlSafe(sql));
        DB::bind_rows(q, &batch, &order, &types)
            .execute(&mut *conn)
            .await?;
        if n < chunk {
            return Ok(total);
        }
    }
}

/// The first (`after`: the next) `n` rows' keys and `data` (as text), in key order.
fn select_chunk(dialect: Dialect, fill: &Fill, n: usize, after: bool) -> String {
    let table = &fill.table;
    let data = match dialect {
        #[cfg(feature = "sqlite")]
        Dialect::Sqlite => "\"data\"",
        #[cfg(feature = "postgres")]
        Dialect::Postgres => "\"data\"::text",
    };
    let p = dialect.placeholders(2);
    let (keys, filter) = match fill.rows {
        RowKey::Key => ("\"key\"", format!("\"key\" > {}", p[0])),
        RowKey::ParentIdx => (
            "\"parent_key\", \"idx\"",
            format!("(\"parent_key\", \"idx\") > ({}, {})", p[0], p[1]),
        ),
    };
    let filter = match after {
        true => format!(" WHERE {filter}"),
        false => String::new(),
    };
    format!("SELECT {keys}, {data} FROM {table}{filter} ORDER BY {keys} LIMIT {n}")
}

/// `UPDATE` of `rows` rows' columns by key, bound like an upsert (the key,
/// `idx` for a child table, then the values).
fn update(dialect: Dialect, fill: &Fill, rows: usize) -> String {
    let table = &fill.table;
    let columns = &fill.columns;
    let child = fill.rows == RowKey::ParentIdx;
    let first = 2 + usize::from(child);
    let mut sql = format!("UPDATE {table} AS \"pipeline_t\" SET ");
    match dialect {
        #[cfg(feature = "sqlite")]
        Dialect::Sqlite => {
            for (i, c) in columns.iter().enumerate() {
                let sep = if i > 0 { ", " } else { "" };
                let _ = write!(sql, "{sep}{} = \"pipeline_v\".column{}", c.name, i + first);
            }
            sql.push_str(" FROM (VALUES ");
            let tuple = format!("({})", vec!["?"; first - 1 + columns.len()].join(", "));
            sql.push_str(&vec![tuple; rows].join(", "));
            sql.push_str(") AS \"pipeline_v\" WHERE ");
            sql.push_str(match child {
                true => {
                    "\"pipeline_t\".\"parent_key\" = \"pipeline_v\".column1 \
                     AND \"pipeline_t\".\"idx\" = \"pipeline_v\".column2"
                }
                false => "\"pipeline_t\".\"key\" = \"pipeline_v\".column1",
            });
        }
        #[cfg(feature = "postgres")]
        Dialect::Postgres => {
            let _ = rows;
            for (i, c) in columns.iter().enumerate() {
                let sep = if i > 0 { ", " } else { "" };
                let _ = write!(sql, "{sep}{} = \"pipeline_v\".{}", c.name, c.name);
            }
            sql.push_str(" FROM UNNEST($1::text[]");
            if child {
                let _ = write!(sql, ", $2::{}", dialect.array_cast(ColumnType::Integer));
            }
            for (i, c) in columns.iter().enumerate() {
                let _ = write!(sql, ", ${}::{}", i + first, dialect.array_cast(c.ty));
            }
            sql.push_str(") AS \"pipeline_v\"(\"pipeline_key\"");
            if child {
                sql.push_str(", \"pipeline_idx\"");
            }
            for c in columns {
                let _ = write!(sql, ", {}", c.name);
            }
            sql.push_str(match child {
                true => {
                    ") WHERE \"pipeline_t\".\"parent_key\" = \"pipeline_v\".\"pipeline_key\" \
                     AND \"pipeline_t\".\"idx\" = \"pipeline_v\".\"pipeline_idx\""
                }
                false => ") WHERE \"pipeline_t\".\"key\" = \"pipeline_v\".\"pipeline_key\"",
            });
        }
    }
    sql
}
