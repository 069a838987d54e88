use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;

use crate::{Cursor, Fence, Outcome, PageEnd, SinkError, Validators};

/// What a sink learns from its pipeline when it opens: the collection's name
/// (given once, to the pipeline) and whether to start over.
///
/// A sink keeps a clone if it needs [`pages`](Self::pages) later.
#[derive(Debug, Clone)]
pub struct SinkContext {
    collection: Arc<str>,
    fresh: bool,
    pages: Arc<AtomicU64>,
    rejected: Arc<AtomicU64>,
    fence: Option<Fence>,
    validators: Arc<OnceLock<Arc<dyn Validators>>>,
}

impl SinkContext {
    /// A context for `collection`; for tests and custom drivers (a pipeline
    /// makes its own).
    pub fn new(collection: impl Into<Arc<str>>, fresh: bool) -> Self {
        Self {
            collection: collection.into(),
            fresh,
            pages: Arc::default(),
            rejected: Arc::default(),
            fence: None,
            validators: Arc::default(),
        }
    }

    /// The same context, writing under a lease's `fence` (a runner in a
    /// cluster sets it; for tests and custom drivers).
    #[must_use]
    pub fn with_fence(mut self, fence: Option<Fence>) -> Self {
        self.fence = fence;
        self
    }

    /// The lease's fencing token when the collection runs in a cluster: a
    /// sink with transactions checks it in each batch's transaction and
    /// fails with [`SinkError::Fenced`] when it is no longer current.
    pub fn fence(&self) -> Option<&Fence> {
        self.fence.as_ref()
    }

    /// The collection's name: the sink's table, file or checkpoint key.
    pub fn collection(&self) -> &str {
        &self.collection
    }

    /// Whether to forget any stored cursor and start from the first page.
    pub fn fresh(&self) -> bool {
        self.fresh
    }

    /// Pages covered by the newest checkpoint handed to [`Sink::write`], counted
    /// from the start of this run (a resumed run starts again at 0).
    pub fn pages(&self) -> u64 {
        self.pages.load(Ordering::Acquire)
    }

    pub(crate) fn set_pages(&self, pages: u64) {
        self.pages.store(pages, Ordering::Release);
    }

    /// Counts `n` items of the batch being written that the sink set aside
    /// instead of writing them to their table (an SQL sink's
    /// `pipeline_rejected`): the pipeline adds them to its status
    /// (`items_rejected`) and to `pipeline_items_total{stage="rejected"}`
    /// once the write returns.
    pub fn add_rejected(&self, n: u64) {
        self.rejected.fetch_add(n, Ordering::AcqRel);
    }

    pub(crate) fn take_rejected(&self) -> u64 {
        self.rejected.swap(0, Ordering::AcqRel)
    }

    /// Offers the collection's stored page validators to the pipeline's
    /// source (call it in [`Sink::open`]; the first offer stands). Only a
    /// sink that stores each page's validator with the page's rows (see
    /// [`Sink::page_ends`]) may offer them: a `304` then writes nothing.
    pub fn offer_validators(&self, validators: Arc<dyn Validators>) {
        let _ = self.validators.set(validators);
    }

    /// The validators the sink offered when it opened, if any.
    pub fn validators(&self) -> Option<Arc<dyn Validators>> {
        self.validators.get().cloned()
    }
}

/// Anything that can write batches durably.
///
/// The sink driver calls [`open`](Self::open) once before anything else,
/// `write` once per batch (never per item) and `finish` once after the input
/// is drained. A sink must never acknowledge what it has
/// not made durable: when `write` returns `Ok`, the items *and* the checkpoint
/// are committed.
///
/// # Examples
///
/// ```
/// use async_trait::async_trait;
/// use crawlpipe_core::{Cursor, Sink, SinkError};
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
    /// Called once before the source starts, with the collection's name.
    /// A sink that stores its checkpoints returns the committed cursor to
    /// resume from (`None`: from the first page, or nothing stored), so the
    /// pipeline resumes by itself; with [`SinkContext::fresh`] it forgets it.
    ///
    /// A cursor given to [`Pipeline::resume_from`](crate::Pipeline::resume_from)
    /// wins over the one returned here.
    ///
    /// # Errors
    ///
    /// A [`SinkError`] fails the pipeline before anything is fetched; a
    /// [`SinkError::Write`] (the database is down) is resumable.
    async fn open(&mut self, context: &SinkContext) -> Result<Option<Cursor>, SinkError> {
        let _ = context;
        Ok(None)
    }

    /// Writes `items` and, in the same transaction where the backend has one, `checkpoint`.
    ///
    /// `checkpoint`, when given, covers every item of this batch and of all
    /// earlier batches. `items` may be empty when only the checkpoint advanced.
    ///
    /// # Errors
    ///
    /// [`SinkError::Write`] when nothing of the batch was committed and a later
    /// attempt may succeed; [`SinkError::Rejected`] for an item that can never
    /// be written, after committing the items before it (without the checkpoint).
    async fn write(&mut self, items: Vec<T>, checkpoint: Option<&Cursor>) -> Result<(), SinkError>;

    /// Called right before each [`write`](Self::write) (or
    /// [`write_last`](Self::write_last)) with where pages end among its
    /// items, in order, each with its conditional request's
    /// [`Validation`](crate::Validation) if it had one. A sink that offered
    /// validators ([`SinkContext::offer_validators`]) stores each page's
    /// validator with the write that holds the page's last items, and for a
    /// `304` page ([`Validation::NotModified`](crate::Validation::NotModified))
    /// keeps the rows stored with it. The default ignores them.
    fn page_ends(&mut self, ends: Vec<PageEnd>) {
        let _ = ends;
    }

    /// Writes the last batch of a run whose source completed, as
    /// [`write`](Self::write) does; a sink may record the completion in the
    /// same transaction (what [`finish`](Self::finish) with
    /// [`Outcome::Completed`] would do) and return `true`, and `finish` is
    /// then not called. The default writes and returns `false`.
    ///
    /// The completion is only recorded together with the whole batch: a
    /// [`SinkError::Rejected`] item commits the items before it and no
    /// completion, as `write` does.
    ///
    /// # Errors
    ///
    /// As [`write`](Self::write); the pipeline then fails and `finish` is
    /// called with the failure.
    async fn write_last(&mut self, items: Vec<T>, checkpoint: Option<&Cursor>) -> Result<bool, SinkError> {
        self.write(items, checkpoint).await.map(|()| false)
    }

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
    async fn open(&mut self, context: &SinkContext) -> Result<Option<Cursor>, SinkError> {
        (**self).open(context).await
    }

    async fn write(&mut self, items: Vec<T>, checkpoint: Option<&Cursor>) -> Result<(), SinkError> {
        (**self).write(items, checkpoint).await
    }

    fn page_ends(&mut self, ends: Vec<PageEnd>) {
        (**self).page_ends(ends);
    }

    async fn write_last(&mut self, items: Vec<T>, checkpoint: Option<&Cursor>) -> Result<bool, SinkError> {
        (**self).write_last(items, checkpoint).await
    }

    async fn finish(&mut self, outcome: &Outcome) -> Result<(), SinkError> {
        (**self).finish(outcome).await
    }
}
