use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use async_trait::async_trait;
use futures::FutureExt;

use crate::edge::EdgeSender;
use crate::shared::{Shared, SourceExit, panic_message};
use crate::{Control, Cursor, Failure, FetchError, StageError};

/// A free-running producer, for streams that are not paged (a websocket, a
/// file tail, a queue). It pushes chunks and checkpoints through an [`Emitter`].
///
/// Prefer [`Paged`](crate::Paged) when the remote is paged: the framework
/// then handles retries, prefetching, loops and page limits.
///
/// # Examples
///
/// ```
/// use async_trait::async_trait;
/// use pipeline_core::{Cursor, Emitter, FetchError, Source};
///
/// struct Countdown(u32);
///
/// #[async_trait]
/// impl Source for Countdown {
///     type Item = u32;
///     async fn run(&mut self, emitter: &mut Emitter<u32>) -> Result<(), FetchError> {
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
pub trait Source: Send + 'static {
    /// The items this source yields.
    type Item: Send + 'static;

    /// Produces items until the input ends (return `Ok`), the emitter says the
    /// pipeline is cancelled or gone (return `Ok`), or it cannot go on.
    ///
    /// # Errors
    ///
    /// A classified [`FetchError`]; the driver turns it into `Control::Failed`
    /// resuming from the last checkpoint this source emitted.
    async fn run(&mut self, emitter: &mut Emitter<Self::Item>) -> Result<(), FetchError>;
}

/// The downstream of the pipeline is gone (it failed or was cancelled): stop producing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the pipeline downstream of this source has stopped")]
pub struct Disconnected;

/// A [`Source`]'s handle to send items and checkpoints downstream.
pub struct Emitter<T> {
    out: EdgeSender<T>,
    shared: Arc<Shared>,
    last_checkpoint: Option<Cursor>,
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
        self.shared.update(|s| s.items_fetched += n);
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
        self.shared.update(|s| s.pages += 1);
        Ok(())
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

/// Runs a free source, turning its error or panic into `Control::Failed`.
pub(crate) async fn run_source<S: Source>(mut source: S, out: EdgeSender<S::Item>, shared: Arc<Shared>) {
    let mut emitter = Emitter {
        out,
        shared: shared.clone(),
        last_checkpoint: shared.start.clone(),
    };
    let result = AssertUnwindSafe(source.run(&mut emitter)).catch_unwind().await;
    let collection = shared.collection.to_string();
    let resume_from = emitter.last_checkpoint.clone();
    let error = match result {
        Ok(Ok(())) => {
            let exit = if shared.cancel.is_cancelled() {
                SourceExit::Cancelled
            } else {
                SourceExit::Completed
            };
            shared.set_source_exit(exit);
            return;
        }
        Ok(Err(FetchError::Invalid { reason })) => StageError::Invalid {
            collection,
            cursor: resume_from.clone(),
            reason,
        },
        Ok(Err(FetchError::CircuitOpen { host, .. })) => StageError::CircuitOpen { collection, host },
        Ok(Err(e)) => StageError::Fetch {
            collection,
            cursor: resume_from.clone(),
            attempts: 1,
            kind: e.kind(),
            source: Arc::new(e),
        },
        Err(payload) => StageError::Panicked {
            collection,
            stage: "source".to_owned(),
            message: panic_message(&*payload),
        },
    };
    tracing::error!(collection = %shared.collection, %error, "source failed");
    let _ = emitter
        .out
        .send_control(Control::Failed(Failure::new(error, resume_from)))
        .await;
    shared.set_source_exit(SourceExit::Stopped);
}
