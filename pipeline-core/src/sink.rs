use async_trait::async_trait;

use crate::{Cursor, Outcome, SinkError};

/// Anything that can write batches durably.
///
/// The sink driver calls `write` once per batch (never per item) and `finish`
/// once after the input is drained. A sink must never acknowledge what it has
/// not made durable: when `write` returns `Ok`, the items *and* the checkpoint
/// are committed.
///
/// # Examples
///
/// ```
/// use async_trait::async_trait;
/// use pipeline_core::{Cursor, Sink, SinkError};
///
/// /// Counts items; "durable" for the sake of the example.
/// #[derive(Default)]
/// struct Count { items: usize, last: Option<Cursor> }
///
/// #[async_trait]
/// impl Sink<String> for Count {
///     async fn write(&mut self, items: Vec<String>, checkpoint: Option<&Cursor>) -> Result<(), SinkError> {
///         self.items += items.len();
///         if let Some(c) = checkpoint { self.last = Some(c.clone()); }
///         Ok(())
///     }
/// }
/// ```
#[async_trait]
pub trait Sink<T: Send + 'static>: Send + 'static {
    /// Writes `items` and, in the same transaction where the backend has one, `checkpoint`.
    ///
    /// `checkpoint`, when given, covers every item of this batch and of all
    /// earlier batches. `items` may be empty when only the checkpoint advanced.
    ///
    /// # Errors
    ///
    /// [`SinkError::Write`] when nothing of the batch was committed and a later
    /// attempt may succeed; [`SinkError::Encode`] for items that can never be written.
    async fn write(&mut self, items: Vec<T>, checkpoint: Option<&Cursor>) -> Result<(), SinkError>;

    /// Called once after the input is drained, with the outcome (staging sinks activate here).
    ///
    /// # Errors
    ///
    /// A [`SinkError`]; on a completed pipeline it turns the outcome into a failure.
    async fn finish(&mut self, outcome: &Outcome) -> Result<(), SinkError> {
        let _ = outcome;
        Ok(())
    }
}

#[async_trait]
impl<T: Send + 'static> Sink<T> for Box<dyn Sink<T>> {
    async fn write(&mut self, items: Vec<T>, checkpoint: Option<&Cursor>) -> Result<(), SinkError> {
        (**self).write(items, checkpoint).await
    }

    async fn finish(&mut self, outcome: &Outcome) -> Result<(), SinkError> {
        (**self).finish(outcome).await
    }
}
