//! What the runner tells its subscribers.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::broadcast;
use tokio::time::Instant;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use super::CollectionError;
use crate::Cursor;

/// Something that happened to one collection; see [`Runner::events`](super::Runner::events).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RunnerEvent {
    /// The collection's first pipeline of this run was started.
    Started {
        /// The collection.
        collection: Arc<str>,
        /// Where it started (`None`: the first page).
        from: Option<Cursor>,
    },
    /// The collection's pipeline made progress (a page fetched or a batch written).
    Page {
        /// The collection.
        collection: Arc<str>,
        /// Pages fetched in this run, every attempt counted.
        pages: u64,
        /// Items fetched in this run.
        items_fetched: u64,
        /// Items written in this run.
        items_written: u64,
    },
    /// The collection's pipeline failed. Items sent before the failure were written.
    Failed {
        /// The collection.
        collection: Arc<str>,
        /// What went wrong.
        error: CollectionError,
        /// Where a resumed attempt starts.
        resume_from: Option<Cursor>,
        /// True when the runner will resume it at `next_attempt_at`;
        /// false when the collection is now `Failed` for good.
        will_retry: bool,
        /// When the next attempt starts, if there is one.
        next_attempt_at: Option<Instant>,
    },
    /// A new attempt of the collection was started after a failure.
    Resumed {
        /// The collection.
        collection: Arc<str>,
        /// Resumes so far, this one included.
        attempt: u32,
        /// Where the attempt starts.
        from: Option<Cursor>,
    },
    /// The collection completed: every item was written.
    Completed {
        /// The collection.
        collection: Arc<str>,
        /// Pages fetched in this run.
        pages: u64,
        /// Items written in this run.
        items_written: u64,
    },
    /// The collection was cancelled by a shutdown; its checkpoint was saved.
    Cancelled {
        /// The collection.
        collection: Arc<str>,
        /// Where the next run resumes.
        resume_from: Option<Cursor>,
    },
}

impl RunnerEvent {
    /// The collection the event is about.
    pub fn collection(&self) -> &str {
        match self {
            Self::Started { collection, .. }
            | Self::Page { collection, .. }
            | Self::Failed { collection, .. }
            | Self::Resumed { collection, .. }
            | Self::Completed { collection, .. }
            | Self::Cancelled { collection, .. } => collection,
        }
    }
}

/// A stream of [`RunnerEvent`]s, from [`Runner::events`](super::Runner::events).
///
/// Backed by a broadcast channel: a subscriber that falls behind by more
/// than the runner's event capacity misses the oldest events (counted in
/// [`missed`](Self::missed) and logged) instead of slowing the pipelines.
/// The stream ends after the runner's last event.
#[must_use = "streams do nothing unless polled"]
#[derive(Debug)]
pub struct RunnerEvents {
    inner: BroadcastStream<RunnerEvent>,
    missed: u64,
}

impl RunnerEvents {
    pub(crate) fn new(rx: broadcast::Receiver<RunnerEvent>) -> Self {
        Self {
            inner: BroadcastStream::new(rx),
            missed: 0,
        }
    }

    /// Events dropped because this subscriber fell behind.
    pub fn missed(&self) -> u64 {
        self.missed
    }
}

impl Stream for RunnerEvents {
    type Item = RunnerEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<RunnerEvent>> {
        loop {
            match Pin::new(&mut self.inner).poll_next(cx) {
                Poll::Ready(Some(Err(BroadcastStreamRecvError::Lagged(n)))) => {
                    tracing::warn!(missed = n, "runner event subscriber fell behind");
                    self.missed += n;
                }
                Poll::Ready(Some(Ok(event))) => return Poll::Ready(Some(event)),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
