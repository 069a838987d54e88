use tokio::time::Instant;

use crate::{Cursor, StageError, Validation};

/// What flows on an edge between two stages: a chunk of items, or a control marker.
///
/// Edges carry chunks (at most one page, or the edge's capacity), not single
/// items: the per-item cost is a `Vec` push, not a channel operation.
#[derive(Debug, Clone)]
pub enum Event<T> {
    /// A chunk of items, in order.
    Items(Vec<T>),
    /// An in-band marker; transforms forward these unchanged and in order.
    Control(Control),
}

/// In-band control markers.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Control {
    /// Every item sent before this marker is covered: restarting the source
    /// from this cursor yields exactly the items after it. Sinks persist it
    /// atomically with (or strictly after) those items.
    Checkpoint(Cursor),
    /// Terminal. The producer could not go on and sends nothing after this.
    /// Items already sent still flow to the sink and are written.
    Failed(Failure),
    /// How the conditional request of the page whose items came just
    /// before was answered; sent before the page's checkpoint. A sink that
    /// keeps validators stores it with those items (see
    /// [`Validators`](crate::Validators)).
    Validated(Validation),
}

/// Why and where a pipeline stopped early, and when to try again.
#[derive(Debug, Clone)]
pub struct Failure {
    /// What went wrong. Its `Display` never contains secrets.
    pub error: StageError,
    /// The cursor of the page that failed: a resumed run starts there.
    /// `None` means start over from the beginning.
    pub resume_from: Option<Cursor>,
    /// The earliest sensible time to retry (a `Retry-After`, an open breaker's cooldown).
    pub retry_at: Option<Instant>,
}

impl Failure {
    /// A failure with no retry hint.
    pub fn new(error: StageError, resume_from: Option<Cursor>) -> Self {
        Self {
            error,
            resume_from,
            retry_at: None,
        }
    }

    /// Sets the earliest sensible retry time.
    #[must_use]
    pub fn retry_at(mut self, at: Instant) -> Self {
        self.retry_at = Some(at);
        self
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}
