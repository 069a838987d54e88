//! Handles for whoever adds collections while a runner runs: a guard that
//! keeps a one-shot runner alive, and the end of one added collection.

use std::sync::Arc;

use tokio_util::task::task_tracker::TaskTrackerToken;

use super::CollectionSummary;
use super::entry::Entry;

/// Keeps a one-shot [`Runner`](super::Runner) from ending while it lives;
/// from [`Runner::hold`](super::Runner::hold). Dropping it lets the runner
/// end once every collection has.
#[derive(Debug)]
#[must_use = "the runner may end as soon as the hold is dropped"]
pub struct RunnerHold {
    _token: TaskTrackerToken,
}

impl RunnerHold {
    pub(crate) fn new(token: TaskTrackerToken) -> Self {
        Self { _token: token }
    }
}

/// The end of one collection added with
/// [`Runner::add_watched`](super::Runner::add_watched).
#[derive(Debug)]
#[must_use = "the end is only known when awaited"]
pub struct CollectionEnd {
    entry: Arc<Entry>,
}

impl CollectionEnd {
    pub(crate) fn new(entry: Arc<Entry>) -> Self {
        Self { entry }
    }

    /// The items the collection's current run has written so far (every
    /// attempt counted), updated as its batches commit: dependants can act on
    /// committed rows without polling, e.g. start the children they list.
    pub fn written(&self) -> tokio::sync::watch::Receiver<u64> {
        self.entry.written.subscribe()
    }

    /// Waits until the collection's task has ended and returns how its run
    /// ended (`None` when it never ran: removed or shut down before starting).
    pub async fn ended(self) -> Option<CollectionSummary> {
        self.entry.ended.cancelled().await;
        self.entry.summary()
    }
}
