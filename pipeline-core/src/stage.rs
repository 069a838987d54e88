//! The transform chain: per-item closures fused into one task, pulled chunk by chunk.
//!
//! Each builder transform wraps the previous [`Pull`] in a [`StageAdapter`]; the
//! whole chain runs in one task between the source edge and the sink edge, so
//! adding a `map` costs one virtual call per chunk, not a channel hop per item.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;

use crate::driver::catch_panic;
use crate::edge::EdgeReceiver;
use crate::shared::Shared;
use crate::{BoxError, Control, Cursor, Event, Failure, SharedError, StageError, Transform};

/// A pull-based stream of events.
#[async_trait]
pub(crate) trait Pull<T>: Send {
    async fn pull(&mut self) -> Option<Event<T>>;
}

#[async_trait]
impl<T: Send + 'static> Pull<T> for EdgeReceiver<T> {
    async fn pull(&mut self) -> Option<Event<T>> {
        self.recv().await
    }
}

/// The result of applying an op to a chunk.
pub(crate) struct Applied<T> {
    pub(crate) items: Vec<T>,
    pub(crate) skipped: u64,
}

/// One chunk-level operation of the chain.
#[async_trait]
pub(crate) trait Op<In, Out>: Send + 'static {
    async fn apply(&mut self, items: Vec<In>) -> Result<Applied<Out>, SharedError>;
}

/// A synchronous op from a closure over the whole chunk.
pub(crate) struct SyncOp<F>(pub(crate) F);

#[async_trait]
impl<In, Out, F> Op<In, Out> for SyncOp<F>
where
    In: Send + 'static,
    Out: Send + 'static,
    F: FnMut(Vec<In>) -> Result<Applied<Out>, SharedError> + Send + 'static,
{
    async fn apply(&mut self, items: Vec<In>) -> Result<Applied<Out>, SharedError> {
        (self.0)(items)
    }
}

/// `then`: an async closure per item, at most `limit` at once, order kept.
pub(crate) struct ThenOp<F> {
    pub(crate) f: F,
    pub(crate) limit: usize,
}

#[async_trait]
impl<In, Out, F, Fut> Op<In, Out> for ThenOp<F>
where
    In: Send + 'static,
    Out: Send + 'static,
    F: FnMut(In) -> Fut + Send + 'static,
    Fut: Future<Output = Out> + Send + 'static,
{
    async fn apply(&mut self, items: Vec<In>) -> Result<Applied<Out>, SharedError> {
        let futures: Vec<Fut> = items.into_iter().map(&mut self.f).collect();
        let items = futures::stream::iter(futures)
            .buffered(self.limit)
            .collect::<Vec<Out>>()
            .await;
        Ok(Applied { items, skipped: 0 })
    }
}

/// A user [`Transform`].
pub(crate) struct CustomOp<X>(pub(crate) X);

#[async_trait]
impl<In, X> Op<In, X::Out> for CustomOp<X>
where
    In: Send + 'static,
    X: Transform<In>,
{
    async fn apply(&mut self, items: Vec<In>) -> Result<Applied<X::Out>, SharedError> {
        match self.0.apply(items).await {
            Ok(items) => Ok(Applied { items, skipped: 0 }),
            Err(e) => Err(shared_error(e)),
        }
    }
}

pub(crate) fn shared_error(e: BoxError) -> SharedError {
    Arc::from(e)
}

/// Applies an [`Op`] to every chunk, forwards control markers in order, and
/// turns an op error or panic into an in-band `Control::Failed`.
pub(crate) struct StageAdapter<In, Out, O> {
    upstream: Option<Box<dyn Pull<In>>>,
    op: O,
    name: String,
    shared: Arc<Shared>,
    last_checkpoint: Option<Cursor>,
    _out: PhantomData<fn() -> Out>,
}

impl<In, Out, O> StageAdapter<In, Out, O> {
    pub(crate) fn new(upstream: Box<dyn Pull<In>>, op: O, name: String, shared: Arc<Shared>) -> Self {
        Self {
            upstream: Some(upstream),
            op,
            name,
            shared,
            last_checkpoint: None,
            _out: PhantomData,
        }
    }

    /// Fails the pipeline here: dropping the upstream stops the source.
    fn fail(&mut self, error: StageError) -> Option<Event<Out>> {
        self.upstream = None;
        tracing::error!(collection = %self.shared.collection, stage = %self.name, %error, "stage failed");
        let resume_from = self.last_checkpoint.clone().or_else(|| self.shared.start());
        Some(Event::Control(Control::Failed(Failure::new(error, resume_from))))
    }
}

#[async_trait]
impl<In, Out, O> Pull<Out> for StageAdapter<In, Out, O>
where
    In: Send + 'static,
    Out: Send + 'static,
    O: Op<In, Out>,
{
    async fn pull(&mut self) -> Option<Event<Out>> {
        loop {
            let event = self.upstream.as_mut()?.pull().await?;
            let items = match event {
                Event::Control(control) => {
                    match &control {
                        Control::Checkpoint(c) => self.last_checkpoint = Some(c.clone()),
                        Control::Failed(_) => self.upstream = None,
                        Control::Validated(_) => {}
                    }
                    return Some(Event::Control(control));
                }
                Event::Items(items) => items,
            };
            match catch_panic(&self.shared.collection, &self.name, self.op.apply(items)).await {
                Ok(Ok(applied)) => {
                    if applied.skipped > 0 {
                        self.shared.meters.items_skipped.increment(applied.skipped);
                        self.shared
                            .update(|s| s.progress.items_skipped += applied.skipped);
                    }
                    if !applied.items.is_empty() {
                        return Some(Event::Items(applied.items));
                    }
                }
                Ok(Err(source)) => {
                    let error = StageError::Item {
                        collection: self.shared.collection.to_string(),
                        stage: self.name.clone(),
                        source,
                    };
                    return self.fail(error);
                }
                Err(panicked) => return self.fail(panicked),
            }
        }
    }
}
