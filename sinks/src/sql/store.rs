//! The checkpoint store over a database's checkpoint table.

use async_trait::async_trait;
use crawlpipe_core::{Checkpoint, CheckpointError, CheckpointStore, State, StateRecord};

use super::backend::{Statement, TxPlan};
use super::checkpoint_row::{CheckpointSql, decode};
use super::database::Database;

impl Database {
    /// The checkpoint store over this database's checkpoint table.
    pub fn checkpoint_store(&self) -> SqlCheckpointStore {
        SqlCheckpointStore {
            sql: CheckpointSql::new(self.inner.pool.dialect(), &self.inner.checkpoints),
            db: self.clone(),
        }
    }
}

/// A [`CheckpointStore`] over the checkpoint table of a [`Database`]
/// (by default `pipeline_checkpoints`): one row per collection with its
/// cursor, state, pages, items written, last error and `updated_at`
/// (milliseconds since the Unix epoch).
///
/// SQL sinks write the cursor, pages and items written into the same table
/// in each batch's transaction, so [`load`](CheckpointStore::load) returns
/// exactly what is committed; [`record`](CheckpointStore::record) writes
/// only the state and last error, never those. A row that cannot be
/// understood (an unknown state, a negative count, a column of the wrong
/// type) is [`CheckpointError::Corrupt`], never a silent restart from the
/// first page.
#[derive(Debug, Clone)]
pub struct SqlCheckpointStore {
    db: Database,
    sql: CheckpointSql,
}

#[async_trait]
impl CheckpointStore for SqlCheckpointStore {
    async fn load(&self, collection: &str) -> Result<Option<Checkpoint>, CheckpointError> {
        let row = self
            .db
            .inner
            .pool
            .load(self.sql.select(), collection)
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

    async fn record(
        &self,
        collection: &str,
        state: State,
        last_error: Option<&str>,
    ) -> Result<(), CheckpointError> {
        self.run(vec![self.sql.record(collection, state, last_error)], collection)
            .await
    }

    /// All of them in one transaction: one commit for a runner's batch.
    async fn record_states(&self, records: &[StateRecord]) -> Result<(), CheckpointError> {
        let Some(first) = records.first() else {
            return Ok(());
        };
        let statements = records
            .iter()
            .map(|r| self.sql.record(&r.collection, r.state, r.last_error.as_deref()))
            .collect();
        self.run(statements, &first.collection).await
    }
}

impl SqlCheckpointStore {
    /// Runs `statements` in one transaction; an error names `collection`.
    async fn run(&self, statements: Vec<Statement<'_>>, collection: &str) -> Result<(), CheckpointError> {
        let plan = TxPlan {
            statements,
            ..TxPlan::default()
        };
        self.db
            .inner
            .pool
            .run_tx(&plan, false)
            .await
            .map_err(|e| CheckpointError::Backend {
                collection: collection.to_owned(),
                source: Box::new(e),
            })
    }
}
