use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use futures::stream::FusedStream;
use futures::stream::{self, BoxStream, StreamExt};

use crate::pipeline::Tasks;
use crate::shared::Shared;
use crate::stage::Pull;
use crate::{Control, Event, Failure};

/// A pipeline consumed as a `Stream<Item = Result<T, Failure>>`; see
/// [`Pipeline::into_stream`](crate::Pipeline::into_stream).
///
/// Items arrive in order; a failure, if any, is the last element, and the
/// stream is fused (polling after the end returns `None`). Dropping
/// the stream cancels the pipeline and aborts its tasks.
#[must_use = "streams do nothing unless polled"]
pub struct PipelineStream<T> {
    inner: BoxStream<'static, Result<T, Failure>>,
    done: bool,
    shared: Arc<Shared>,
    tasks: Tasks,
}

impl<T> std::fmt::Debug for PipelineStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineStream")
            .field("collection", &self.shared.collection)
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static> PipelineStream<T> {
    pub(crate) fn new(output: Box<dyn Pull<T>>, shared: Arc<Shared>, tasks: Tasks) -> Self {
        let chunks = stream::unfold(Some(output), |state| async move {
            let mut output = state?;
            loop {
                match output.pull().await? {
                    Event::Items(items) => {
                        let chunk: Vec<Result<T, Failure>> = items.into_iter().map(Ok).collect();
                        return Some((chunk, Some(output)));
                    }
                    Event::Control(Control::Failed(f)) => return Some((vec![Err(f)], None)),
                    Event::Control(_) => {}
                }
            }
        });
        Self {
            // Fused: polling after the end keeps returning `None` instead of panicking.
            inner: chunks.flat_map(stream::iter).fuse().boxed(),
            done: false,
            shared,
            tasks,
        }
    }
}

impl<T> Stream for PipelineStream<T> {
    type Item = Result<T, Failure>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let next = self.inner.poll_next_unpin(cx);
        if let Poll::Ready(None) = next {
            self.done = true;
        }
        next
    }
}

impl<T> FusedStream for PipelineStream<T> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<T> Drop for PipelineStream<T> {
    fn drop(&mut self) {
        self.shared.cancel.cancel();
        self.tasks.abort_all();
    }
}
