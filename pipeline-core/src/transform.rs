use async_trait::async_trait;

use crate::BoxError;

/// A custom chunk-at-a-time transform, for what `map`/`filter`/`then` cannot say.
///
/// Called once per chunk with the items in order; control markers never reach
/// it (the framework forwards them unchanged). Returning `Err` fails the
/// pipeline with [`StageError::Item`](crate::StageError::Item) naming the stage.
///
/// # Examples
///
/// ```
/// use async_trait::async_trait;
/// use crawlpipe_core::{BoxError, Transform};
///
/// /// Drops items equal to the previous one, across chunk boundaries.
/// #[derive(Default)]
/// struct Dedup { last: Option<u32> }
///
/// #[async_trait]
/// impl Transform<u32> for Dedup {
///     type Out = u32;
///     async fn apply(&mut self, items: Vec<u32>) -> Result<Vec<u32>, BoxError> {
///         let mut out = Vec::with_capacity(items.len());
///         for x in items {
///             if self.last != Some(x) { out.push(x); }
///             self.last = Some(x);
///         }
///         Ok(out)
///     }
/// }
/// ```
#[async_trait]
pub trait Transform<In: Send + 'static>: Send + 'static {
    /// The items it produces.
    type Out: Send + 'static;

    /// Transforms one chunk.
    ///
    /// # Errors
    ///
    /// Any error fails the pipeline; the items of this chunk are not written,
    /// and a resumed run fetches them again.
    async fn apply(&mut self, items: Vec<In>) -> Result<Vec<Self::Out>, BoxError>;
}

/// What a `try_map` does when its closure returns `Err` for an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ItemErrorPolicy {
    /// Drop the item, count it in `items_skipped` and the
    /// `pipeline_items_total{stage="skipped"}` counter, log it, and go on.
    Skip,
    /// Fail the pipeline with [`StageError::Item`](crate::StageError::Item).
    #[default]
    Fail,
}
