//! The in-memory [`RunHistory`]: a runner's default, kept for the life of
//! the process.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::SystemTime;

use async_trait::async_trait;

use super::{RunHistory, RunOutcome, RunRecord};
use crate::BoxError;

/// Runs kept for [`RunHistory::recorded_after`] (the newest).
const LOG_KEPT: usize = 4096;

/// Keeps each collection's newest runs in memory (as many as the runner's
/// [`history`](crate::runner::RunnerBuilder::history_keep) setting says).
///
/// # Examples
///
/// ```
/// use std::time::SystemTime;
/// use crawlpipe_core::history::{MemoryRunHistory, RunHistory, RunOutcome, RunRecord};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), crawlpipe_core::BoxError> {
/// let history = MemoryRunHistory::new();
/// let now = SystemTime::now();
/// for outcome in [RunOutcome::Completed, RunOutcome::Failed, RunOutcome::Completed] {
///     history.record(&RunRecord::new("a", now, now, outcome), 2).await?;
/// }
/// let runs = history.runs("a", 10).await?;
/// assert_eq!(runs.len(), 2); // the oldest was pruned
/// assert_eq!(runs[1].outcome, RunOutcome::Failed); // newest first
/// assert!(history.last_success("a").await?.is_some());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Default)]
pub struct MemoryRunHistory {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Per collection, oldest first.
    runs: HashMap<String, VecDeque<RunRecord>>,
    /// Per collection, the end of its last completed run (kept past pruning).
    last_success: HashMap<String, SystemTime>,
    /// The newest runs with their marks, for `recorded_after`.
    log: VecDeque<(u64, RunRecord)>,
    mark: u64,
}

impl MemoryRunHistory {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl RunHistory for MemoryRunHistory {
    async fn record(&self, run: &RunRecord, keep: usize) -> Result<(), BoxError> {
        let mut inner = self.lock();
        let runs = inner.runs.entry(run.collection.clone()).or_default();
        runs.push_back(run.clone());
        while runs.len() > keep.max(1) {
            runs.pop_front();
        }
        if run.outcome == RunOutcome::Completed {
            let last = inner
                .last_success
                .entry(run.collection.clone())
                .or_insert(run.ended_at);
            *last = (*last).max(run.ended_at);
        }
        inner.mark += 1;
        let mark = inner.mark;
        if inner.log.len() == LOG_KEPT {
            inner.log.pop_front();
        }
        inner.log.push_back((mark, run.clone()));
        Ok(())
    }

    async fn runs(&self, collection: &str, limit: usize) -> Result<Vec<RunRecord>, BoxError> {
        let inner = self.lock();
        Ok(inner
            .runs
            .get(collection)
            .map(|runs| runs.iter().rev().take(limit).cloned().collect())
            .unwrap_or_default())
    }

    async fn last_success(&self, collection: &str) -> Result<Option<SystemTime>, BoxError> {
        Ok(self.lock().last_success.get(collection).copied())
    }

    async fn recorded_after(
        &self,
        mark: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<RunRecord>, u64), BoxError> {
        let inner = self.lock();
        let Some(after) = mark else {
            return Ok((Vec::new(), inner.mark));
        };
        let runs: Vec<(u64, RunRecord)> = inner
            .log
            .iter()
            .filter(|(m, _)| *m > after)
            .take(limit)
            .cloned()
            .collect();
        let next = runs.last().map_or(after, |(m, _)| *m);
        Ok((runs.into_iter().map(|(_, r)| r).collect(), next))
    }
}
