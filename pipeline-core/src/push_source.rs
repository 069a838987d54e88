use std::sync::Arc;

use async_trait::async_trait;

use crate::edge::EdgeSender;
use crate::shared::Shared;
use crate::{Control, Cursor, FetchError};

/// A free-running producer ("push source"), for streams that are not paged (a websocket, a
/// file tail, a queue). It pushes chunks and checkpoints through an [`Emitter`].
///
/// Prefer [`Paged`](crate::Paged) when the remote is paged: the framework
/// then handles retries, prefetching, loops and page limits.
///
/// # Examples
///
/// ```
/// use async_trait::async_trait;
/// use crawlpipe_core::{Cursor, Emitter, FetchError, PushSource};
///
/// struct Countdown(u32);
///
/// #[async_trait]
/// impl PushSource for Countdown {
///     type Item = u32;
///     async fn run(&mut self, start: Option<Cursor>, emitter: &mut Emitter<u32>) -> Result<(), FetchError> {
///         // Resume below the last committed number: the sink already holds the rest.
///         if let Some(n) = start.and_then(|c| c.as_str().parse().ok()) {
///             self.0 = n;
///         }
///         while self.0 > 0 && !emitter.is_cancelled() {
///             if emitter.emit(vec![self.0]).await.is_err() {
///                 return Ok(()); // downstream is gone
///             }
///             self.0 -= 1;
///             let _ = emitter.checkpoint(Cursor::new(self.0.to_string())).await;
///         }
///         Ok(())
///     }
/// }
/// ```
#[async_trait]
pub trait PushSource: Send + 'static {
    /// The items this source yields.
    type Item: Send + 'static;

    /// Produces items until the input ends (return `Ok`), the emitter says the
    /// pipeline is cancelled or gone (return `Ok`), or it cannot go on.
    ///
    /// `start` is where this run begins: the cursor the sink committed last
    /// (handed back by `Sink::open`), or the pipeline's `resume_from`; `None`
    /// means from the beginning. A source must resume after it: items before it
    /// are already durable, and emitting them again duplicates them in sinks
    /// without upserts.
    ///
    /// # Errors
    ///
    /// A classified [`FetchError`]; the driver turns it into `Control::Failed`
    /// resuming from the last checkpoint this source emitted.
    async fn run(
        &mut self,
        start: Option<Cursor>,
        emitter: &mut Emitter<Self::Item>,
    ) -> Result<(), FetchError>;
}

/// The downstream of the pipeline is gone (it failed or was cancelled): stop producing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the pipeline downstream of this source has stopped")]
pub struct Disconnected;

/// A [`PushSource`]'s handle to send items and checkpoints downstream.
pub struct Emitter<T> {
    pub(crate) out: EdgeSender<T>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) last_checkpoint: Option<Cursor>,
}

impl<T> std::fmt::Debug for Emitter<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emitter")
            .field("collection", &self.shared.collection)
            .field("last_checkpoint", &self.last_checkpoint)
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static> Emitter<T> {
    /// Sends a chunk of items; waits while the pipeline is full (backpressure).
    ///
    /// # Errors
    ///
    /// [`Disconnected`] when the pipeline downstream has stopped.
    pub async fn emit(&mut self, items: Vec<T>) -> Result<(), Disconnected> {
        let n = items.len() as u64;
        self.out.send_items(items).await.map_err(|_| Disconnected)?;
        self.shared.meters.items_source.increment(n);
        self.shared.update(|s| s.progress.items_fetched += n);
        Ok(())
    }

    /// Marks every item emitted so far as covered by `cursor` (one "page").
    ///
    /// # Errors
    ///
    /// [`Disconnected`] when the pipeline downstream has stopped.
    pub async fn checkpoint(&mut self, cursor: Cursor) -> Result<(), Disconnected> {
        self.out
            .send_control(Control::Checkpoint(cursor.clone()))
            .await
            .map_err(|_| Disconnected)?;
        self.last_checkpoint = Some(cursor);
        self.shared.meters.pages.increment(1);
        self.shared.update(|s| s.progress.pages += 1);
        Ok(())
    }

    /// The last checkpoint this source emitted in this run, or the run's start
    /// cursor before the first: where a failure now would resume.
    pub fn last_checkpoint(&self) -> Option<&Cursor> {
        self.last_checkpoint.as_ref()
    }

    /// Whether the pipeline was cancelled; a source should stop at its next boundary.
    pub fn is_cancelled(&self) -> bool {
        self.shared.cancel.is_cancelled()
    }

    /// Resolves when the pipeline is cancelled.
    pub async fn cancelled(&self) {
        self.shared.cancel.cancelled().await;
    }
}
