//! Where finished runs are kept: the [`RunHistory`] trait.

use std::time::SystemTime;

use async_trait::async_trait;

use super::RunRecord;
use crate::BoxError;

/// A store of finished runs, per collection: the in-memory
/// [`MemoryRunHistory`](super::MemoryRunHistory), or a table shared by
/// processes (`crawlpipe_sinks::SqlRunHistory`, `pipeline_runs`).
///
/// The runner writes a record when a run ends and reads a collection's last
/// runs when it starts; `GET /collections/{name}/runs` reads it on each
/// request. Errors are logged and counted by the runner, never fatal to a
/// crawl.
#[async_trait]
pub trait RunHistory: Send + Sync + std::fmt::Debug + 'static {
    /// Records a finished run, then keeps at most `keep` runs of its
    /// collection (the newest; at least one).
    async fn record(&self, run: &RunRecord, keep: usize) -> Result<(), BoxError>;

    /// The collection's runs, newest first, at most `limit`.
    async fn runs(&self, collection: &str, limit: usize) -> Result<Vec<RunRecord>, BoxError>;

    /// When the collection's last completed run ended, if one is kept.
    async fn last_success(&self, collection: &str) -> Result<Option<SystemTime>, BoxError>;

    /// The runs recorded after `mark` (oldest first, at most `limit`) and
    /// the mark to pass next: how a process of a cluster learns the runs
    /// the others recorded. With `None`, no runs, only the current mark.
    async fn recorded_after(
        &self,
        mark: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<RunRecord>, u64), BoxError>;
}
