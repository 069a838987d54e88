use std::time::Duration;

use crate::{Cursor, Failure};

/// How a pipeline ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The source reached its last page and every item was written.
    Completed,
    /// A stage could not go on; everything sent before the failure was written.
    Failed(Failure),
    /// Cancelled through its token; the source stopped at a page boundary.
    Cancelled,
}

impl Outcome {
    /// Whether the pipeline completed.
    pub fn is_completed(&self) -> bool {
        matches!(self, Self::Completed)
    }

    /// The failure, if the pipeline failed.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Self::Failed(f) => Some(f),
            _ => None,
        }
    }
}

/// What a finished pipeline did; returned by [`PipelineHandle::join`](crate::PipelineHandle::join).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Report {
    /// The collection's name.
    pub collection: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Items the source produced.
    pub items_fetched: u64,
    /// Items the sink committed.
    pub items_written: u64,
    /// Items a `try_map` with [`ItemErrorPolicy::Skip`](crate::ItemErrorPolicy::Skip) dropped.
    pub items_skipped: u64,
    /// Items the sink set aside instead of writing them (an SQL sink's
    /// `pipeline_rejected`).
    pub items_rejected: u64,
    /// Pages fetched.
    pub pages: u64,
    /// Pages skipped by a rule of the source (at most one: a skip ends the run).
    pub pages_skipped: u64,
    /// Pages answered `304 Not Modified` (counted in `pages` too).
    pub pages_not_modified: u64,
    /// The page skipped, if any: its cursor and why.
    pub last_skipped: Option<String>,
    /// Where a new run should start: the last committed checkpoint, or the
    /// cursor this run started from if none was committed. `None` after a
    /// completed run, or when a new run must start from the beginning.
    pub resume_from: Option<Cursor>,
    /// Wall time from spawn to the end.
    pub elapsed: Duration,
    /// False when the drain deadline passed and remaining tasks were aborted.
    pub drained: bool,
}
