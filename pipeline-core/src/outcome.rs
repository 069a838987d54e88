use std::time::Duration;

use crate::{Cursor, Failure, Progress};

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
    /// Pages and items (at most one page skipped: a skip ends the run).
    pub progress: Progress,
    /// Where a new run should start: the last committed checkpoint, or the
    /// cursor this run started from if none was committed. `None` after a
    /// completed run, or when a new run must start from the beginning.
    pub cursor: Option<Cursor>,
    /// Wall time from spawn to the end.
    pub elapsed: Duration,
    /// False when the drain deadline passed and remaining tasks were aborted.
    pub drained: bool,
}
