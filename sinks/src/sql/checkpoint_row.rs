//! The checkpoint table's rows: their SQL, and decoding what is stored.
//!
//! Each column has one writer. The sink writes `cursor`, `pages` and
//! `items_written` in each batch's transaction ([`progress`]), resets them
//! when starting over ([`reset`]) and clears the cursor of a completed run
//! ([`complete`]). A runner writes only `state` and `last_error`
//! ([`record`]). A new row starts with no cursor and zero counts.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crawlpipe_core::{Checkpoint, Cursor, State};

use super::backend::{Bind, Statement};
use super::dialect::Dialect;
use super::ident::Ident;

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

/// Checks a stored row; `Err` is the reason it is corrupt.
pub(crate) fn decode(collection: &str, raw: RawCheckpoint) -> Result<Checkpoint, String> {
    let state = State::parse(&raw.state).ok_or_else(|| format!("unknown state {:?}", raw.state))?;
    let count = |name: &str, v: i64| u64::try_from(v).map_err(|_| format!("{name} is negative ({v})"));
    let pages = count("pages", raw.pages)?;
    let items = count("items_written", raw.items_written)?;
    let updated = count("updated_at", raw.updated_at)?;
    let mut checkpoint = Checkpoint::new(collection, state)
        .with_cursor(raw.cursor.map(Cursor::new))
        .with_counts(pages, items)
        .with_error(raw.last_error);
    checkpoint.updated_at = SystemTime::UNIX_EPOCH + Duration::from_millis(updated);
    Ok(checkpoint)
}

/// Milliseconds since the Unix epoch, as stored in `updated_at`.
pub(crate) fn unix_millis(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A count as stored (counts past `i64::MAX` are clamped).
pub(crate) fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn now() -> Bind<'static> {
    Bind::Int(unix_millis(SystemTime::now()))
}

/// The statements on one checkpoint table, prepared once per sink or store.
#[derive(Debug, Clone)]
pub(crate) struct CheckpointSql {
    progress: Arc<str>,
    progress_after: Arc<str>,
    holds: Arc<str>,
    complete: Arc<str>,
    record: Arc<str>,
    reset: Arc<str>,
    select: Arc<str>,
}

impl CheckpointSql {
    pub(crate) fn new(dialect: Dialect, table: &Ident) -> Self {
        let p = dialect.placeholders(7);
        let insert = |columns: &str, values: &str| {
            format!(
                "INSERT INTO {table} ({columns}) VALUES ({values}) ON CONFLICT (\"collection\") DO UPDATE SET "
            )
        };
        let progress = insert(
            "\"collection\", \"cursor\", \"state\", \"pages\", \"items_written\", \"updated_at\"",
            &format!("{}, {}, 'crawling', {}, {}, {}", p[0], p[1], p[2], p[3], p[4]),
        ) + "\"cursor\" = excluded.\"cursor\", \"pages\" = excluded.\"pages\", \
             \"items_written\" = excluded.\"items_written\", \"updated_at\" = excluded.\"updated_at\"";
        let complete = insert(
            "\"collection\", \"state\", \"pages\", \"items_written\", \"updated_at\"",
            &format!("{}, {}, {}, {}, {}", p[0], p[1], p[2], p[3], p[4]),
        ) + "\"cursor\" = NULL, \"state\" = excluded.\"state\", \"pages\" = excluded.\"pages\", \
             \"items_written\" = excluded.\"items_written\", \"last_error\" = NULL, \
             \"updated_at\" = excluded.\"updated_at\"";
        let record = insert(
            "\"collection\", \"state\", \"last_error\", \"updated_at\"",
            &format!("{}, {}, {}, {}", p[0], p[1], p[2], p[3]),
        ) + "\"state\" = excluded.\"state\", \"last_error\" = excluded.\"last_error\", \
             \"updated_at\" = excluded.\"updated_at\"";
        let reset = insert(
            "\"collection\", \"state\", \"updated_at\"",
            &format!("{}, 'crawling', {}", p[0], p[1]),
        ) + "\"cursor\" = NULL, \"pages\" = 0, \"items_written\" = 0, \"updated_at\" = excluded.\"updated_at\"";
        // The same upsert, changing the row only while it holds the counts
        // this run last committed, and saying whether it did.
        let progress_after = format!(
            "{progress} WHERE {table}.\"pages\" = {} AND {table}.\"items_written\" = {} RETURNING 1",
            p[5], p[6]
        );
        let holds = format!(
            "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM {table} WHERE \"collection\" = {} \
             AND (\"pages\" <> {} OR \"items_written\" <> {}))",
            p[0], p[1], p[2]
        );
        let select = format!(
            "SELECT \"cursor\", \"state\", \"pages\", \"items_written\", \"last_error\", \"updated_at\" \
             FROM {table} WHERE \"collection\" = {}",
            p[0]
        );
        Self {
            progress: progress.into(),
            progress_after: progress_after.into(),
            holds: holds.into(),
            complete: complete.into(),
            record: record.into(),
            reset: reset.into(),
            select: select.into(),
        }
    }

