//! State shared by the tasks of one running pipeline.

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::meters::Meters;
use crate::{Cursor, Status};

/// How the source stage ended, recorded before it drops its sender so the
/// sink can tell a clean end of input from a cancellation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SourceExit {
    Completed,
    Cancelled,
    /// The source sent `Control::Failed`, or downstream went away first.
    Stopped,
}

pub(crate) struct Shared {
    pub(crate) collection: Arc<str>,
    pub(crate) start: Option<Cursor>,
    pub(crate) cancel: CancellationToken,
    pub(crate) meters: Meters,
    status: watch::Sender<Status>,
    source_exit: OnceLock<SourceExit>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("collection", &self.collection)
            .field("start", &self.start)
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn new(
        collection: Arc<str>,
        start: Option<Cursor>,
        cancel: CancellationToken,
        host: Option<&str>,
    ) -> Arc<Self> {
        let (status, _) = watch::channel(Status::new(&collection));
        Arc::new(Self {
            meters: Meters::new(&collection, host),
            collection,
            start,
            cancel,
            status,
            source_exit: OnceLock::new(),
        })
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<Status> {
        self.status.subscribe()
    }

    pub(crate) fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    pub(crate) fn update(&self, f: impl FnOnce(&mut Status)) {
        self.status.send_modify(|s| {
            f(s);
            s.updated_at = SystemTime::now();
        });
    }

    pub(crate) fn set_source_exit(&self, exit: SourceExit) {
        let _ = self.source_exit.set(exit);
    }

    pub(crate) fn source_exit(&self) -> Option<SourceExit> {
        self.source_exit.get().copied()
    }

    /// Where a transform or sink failure should resume: the newest checkpoint
    /// this run committed, else the cursor it started from.
    pub(crate) fn committed_or_start(&self) -> Option<Cursor> {
        self.status
            .borrow()
            .checkpoint
            .clone()
            .or_else(|| self.start.clone())
    }
}

/// Extracts a panic payload's message.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
