//! State shared by the tasks of one running pipeline.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::meters::Meters;
use crate::{Cursor, Status, Validators};

/// How the source stage ended, recorded before it drops its sender so the
/// sink can tell a clean end of input from a cancellation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SourceExit {
    Completed,
    Cancelled,
    /// The source sent `Control::Failed`, or downstream went away first.
    Stopped,
}

/// Where the source starts: known once the sink has opened (it may hold the
/// committed cursor), or never, when opening the sink failed.
#[derive(Debug, Clone)]
pub(crate) enum Start {
    Pending,
    From(Option<Cursor>),
    Aborted,
}

pub(crate) struct Shared {
    pub(crate) collection: Arc<str>,
    start: watch::Sender<Start>,
    pub(crate) cancel: CancellationToken,
    pub(crate) meters: Meters,
    status: watch::Sender<Status>,
    /// The newest checkpoint the sink committed: the pipeline's own record,
    /// which observers' status copies.
    committed: Mutex<Option<Cursor>>,
    source_exit: OnceLock<SourceExit>,
    /// The page validators the sink offered when it opened.
    validators: OnceLock<Arc<dyn Validators>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("collection", &self.collection)
            .field("start", &*self.start.borrow())
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn new(collection: Arc<str>, cancel: CancellationToken, host: Option<&str>) -> Arc<Self> {
        let (status, _) = watch::channel(Status::new(&collection));
        Arc::new(Self {
            meters: Meters::new(&collection, host),
            collection,
            start: watch::Sender::new(Start::Pending),
            cancel,
            status,
            committed: Mutex::new(None),
            source_exit: OnceLock::new(),
            validators: OnceLock::new(),
        })
    }

    /// Decides where the source starts; the first decision stands.
    pub(crate) fn set_start(&self, start: Start) {
        let from = match &start {
            Start::From(Some(cursor)) => Some(cursor.clone()),
            _ => None,
        };
        let decided = self.start.send_if_modified(|s| {
            let pending = matches!(s, Start::Pending);
            if pending {
                *s = start;
            }
            pending
        });
        // Until a checkpoint is committed, a restart resumes where this attempt started.
        if decided && from.is_some() {
            self.update(|s| {
                if s.cursor.is_none() {
                    s.cursor = from;
                }
            });
        }
    }

    /// Waits until the start is decided; `None` when the pipeline will not start.
    pub(crate) async fn started(&self) -> Option<Option<Cursor>> {
        let mut rx = self.start.subscribe();
        let start = rx.wait_for(|s| !matches!(s, Start::Pending)).await.ok()?.clone();
        match start {
            Start::From(cursor) => Some(cursor),
            Start::Pending | Start::Aborted => None,
        }
    }

    /// The cursor the source started from, once decided.
    pub(crate) fn start(&self) -> Option<Cursor> {
        match &*self.start.borrow() {
            Start::From(cursor) => cursor.clone(),
            Start::Pending | Start::Aborted => None,
        }
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

    /// Records the validators the sink offered (before the start is decided).
    pub(crate) fn set_validators(&self, validators: Option<Arc<dyn Validators>>) {
        if let Some(v) = validators {
            let _ = self.validators.set(v);
        }
    }

    /// The validators the sink offered, once the start is decided.
    pub(crate) fn validators(&self) -> Option<Arc<dyn Validators>> {
        self.validators.get().cloned()
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
        self.committed().or_else(|| self.start())
    }

    /// Records a checkpoint the sink committed.
    pub(crate) fn set_committed(&self, cursor: &Cursor) {
        *self.committed.lock().unwrap_or_else(|e| e.into_inner()) = Some(cursor.clone());
    }

    /// The newest checkpoint the sink committed in this attempt.
    pub(crate) fn committed(&self) -> Option<Cursor> {
        self.committed.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
