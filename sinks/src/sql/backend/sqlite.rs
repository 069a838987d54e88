//! SQLite's own parts of [`Backend`]: `BEGIN IMMEDIATE` and binding a
//! batch as multi-row `VALUES`.

use std::sync::Arc;

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
        // Text goes as an `Arc<str>`, which the driver keeps as it is (a
        // `&str` it copies into a `String`, then boxes in an `Arc`).
        let text = |s: &str| Arc::<str>::from(s);
        for &i in rows {
            let (key, values) = batch.row(i);
            q = q.bind(text(key));
            for v in values {
                q = match v {
                    SqlValue::Null(_) => q.bind(None::<&str>),
                    SqlValue::Text(s) => q.bind(text(s)),
                    SqlValue::Int(i) => q.bind(*i),
                    SqlValue::Real(f) => q.bind(*f),
                    SqlValue::Bool(b) => q.bind(*b),
                    SqlValue::Timestamp { text: t, .. } | SqlValue::Date { text: t, .. } => q.bind(text(t)),
                    SqlValue::Json(j) => q.bind(sqlx::types::Json(j)),
                    SqlValue::RawJson(r) => q.bind(text(r.as_str())),
                };
            }
        }
        q
    }
}
