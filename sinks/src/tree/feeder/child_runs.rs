//! A feeder's children as runner collections: each started under its
//! group, and those never started counted when the feeder stops.

use crawlpipe_core::State;
use crawlpipe_core::runner::{Collection, CollectionEnd};

use super::ChildFeeder;
use crate::QueuedChild;

impl ChildFeeder {
    /// Adds one child to the runner; resolves to its parent key and whether it completed.
    pub(super) fn start(&self, queued: QueuedChild) -> futures::future::BoxFuture<'static, (String, bool)> {
        let key = queued.parent_key.clone();
        let collection = self.collection(queued);
        let end: Result<CollectionEnd, _> = self.runner.add_watched(collection);
        Box::pin(async move {
            let ok = match end {
                Ok(end) => end.ended().await.is_some_and(|s| s.state == State::Completed),
                Err(e) => {
                    tracing::warn!(parent = %key, error = %e, "a child could not be added");
                    false
                }
            };
            (key, ok)
        })
    }

    /// The runner collection of one child: `<child>/<parent key>`, in the group `<child>`.
    fn collection(&self, queued: QueuedChild) -> Collection {
        let group = self.name.clone();
        let name = format!("{group}/{}", queued.parent_key);
        (self.factory)(&name, queued).group(group)
    }

    /// Counts the children listed but never started (still `pending`, or
    /// claimed and not started) into the group's status, so the summary
    /// shows every child that was not crawled; they stay listed for the next run.
    pub(super) async fn count_not_crawled(&self, claimed: usize) {
        // Parent rows committed but not listed yet are children too.
        if let Err(e) = self.queue.discover().await {
            tracing::warn!(collection = %self.name, error = %e, "listing the children not crawled failed");
        }
        let pending = match self.queue.pending().await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(collection = %self.name, error = %e, "counting the children not crawled failed");
                0
            }
        };
        let n = pending + claimed as u64;
        if n > 0 {
            tracing::warn!(collection = %self.name, children = n, "children were not crawled; the next run crawls them");
        }
        self.runner.set_group_not_crawled(&self.name, n);
    }
}
