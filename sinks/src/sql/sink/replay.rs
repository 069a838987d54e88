//! Replaying rejected items: the items of `pipeline_rejected` that fit the
//! table now (its columns were fixed) move back into it, in transactions
//! that write them and remove them from `pipeline_rejected` together.

use crawlpipe_core::{RawItem, Sink, SinkContext, SinkError};

use super::SqlSink;
use crate::sql::backend::Bind;
use crate::sql::encode::Batch;
use crate::sql::query::texts;
use crate::sql::rejected::select_page;

/// What [`SqlSink::replay_rejected`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplayReport {
    /// Items written to their table and removed from `pipeline_rejected`.
    pub replayed: u64,
    /// Items that still do not fit, left in `pipeline_rejected`.
    pub still_rejected: u64,
}

impl SqlSink<RawItem> {
    /// Moves the items of `collection` kept in `pipeline_rejected` that fit
    /// this sink's columns now into its table (and child tables), removing
    /// them from `pipeline_rejected` in the same transaction; the others
    /// stay; a keyless sink replays nothing. The collection's checkpoint is
    /// not touched. Build the sink as
    /// for the crawl (same columns, without staging), then call this
    /// instead of running a pipeline.
    ///
    /// # Errors
    ///
    /// As [`Sink::open`] and [`Sink::write`]: the table cannot be set up
    /// (e.g. a changed column without `migrate`), or a batch cannot commit.
    pub async fn replay_rejected(&mut self, collection: &str) -> Result<ReplayReport, SinkError> {
        // A keyless table keeps nothing there (`reject` is refused), and
        // its positions belong to runs: an item cannot be put back into one.
        if self.typed.is_none() || self.append.is_some() {
            return Ok(ReplayReport::default());
        }
        let ctx = SinkContext::new(collection, false);
        self.open(&ctx).await?;
        let failed = |e: sqlx::Error| SinkError::Write {
            collection: collection.to_owned(),
            source: Box::new(e),
        };
        let sql = select_page(self.dialect);
        let mut report = ReplayReport::default();
        let mut after = String::new();
        loop {
            let binds = [Bind::Text(Some(collection)), Bind::Text(Some(&after))];
            let rows = texts(&self.spec.db.inner.pool, &sql, &binds)
                .await
                .map_err(failed)?;
            let Some(last) = rows.last().and_then(|r| r.first().cloned().flatten()) else {
                return Ok(report);
            };
            after = last;
            let items: Vec<RawItem> = rows
                .into_iter()
                .filter_map(|r| RawItem::new(r.into_iter().nth(1).flatten()?).ok())
                .collect();
            let mut batch = Batch::default();
            if let Some(r) = self.encoder.encode(items, &mut batch).err() {
                return Err(SinkError::Rejected {
                    collection: collection.to_owned(),
                    index: r.index,
                    reason: r.reason,
                });
            }
            self.adopt_new_columns(&mut batch);
            report.still_rejected += batch.rejected.len() as u64;
            // Still rejected: kept as they are (their cursor is the crawl's).
            batch.rejected.clear();
            let order = batch.dedup_before(usize::MAX);
            report.replayed += order.len() as u64;
            let budget = self.retry_budget();
            self.commit(&batch, &order, None, budget, false, false)
                .await
                .map_err(|e| match e {
                    crate::sql::retry::CommitError::Sink(e) => e,
                    other => other.into_sink_error(collection),
                })?;
        }
    }
}
