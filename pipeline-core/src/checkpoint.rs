use std::collections::HashMap;
use std::sync::Mutex;
use std::time::SystemTime;

use async_trait::async_trait;
use serde::Serialize;

use crate::status::unix_millis;
use crate::{CheckpointError, Cursor, State};

/// What is stored per collection: enough to resume it and to show where it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Checkpoint {
    /// The collection's name.
    pub collection: String,
    /// The last committed cursor: a resumed run starts here (`None`: from the beginning).
    pub cursor: Option<Cursor>,
    /// The collection's state when this was saved.
    pub state: State,
    /// Pages fetched in the run that saved this.
    pub pages: u64,
    /// Items committed in the run that saved this.
    pub items_written: u64,
    /// The last error, if any.
    pub last_error: Option<String>,
    /// When this was saved (milliseconds since the Unix epoch in JSON).
    #[serde(serialize_with = "unix_millis")]
    pub updated_at: SystemTime,
}

impl Checkpoint {
    /// A checkpoint for `collection` in `state`, with no cursor and zero counts.
    pub fn new(collection: impl Into<String>, state: State) -> Self {
        Self {
            collection: collection.into(),
            cursor: None,
            state,
            pages: 0,
            items_written: 0,
            last_error: None,
            updated_at: SystemTime::now(),
        }
    }

    /// Sets the cursor.
    #[must_use]
    pub fn with_cursor(mut self, cursor: Option<Cursor>) -> Self {
        self.cursor = cursor;
        self
    }

    /// Sets the counts.
    #[must_use]
    pub fn with_counts(mut self, pages: u64, items_written: u64) -> Self {
        self.pages = pages;
        self.items_written = items_written;
        self
    }

    /// Sets the last error.
    #[must_use]
    pub fn with_error(mut self, error: Option<String>) -> Self {
        self.last_error = error;
        self
    }
}

/// One collection's state as a runner records it, for
/// [`CheckpointStore::record_states`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StateRecord {
    /// The collection's name.
    pub collection: String,
    /// Its state.
    pub state: State,
    /// Its last error, if any.
    pub last_error: Option<String>,
}

impl StateRecord {
    /// `collection` in `state` with `last_error`.
    pub fn new(collection: impl Into<String>, state: State, last_error: Option<String>) -> Self {
        Self {
            collection: collection.into(),
            state,
            last_error,
        }
    }
}

/// Where collections' checkpoints live between runs (memory, SQLite, PostgreSQL).
///
/// Each part of a checkpoint has one writer. The sink owns the cursor and the
/// counts: it commits them with the items they cover (and reads them back in
/// [`Sink::open`](crate::Sink::open) to resume). A runner owns the state and
/// the last error, and records only those, through [`record`](Self::record).
#[async_trait]
pub trait CheckpointStore: Send + Sync + 'static {
    /// The stored checkpoint of `collection`, if any.
    ///
    /// # Errors
    ///
    /// [`CheckpointError::Corrupt`] when a stored checkpoint cannot be
    /// understood (never silently treated as "start over"), or
    /// [`CheckpointError::Backend`] when the store cannot be read.
    async fn load(&self, collection: &str) -> Result<Option<Checkpoint>, CheckpointError>;

    /// Records `collection`'s state and last error, leaving its cursor and
    /// counts as the sink committed them (a new row starts with none).
    ///
    /// # Errors
    ///
    /// [`CheckpointError::Backend`] when the store cannot be written.
    async fn record(
        &self,
        collection: &str,
        state: State,
        last_error: Option<&str>,
    ) -> Result<(), CheckpointError>;

    /// Records several collections' states at once, as
    /// [`record`](Self::record) does for each: a runner hands over the
    /// states that changed since its last write in one call, so a store
    /// that can should write them together (the SQL store: one
    /// transaction). The default records them one by one.
    ///
    /// # Errors
    ///
    /// The first [`CheckpointError::Backend`]; the default still tries
    /// every record.
    async fn record_states(&self, records: &[StateRecord]) -> Result<(), CheckpointError> {
        let mut first = Ok(());
        for r in records {
            let recorded = self.record(&r.collection, r.state, r.last_error.as_deref()).await;
            if first.is_ok() {
                first = recorded;
            }
        }
        first
    }
}

/// A checkpoint store in memory, for tests and one-shot runs. It holds what
/// runners record; sinks that keep cursors keep them in their own storage.
#[derive(Debug, Default)]
pub struct MemoryCheckpointStore {
    map: Mutex<HashMap<String, Checkpoint>>,
}

impl MemoryCheckpointStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl CheckpointStore for MemoryCheckpointStore {
    async fn load(&self, collection: &str) -> Result<Option<Checkpoint>, CheckpointError> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        Ok(map.get(collection).cloned())
    }

    async fn record(
        &self,
        collection: &str,
        state: State,
        last_error: Option<&str>,
    ) -> Result<(), CheckpointError> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let checkpoint = map
            .entry(collection.to_owned())
            .or_insert_with(|| Checkpoint::new(collection, state));
        checkpoint.state = state;
        checkpoint.last_error = last_error.map(str::to_owned);
        checkpoint.updated_at = SystemTime::now();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_store_records_state_only() {
        let store = MemoryCheckpointStore::new();
        assert!(store.load("a").await.unwrap().is_none());
        store.record("a", State::Retrying, Some("boom")).await.unwrap();
        let cp = store.load("a").await.unwrap().expect("recorded");
        assert_eq!(
            (cp.state, cp.last_error.as_deref(), cp.cursor),
            (State::Retrying, Some("boom"), None)
        );
        store.record("a", State::Completed, None).await.unwrap();
        assert_eq!(store.load("a").await.unwrap().unwrap().last_error, None);
    }
}