    /// The text of [`progress`](Self::progress).
    pub(crate) fn progress_sql(&self) -> &str {
        &self.progress
    }

    /// Reads a row. Binds: collection.
    pub(crate) fn select(&self) -> &str {
        &self.select
    }

    /// Moves the cursor and counts forward, in a batch's transaction.
    pub(crate) fn progress<'a>(
        &self,
        collection: &'a str,
        cursor: &'a str,
        pages: u64,
        items_written: u64,
    ) -> Statement<'a> {
        Statement {
            sql: self.progress.clone(),
            binds: vec![
                Bind::Text(Some(collection)),
                Bind::Text(Some(cursor)),
                Bind::Int(clamp(pages)),
                Bind::Int(clamp(items_written)),
                now(),
            ],
        }
    }

    /// [`progress`](Self::progress) only while the row holds `committed`
    /// (pages, items written; a missing row counts as zeros), returning a
    /// row when it wrote: the check of an asynchronously committed batch.
    pub(crate) fn progress_after<'a>(
        &self,
        collection: &'a str,
        cursor: &'a str,
        pages: u64,
        items_written: u64,
        committed: (u64, u64),
    ) -> Statement<'a> {
        let mut statement = self.progress(collection, cursor, pages, items_written);
        statement.sql = self.progress_after.clone();
        statement.binds.push(Bind::Int(clamp(committed.0)));
        statement.binds.push(Bind::Int(clamp(committed.1)));
        statement
    }

    /// Returns a row unless the collection's row holds counts other than
    /// `committed` (pages, items written): no row at all passes.
    pub(crate) fn holds<'a>(&self, collection: &'a str, committed: (u64, u64)) -> Statement<'a> {
        Statement {
            sql: self.holds.clone(),
            binds: vec![
                Bind::Text(Some(collection)),
                Bind::Int(clamp(committed.0)),
                Bind::Int(clamp(committed.1)),
            ],
        }
    }

    /// A completed run: no cursor (the next run starts over), final counts.
    pub(crate) fn complete<'a>(&self, collection: &'a str, pages: u64, items_written: u64) -> Statement<'a> {
        Statement {
            sql: self.complete.clone(),
            binds: vec![
                Bind::Text(Some(collection)),
                Bind::Text(Some(State::Completed.as_str())),
                Bind::Int(clamp(pages)),
                Bind::Int(clamp(items_written)),
                now(),
            ],
        }
    }

    /// State and last error only; cursor and counts stay as committed.
    pub(crate) fn record<'a>(
        &self,
        collection: &'a str,
        state: State,
        last_error: Option<&'a str>,
    ) -> Statement<'a> {
        Statement {
            sql: self.record.clone(),
            binds: vec![
                Bind::Text(Some(collection)),
                Bind::Text(Some(state.as_str())),
                Bind::Text(last_error),
                now(),
            ],
        }
    }

    /// Starting over: no cursor, zero counts.
    pub(crate) fn reset<'a>(&self, collection: &'a str) -> Statement<'a> {
        Statement {
            sql: self.reset.clone(),
            binds: vec![Bind::Text(Some(collection)), now()],
        }
    }
}

/// `CREATE TABLE IF NOT EXISTS` for the checkpoint table.
pub(crate) fn create_table(dialect: Dialect, table: &Ident) -> String {
    let int = dialect.integer();
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (\"collection\" TEXT NOT NULL PRIMARY KEY, \
         \"cursor\" TEXT, \"state\" TEXT NOT NULL, \"pages\" {int} NOT NULL DEFAULT 0, \
         \"items_written\" {int} NOT NULL DEFAULT 0, \"last_error\" TEXT, \
         \"updated_at\" {int} NOT NULL)"
    )
}

#[cfg(all(test, feature = "postgres"))]
mod tests {
    use super::*;

    #[test]
    fn progress_after_changes_the_row_only_at_the_committed_counts() {
        let sql = CheckpointSql::new(Dialect::Postgres, &Ident::new("table", "cp").unwrap());
        let statement = sql.progress_after("c", "next", 3, 30, (2, 20));
        assert_eq!(
            &*statement.sql,
            format!(
                "{} WHERE \"cp\".\"pages\" = $6 AND \"cp\".\"items_written\" = $7 RETURNING 1",
                sql.progress_sql()
            )
        );
        assert_eq!(statement.binds.len(), 7);
        assert!(matches!(statement.binds[5..], [Bind::Int(2), Bind::Int(20)]));
        let holds = sql.holds("c", (3, 30));
        assert_eq!(
            &*holds.sql,
            "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM \"cp\" WHERE \"collection\" = $1 \
             AND (\"pages\" <> $2 OR \"items_written\" <> $3))"
        );
        assert!(matches!(holds.binds[1..], [Bind::Int(3), Bind::Int(30)]));
    }
}
