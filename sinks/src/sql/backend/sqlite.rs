//! SQLite's own parts of [`Backend`]: `BEGIN IMMEDIATE` and binding a
//! batch as multi-row `VALUES`.

use sqlx::Connection;

use super::{Backend, Q};
use crate::sql::encode::{Batch, ColumnType, SqlValue};

impl Backend for sqlx::Sqlite {
    // BEGIN IMMEDIATE already serializes writers.
    const DDL_LOCK: Option<&'static str> = None;

    fn begin(
        conn: &mut sqlx::SqliteConnection,
        // Staging on SQLite upserts into the staging table: never asked.
        _: bool,
    ) -> impl Future<Output = Result<sqlx::Transaction<'_, Self>, sqlx::Error>> + Send {
        // Take the write lock up front: a deferred transaction that upgrades
        // later can fail with SQLITE_BUSY without waiting for the busy timeout.
        conn.begin_with("BEGIN IMMEDIATE")
    }

    fn bind_rows<'q>(mut q: Q<'q, Self>, batch: &Batch, rows: &[usize], _: &[ColumnType]) -> Q<'q, Self> {
        for &i in rows {
            let (key, values) = batch.row(i);
            q = q.bind(key);
            for v in values {
                q = match v {
                    SqlValue::Null(_) => q.bind(None::<&str>),
                    SqlValue::Text(s) => q.bind(s.as_str()),
                    SqlValue::Int(i) => q.bind(*i),
                    SqlValue::Real(f) => q.bind(*f),
                    SqlValue::Bool(b) => q.bind(*b),
                    SqlValue::Timestamp { text, .. } | SqlValue::Date { text, .. } => q.bind(text.as_str()),
                    SqlValue::Json(j) => q.bind(sqlx::types::Json(j)),
                    SqlValue::RawJson(r) => q.bind(r.as_str()),
                };
            }
        }
        q
    }
}
