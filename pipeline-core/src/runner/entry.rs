//! One collection on the runner's board: its definition, its live status, and
//! the handles that stop it, wake it, and tell when its task has ended.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Collection, CollectionStatus, CollectionSummary, ErrorRecord};

pub(crate) struct Slot {
    pub(crate) status: CollectionStatus,
    /// When the collection last made progress (or started crawling).
    pub(crate) last_progress: Instant,
    /// Its last errors, newest first (at most [`ERRORS_KEPT`]).
    pub(crate) errors: VecDeque<ErrorRecord>,
    /// Its last run that was not cancelled failed: a completed one recovers it.
    pub(crate) failing: bool,
    /// Who ran its last run (in a cluster).
    pub(crate) last_owner: Option<String>,
}

/// Errors kept per collection for `GET /collections/{name}`.
pub(crate) const ERRORS_KEPT: usize = 10;

pub(crate) struct Entry {
    pub(crate) collection: Collection,
    slot: Mutex<Slot>,
    /// Cancelled when the collection is removed or replaced, or the runner
    /// shuts down (a child of the runner's shutdown token).
    pub(crate) cancel: CancellationToken,
    /// `run_now`: wakes a collection that waits for its next run.
    pub(crate) run_now: Notify,
    /// Cancelled when the collection's task has ended.
    pub(crate) ended: CancellationToken,
    /// How the collection's last run ended.
    pub(crate) summary: Mutex<Option<CollectionSummary>>,
    /// The collection asked for a fresh start, not yet taken.
    fresh: AtomicBool,
    /// When it was put on the board: before its first success, staleness counts from here.
    pub(crate) added: SystemTime,
    /// Items written by the current run, for [`CollectionEnd::written`](super::CollectionEnd::written).
    pub(crate) written: tokio::sync::watch::Sender<u64>,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("collection", &self.collection.name)
            .finish_non_exhaustive()
    }
}

impl Entry {
    pub(crate) fn new(collection: Collection, shutdown: &CancellationToken) -> Self {
        Self {
            slot: Mutex::new(Slot {
                status: CollectionStatus::new(&collection.name, collection.staleness_limit()),
                last_progress: Instant::now(),
                errors: VecDeque::new(),
                failing: false,
                last_owner: None,
            }),
            added: SystemTime::now(),
            cancel: shutdown.child_token(),
            run_now: Notify::new(),
            ended: CancellationToken::new(),
            summary: Mutex::new(None),
            fresh: AtomicBool::new(collection.fresh),
            written: tokio::sync::watch::Sender::new(0),
            collection,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn status(&self) -> CollectionStatus {
        let mut status = self.lock().status.clone();
        status.quota = self.collection.quota.as_ref().and_then(|q| q.status());
        status
    }

    pub(crate) fn name(&self) -> &str {
        &self.collection.name
    }

    /// Makes the collection due now, unless it is running.
    pub(crate) fn wake(&self) -> bool {
        let idle = {
            let slot = self.lock();
            slot.status.state.is_terminal() || slot.status.next_run_at.is_some()
        };
        if idle {
            // A stored permit: a task about to wait still sees it.
            self.run_now.notify_one();
        }
        idle
    }

    /// Whether this attempt starts fresh: once, if the collection asked.
    pub(crate) fn take_fresh(&self) -> bool {
        self.fresh.swap(false, Ordering::AcqRel)
    }

    pub(crate) fn set_summary(&self, summary: CollectionSummary) {
        *self.summary.lock().unwrap_or_else(|e| e.into_inner()) = Some(summary);
    }

    pub(crate) fn summary(&self) -> Option<CollectionSummary> {
        self.summary.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Sets when the next run starts (`None`: not scheduled).
    pub(crate) fn schedule(&self, at: Option<SystemTime>) {
        self.lock().status.next_run_at = at;
    }
}
