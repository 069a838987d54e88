//! How one attempt of a pipeline starts: where its source begins, whether
//! it is a fresh run, and under which lease fence its sink writes.

use crate::{Cursor, Fence};

/// Where an attempt's source begins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum StartAt {
    /// Where the sink's committed checkpoint says (the first page when it
    /// has none).
    #[default]
    Committed,
    /// At this cursor (`None`: the first page), whatever the sink holds: a
    /// caller's choice, or a runner resuming a failed attempt.
    Cursor(Option<Cursor>),
}

/// How one attempt starts; the one value a runner, a runnable and the sink
/// driver pass along (see `Pipeline::resume_from` and `Pipeline::fresh`).
#[derive(Debug, Clone, Default)]
pub(crate) struct AttemptStart {
    /// Where the source begins.
    pub(crate) at: StartAt,
    /// A new run that ignores what earlier runs stored (the sink's
    /// checkpoint, an incremental mark; a staging sink empties its table).
    pub(crate) fresh: bool,
    /// In a cluster, the lease's fence every write of the sink checks.
    pub(crate) fence: Option<Fence>,
}

impl AttemptStart {
    /// The cursor chosen for this attempt, if one was (`None` also for
    /// "the first page").
    pub(crate) fn chosen(&self) -> Option<Cursor> {
        match &self.at {
            StartAt::Committed => None,
            StartAt::Cursor(cursor) => cursor.clone(),
        }
    }

    /// Where the source begins, given the sink's committed cursor.
    pub(crate) fn resolve(&self, committed: Option<Cursor>) -> Option<Cursor> {
        match &self.at {
            StartAt::Committed => committed,
            StartAt::Cursor(cursor) => cursor.clone(),
        }
    }
}
