//! One collection on the runner's board: its definition, its live status, and
//! the handles that stop it, wake it, and tell when its task has ended.

use std::collections::VecDeque;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
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

/// A [`Slot`] with its status as `/status` JSON, kept until the slot changes.
struct Guarded {
    slot: Slot,
    /// Bumped by every mutable access to `slot` (see [`SlotGuard`]).
    version: u64,
    json: Option<CachedJson>,
}

/// The status of one [`Guarded::version`] (and request budget) as JSON.
struct CachedJson {
    version: u64,
    quota: Option<crate::policy::QuotaStatus>,
    bytes: Arc<[u8]>,
}

/// The lock on an entry's [`Slot`]: reading is free, and any mutable access
/// marks the slot changed, so its cached `/status` JSON is never stale.
pub(crate) struct SlotGuard<'a>(MutexGuard<'a, Guarded>);

impl Deref for SlotGuard<'_> {
    type Target = Slot;

    fn deref(&self) -> &Slot {
        &self.0.slot
    }
}

impl DerefMut for SlotGuard<'_> {
    fn deref_mut(&mut self) -> &mut Slot {
        self.0.version = self.0.version.wrapping_add(1);
        &mut self.0.slot
    }
}

pub(crate) struct Entry {
    pub(crate) collection: Collection,
    slot: Mutex<Guarded>,
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
            slot: Mutex::new(Guarded {
                slot: Slot {
                    status: CollectionStatus::new(&collection.name, collection.staleness_limit()),
                    last_progress: Instant::now(),
                    errors: VecDeque::new(),
                    failing: false,
                    last_owner: None,
                },
                version: 0,
                json: None,
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

    fn guarded(&self) -> MutexGuard<'_, Guarded> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn lock(&self) -> SlotGuard<'_> {
        SlotGuard(self.guarded())
    }

    pub(crate) fn status(&self) -> CollectionStatus {
        let mut status = self.lock().status.clone();
        status.quota = self.collection.quota.as_ref().and_then(|q| q.status());
        status
    }

    /// [`status`](Self::status) as `/status` JSON: serialized again only
    /// when the slot or the request budget changed since the last call, and
    /// never while the slot is locked.
    pub(crate) fn status_json(&self) -> Arc<[u8]> {
        let quota = self.collection.quota.as_ref().and_then(|q| q.status());
        let (version, mut status) = {
            let guarded = self.guarded();
            if let Some(cached) = &guarded.json
                && cached.version == guarded.version
                && cached.quota == quota
            {
                return cached.bytes.clone();
            }
            (guarded.version, guarded.slot.status.clone())
        };
        status.quota = quota.clone();
        let bytes: Arc<[u8]> = match serde_json::to_vec(&status) {
            Ok(bytes) => bytes.into(),
            // Plain data: serializing it cannot fail; an empty object keeps the array valid.
            Err(_) => Arc::from(&b"{}"[..]),
        };
        let mut guarded = self.guarded();
        // Changed meanwhile: the next call serializes the newer status.
        if guarded.version == version {
            guarded.json = Some(CachedJson {
                version,
                quota,
                bytes: bytes.clone(),
            });
        }
        bytes
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
