//! What the runner returns per collection when it is done.

use std::time::Duration;

use super::CollectionError;
use crate::{Cursor, State};

/// How one collection ended; returned by [`Runner::join`](super::Runner::join).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CollectionSummary {
    /// The collection's name.
    pub collection: String,
    /// Its final state: `Completed`, `Failed` or `Cancelled`.
    pub state: State,
    /// Pages fetched in this run, every attempt counted.
    pub pages: u64,
    /// Items fetched in this run.
    pub items_fetched: u64,
    /// Items written in this run.
    pub items_written: u64,
    /// Pages skipped by a rule of the source in this run.
    pub pages_skipped: u64,
    /// Pages answered `304 Not Modified` in this run (counted in `pages`
    /// too): unchanged since the last run, nothing written for them.
    pub pages_not_modified: u64,
    /// The last page skipped: its cursor and why.
    pub last_skipped: Option<String>,
    /// Items the sink set aside instead of writing them to their table in
    /// this run (typed tables: `pipeline_rejected`).
    pub items_rejected: u64,
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
