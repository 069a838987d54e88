//! Filling columns of rows already stored from their `data`, with the same
//! rules as the write path (`coerce.rs`): a value that does not fit is
//! stored as NULL (the row is already in its table; it stays whole in
//! `data`). Rows are read and updated in key order, a chunk per
//! transaction, so memory stays bounded whatever the table's size; the
//! caller records the columns only after the last chunk, so a backfill cut
//! short runs again from the start.

use std::fmt::Write;
use std::sync::Arc;

use crawlpipe_core::RawItem;

use super::backend::{Bind, Pool, TxPlan};
use super::coerce::coerce;
use super::columns::DocColumn;
use super::dialect::Dialect;
use super::encode::{Batch, SqlValue};
use super::ident::TableName;
use super::query::texts;

/// Rows per chunk (fewer when the row is wide: SQLite binds every value).
const CHUNK: usize = 5_000;

/// Fills `columns` of every row of `table` from `data`; returns the rows read.
pub(crate) async fn backfill(
    pool: &Pool,
    table: &TableName,
    columns: &[DocColumn],
) -> Result<u64, sqlx::Error> {
    let dialect = pool.dialect();
    let chunk = CHUNK.min(dialect.max_binds() / (1 + columns.len()));
    let read = select_chunk(dialect, table, chunk);
    let types: Vec<_> = columns.iter().map(|c| c.ty).collect();
    let mut after = String::new();
    let mut total = 0u64;
    let mut statements: std::collections::HashMap<usize, Arc<str>> = std::collections::HashMap::new();
    loop {
        let rows = texts(pool, &read, &[Bind::Text(Some(&after))]).await?;
        if rows.is_empty() {
            return Ok(total);
        }
        let mut batch = Batch {
            width: columns.len(),
            ..Batch::default()
        };
        for row in rows {
            let mut cells = row.into_iter();
            let (Some(Some(key)), Some(data)) = (cells.next(), cells.next()) else {
                continue;
            };
            let item = data.and_then(|d| RawItem::new(d).ok());
            for c in columns {
                let value = item.as_ref().and_then(|i| i.pointer(&c.pointer));
                batch
                    .values
                    .push(coerce(value.as_ref(), c.ty).unwrap_or(SqlValue::Null(c.ty)));
            }
            batch.keys.push(key);
        }
        let n = batch.keys.len();
        total += n as u64;
        let Some(last) = batch.keys.last().cloned() else {
            return Ok(total);
        };
        let sql = statements
            .entry(n)
            .or_insert_with(|| update(dialect, table, columns, n).into())
            .clone();
        let order: Vec<usize> = (0..n).collect();
        let plan = TxPlan {
            batch: Some(&batch),
            upserts: vec![(sql, &order)],
            types: types.clone(),
            ..TxPlan::default()
        };
        pool.run_tx(&plan, false).await?;
        after = last;
    }
}

/// The next `n` rows' keys and `data` (as text) after a key.
fn select_chunk(dialect: Dialect, table: &TableName, n: usize) -> String {
    let p = dialect.placeholders(1);
    let data = match dialect {
        #[cfg(feature = "sqlite")]
        Dialect::Sqlite => "\"data\"",
        #[cfg(feature = "postgres")]
        Dialect::Postgres => "\"data\"::text",
    };
    format!(
        "SELECT \"key\", {data} FROM {table} WHERE \"key\" > {} ORDER BY \"key\" LIMIT {n}",
        p[0]
    )
}

/// `UPDATE` of `rows` rows' `columns` by key, bound like an upsert (key,
/// then the values).
fn update(dialect: Dialect, table: &TableName, columns: &[DocColumn], rows: usize) -> String {
    let mut sql = format!("UPDATE {table} AS \"pipeline_t\" SET ");
    match dialect {
        #[cfg(feature = "sqlite")]
        Dialect::Sqlite => {
            for (i, c) in columns.iter().enumerate() {
                let sep = if i > 0 { ", " } else { "" };
                let _ = write!(sql, "{sep}{} = \"pipeline_v\".column{}", c.name, i + 2);
            }
            sql.push_str(" FROM (VALUES ");
            let tuple = format!("({})", vec!["?"; 1 + columns.len()].join(", "));
            sql.push_str(&vec![tuple; rows].join(", "));
            sql.push_str(") AS \"pipeline_v\" WHERE \"pipeline_t\".\"key\" = \"pipeline_v\".column1");
        }
        #[cfg(feature = "postgres")]
        Dialect::Postgres => {
            let _ = rows;
            for (i, c) in columns.iter().enumerate() {
                let sep = if i > 0 { ", " } else { "" };
                let _ = write!(sql, "{sep}{} = \"pipeline_v\".{}", c.name, c.name);
            }
            sql.push_str(" FROM UNNEST($1::text[]");
            for (i, c) in columns.iter().enumerate() {
                let _ = write!(sql, ", ${}::{}", i + 2, dialect.array_cast(c.ty));
            }
            sql.push_str(") AS \"pipeline_v\"(\"key\"");
            for c in columns {
                let _ = write!(sql, ", {}", c.name);
            }
            sql.push_str(") WHERE \"pipeline_t\".\"key\" = \"pipeline_v\".\"key\"");
        }
    }
    sql
}
