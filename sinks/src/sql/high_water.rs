//! Incremental refresh: the high-water mark of a collection, in
//! `pipeline_high_water` next to its checkpoint row.
//!
//! Two values per collection: `since`, the greatest value of the
//! incremental field among the items of the last *completed* run (what the
//! next run asks the server for), and `pending`, the greatest value so far
//! in the run under way. The sink writes `pending` in each batch's
//! transaction, with the batch's cursor, and moves it to `since` in the
//! transaction that marks the run completed, so a failed or killed run
//! keeps the previous `since` and its resume continues the same maximum.

use std::cmp::Ordering;
use std::sync::Arc;

use super::backend::{Bind, Statement, TxPlan};
use super::database::Database;
use super::dialect::Dialect;
use super::query::texts;
use crate::Error;

const TABLE: &str = "\"pipeline_high_water\"";

/// Orders two marks: as numbers when both parse as numbers, else as strings
/// (ISO-8601 timestamps of one format order correctly as strings).
pub(crate) fn compare(a: &str, b: &str) -> Ordering {
    match (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => a.cmp(b),
    }
}

/// The greater of two optional marks.
pub(crate) fn max(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if compare(&b, &a) == Ordering::Greater {
            b
        } else {
            a
        }),
        (a, b) => a.or(b),
    }
}

pub(crate) fn create_table() -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {TABLE} (\"collection\" TEXT NOT NULL PRIMARY KEY, \
         \"since\" TEXT, \"pending\" TEXT)"
    )
}

/// The statements on the high-water table.
#[derive(Debug, Clone)]
pub(crate) struct HighWaterSql {
    pending: Arc<str>,
    promote: Arc<str>,
    reset: Arc<str>,
    select: String,
}

impl HighWaterSql {
    pub(crate) fn new(dialect: Dialect) -> Self {
        let p = dialect.placeholders(2);
        Self {
            pending: format!(
                "INSERT INTO {TABLE} (\"collection\", \"pending\") VALUES ({}, {}) ON CONFLICT (\"collection\") \
                 DO UPDATE SET \"pending\" = excluded.\"pending\"",
                p[0], p[1]
            )
            .into(),
            promote: format!(
                "UPDATE {TABLE} SET \"since\" = COALESCE(\"pending\", \"since\"), \"pending\" = NULL \
                 WHERE \"collection\" = {}",
                p[0]
            )
            .into(),
            reset: format!("UPDATE {TABLE} SET \"pending\" = NULL WHERE \"collection\" = {}", p[0]).into(),
            select: format!(
                "SELECT \"since\", \"pending\" FROM {TABLE} WHERE \"collection\" = {}",
                p[0]
            ),
        }
    }

    /// The run's maximum so far, in a batch's transaction.
    pub(crate) fn pending<'a>(&self, collection: &'a str, mark: &'a str) -> Statement<'a> {
        Statement {
            sql: self.pending.clone(),
            binds: vec![Bind::Text(Some(collection)), Bind::Text(Some(mark))],
        }
    }

    /// A completed run: its maximum becomes `since`.
    pub(crate) fn promote<'a>(&self, collection: &'a str) -> Statement<'a> {
        Statement {
            sql: self.promote.clone(),
            binds: vec![Bind::Text(Some(collection))],
        }
    }

    /// A new run: no maximum yet.
    pub(crate) fn reset<'a>(&self, collection: &'a str) -> Statement<'a> {
        Statement {
            sql: self.reset.clone(),
            binds: vec![Bind::Text(Some(collection))],
        }
    }

    /// Reads `(since, pending)`, creating the table if missing.
    pub(crate) async fn load(
        &self,
        db: &Database,
        collection: &str,
    ) -> Result<(Option<String>, Option<String>), Error> {
        let pool = &db.inner.pool;
        let plan = TxPlan {
            ddl: vec![create_table()],
            ..TxPlan::default()
        };
        pool.run_tx(&plan, false).await?;
        let rows = texts(pool, &self.select, &[Bind::Text(Some(collection))]).await?;
        let mut row = rows.into_iter().next().unwrap_or_default().into_iter();
        Ok((row.next().flatten(), row.next().flatten()))
    }
}

impl Database {
    /// The high-water mark `since` of `collection`: the greatest value of
    /// its incremental field among the items of its last completed run, as
    /// committed by a sink built with `high_water` (`None` before the first
    /// completed run). The next run passes it to the server.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] when the database fails.
    pub async fn high_water(&self, collection: &str) -> Result<Option<String>, Error> {
        let sql = HighWaterSql::new(self.inner.pool.dialect());
        Ok(sql.load(self, collection).await?.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_as_numbers_and_the_rest_as_strings() {
        assert_eq!(compare("10", "9"), Ordering::Greater);
        assert_eq!(
            compare("2024-01-02T00:00:00Z", "2024-01-01T23:59:59Z"),
            Ordering::Greater
        );
        assert_eq!(compare("10", "9a"), Ordering::Less);
        assert_eq!(max(Some("9".into()), Some("10".into())).as_deref(), Some("10"));
        assert_eq!(max(None, Some("a".into())).as_deref(), Some("a"));
    }
}
