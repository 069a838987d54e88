//! The checkpoint store over a database's checkpoint table.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use pipeline_core::{Checkpoint, CheckpointError, CheckpointStore, Cursor, State};

use super::backend::{CheckpointRow, RawCheckpoint, TxPlan};
use super::database::Database;

/// A [`CheckpointStore`] over the checkpoint table of a [`Database`]
/// (by default `pipeline_checkpoints`): one row per collection with its
/// cursor, state, pages, items written, last error and `updated_at`
/// (milliseconds since the Unix epoch).
///
/// SQL sinks write the cursor into the same table in each batch's
/// transaction, so [`load`](CheckpointStore::load) returns exactly what is
/// committed. A row that cannot be understood (an unknown state, a negative
/// count, a column of the wrong type) is [`CheckpointError::Corrupt`], never
/// a silent restart from the first page.
#[derive(Debug, Clone)]
pub struct SqlCheckpointStore {
    db: Database,
    select: Arc<str>,
    upsert: Arc<str>,
}

impl SqlCheckpointStore {
    pub(crate) fn new(db: Database) -> Self {
        let dialect = db.inner.pool.dialect();
        let table = &db.inner.checkpoints;
        Self {
            select: dialect.select_checkpoint(table).into(),
            upsert: dialect.upsert_checkpoint(table, true, true).into(),
            db,
        }
    }
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

#[async_trait]
impl CheckpointStore for SqlCheckpointStore {
    async fn load(&self, collection: &str) -> Result<Option<Checkpoint>, CheckpointError> {
        let row = self
            .db
            .inner
            .pool
            .load(&self.select, collection)
            .await
            .map_err(|e| CheckpointError::Backend {
                collection: collection.to_owned(),
                source: Box::new(e),
            })?;
        let corrupt = |reason: String| CheckpointError::Corrupt {
            collection: collection.to_owned(),
            reason,
        };
        match row {
            None => Ok(None),
            Some(Err(e)) => Err(corrupt(format!("the row cannot be read: {e}"))),
            Some(Ok(raw)) => decode(collection, raw).map(Some).map_err(corrupt),
        }
    }

    async fn save(&self, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        let collection = checkpoint.collection.as_str();
        let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let plan = TxPlan {
            checkpoint: Some(CheckpointRow {
                sql: self.upsert.clone(),
                collection,
                cursor: checkpoint.cursor.as_ref().map(Cursor::as_str),
                state: checkpoint.state.as_str(),
                pages: clamp(checkpoint.pages),
                items_written: clamp(checkpoint.items_written),
                last_error: checkpoint.last_error.as_deref(),
                updated_at: unix_millis(checkpoint.updated_at),
            }),
            ..TxPlan::default()
        };
        self.db
            .inner
            .pool
            .run_tx(&plan)
            .await
            .map_err(|e| CheckpointError::Backend {
                collection: collection.to_owned(),
                source: Box::new(e),
            })
    }
}
