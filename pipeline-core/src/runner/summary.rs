//! What the runner returns per collection when it is done.

use std::time::Duration;

use super::CollectionError;
use crate::{Cursor, Progress, State};

/// How one collection ended; returned by [`Runner::join`](super::Runner::join).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CollectionSummary {
    /// The collection's name.
    pub collection: String,
    /// Its final state: `Completed`, `Failed` or `Cancelled`.
    pub state: State,
    /// Pages and items of this run, every attempt counted.
    pub progress: Progress,
    /// Resumes after failures in this run.
    pub resumes: u32,
    /// Time from the runner's start to the collection's end.
    pub elapsed: Duration,
    /// The last error, if any (kept when the collection later completed).
    pub last_error: Option<CollectionError>,
    /// Where the next run resumes (`None` after `Completed`).
    pub cursor: Option<Cursor>,
    /// Runs completed since the runner started (more than one for a
    /// service's scheduled collection).
    pub runs: u64,
}
