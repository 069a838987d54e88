//! Many collections, one pipeline each: the [`Runner`].
//!
//! A runner starts one pipeline per [`Collection`], at most `concurrency` at
//! once, keeps a [`CollectionStatus`] per collection, and reacts to failures
//! reported in-band: a resumable failure (a fetch that exhausted its retries,
//! an open circuit breaker, a database that went away) is recorded, and the
//! collection is restarted from the failed page when the server asked (a
//! `Retry-After`, a breaker's cooldown) or after the runner's own backoff,
//! whichever is later, up to `max_resumes` times. One collection failing
//! never disturbs the others.
//!
//! # States
//!
//! `Waiting → Crawling → (Retrying → Crawling)* → Finalizing → Completed |
//! Failed | Cancelled`. A failing attempt may also pass through `Finalizing`
//! (its in-flight items drain) before `Retrying`. A `Retrying` collection
//! holds no concurrency slot. Every transition is recorded in the
//! [`CheckpointStore`] (the state only), so a restarted process and the
//! people watching know what was unfinished: `Retrying`, `Failed` and
//! `Cancelled` before the collection goes on, the others in the background,
//! batched, a state superseded before its write never written; every state
//! is stored before [`join`](Runner::join) returns. A crash may lose the
//! progress states of the last write's time, never a cursor: sinks commit
//! those with their items.
//!
//! # Starting again
//!
//! Each collection's sink owns its checkpoint: it commits the cursor with
//! the items, and when the pipeline opens it hands back where to resume. So
//! an unfinished collection resumes from its committed cursor, and one that
//! completed last time is crawled again from the start (a refresh). With
//! [`fresh`](RunnerBuilder::fresh) the sinks forget their cursors. A resume
//! after a failure in the same run starts at the failed page.
//!
//! # A service
//!
//! A runner built with [`service(true)`](RunnerBuilder::service) keeps going
//! until [`Runner::shutdown`]: a collection with an interval
//! ([`Collection::every`]) waits in `Waiting` with a `next_run_at` after each
//! run and runs again (from the start) when due; a failed one keeps its cursor
//! and resumes there at its next run. Collections are added
//! ([`Runner::add`], replacing one of the same name), removed
//! ([`Runner::remove`]) and made due ([`Runner::run_now`]) while it runs.
//! [`Runner::status`] is cheap: a copy of each status under short locks,
//! never held across an await.
//!
//! # Clean shutdown
//!
//! [`Runner::shutdown`] cancels every pipeline: sources stop at their next
//! page boundary, in-flight items drain into the sinks, the committed cursors
//! are saved and unfinished collections end `Cancelled`; the next run resumes
//! them. If that takes longer than the
//! [`shutdown_timeout`](RunnerBuilder::shutdown_timeout), or on
//! [`Runner::force`], the runner stops waiting for the pipelines.

mod board;
mod builder;
mod cluster;
mod collection;
mod detail;
mod entry;
mod error;
mod event;
mod freshness;
mod group;
mod history_queries;
mod hold;
mod lifecycle;
mod recorder;
mod reload;
mod runs;
mod schedule;
mod signals;
mod stall;
mod status;
mod status_json;
mod summary;
mod task;
mod tree_plan;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::board::Board;
use self::builder::RunnerConfig;
pub use self::builder::{DEFAULT_CONCURRENCY, DEFAULT_MAX_RESUMES, RunnerBuilder};
pub use self::collection::Collection;
pub use self::detail::{CollectionDetail, ErrorRecord};
use self::entry::Entry;
pub use self::error::{CollectionError, RunnerError};
pub use self::event::{RunnerEvent, RunnerEvents};
pub use self::group::{FailingChild, GroupStatus, SkippedChild};
pub use self::hold::{CollectionEnd, RunnerHold};
use self::lifecycle::{drive, spawn};
pub use self::reload::{Changes, Definition, Reload};
pub use self::status::{CollectionStatus, RecentRuns};
pub use self::summary::CollectionSummary;
pub use self::tree_plan::{TreeNode, TreePlan};
use crate::CheckpointStore;
/// Re-exported from [`coordination`](crate::coordination).
pub use crate::coordination::{Claim, Coordinator, Due, Lease, LeaseInfo, RunEnd};

type Done = Option<Arc<Vec<CollectionSummary>>>;

#[derive(Debug)]
struct Inner {
    options: RunnerConfig,
    board: Board,
    slots: Arc<Semaphore>,
    /// The grouped collections' own slots, when they have their own.
    group_slots: Option<Arc<Semaphore>>,
    shutdown: CancellationToken,
    force: CancellationToken,
    /// Every collection's task; closed when no more may be added.
    tasks: TaskTracker,
    started: AtomicBool,
    done: watch::Sender<Done>,
    /// Top-level collections removed and not added again: their metric
    /// series are left out of `/metrics`.
    removed: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Wakes the freshness check: a run ended or a history was loaded.
    freshness: tokio::sync::Notify,
}

impl Inner {
    fn removed_names(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<String>> {
        self.removed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The slots `entry` takes one of while it crawls.
    fn slots_for(&self, entry: &Entry) -> Arc<Semaphore> {
        match (&entry.collection.group, &self.group_slots) {
            (Some(_), Some(group)) => group.clone(),
            _ => self.slots.clone(),
        }
    }
}

/// Runs many collections, one pipeline each, with a concurrency limit,
/// automatic resume, events, statuses and graceful shutdown. See the
/// [module docs](self).
///
/// Cloning is cheap: every clone controls the same runner (one may
/// [`join`](Self::join) while another serves [`status`](Self::status) or
/// calls [`shutdown`](Self::shutdown)). Dropping every clone does not stop
/// a started runner: call [`shutdown`](Self::shutdown).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use futures::StreamExt;
/// use crawlpipe_core::runner::{Collection, Runner, RunnerEvent};
/// use crawlpipe_core::testkit::{CollectSink, ScriptedPaged};
/// use crawlpipe_core::{MemoryCheckpointStore, Pipeline, State};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut builder = Runner::builder(Arc::new(MemoryCheckpointStore::new())).concurrency(2);
/// for name in ["a", "b", "c"] {
///     builder = builder.collection(Collection::new(name, |name| {
///         Ok(Pipeline::paged(name, ScriptedPaged::numbered(3, 10)).sink(CollectSink::new()))
///     }));
/// }
/// let runner = builder.build()?;
/// let mut events = runner.events(); // subscribe before starting to see every event
/// runner.start()?;
/// let summaries = runner.join().await;
/// assert!(summaries.iter().all(|s| s.state == State::Completed && s.progress.items_written == 30));
/// let mut completed = 0;
/// while let Some(event) = events.next().await {
///     if let RunnerEvent::Completed { .. } = event {
///         completed += 1;
///     }
/// }
/// assert_eq!(completed, 3);
/// # Ok(())
/// # }
/// ```
#[must_use = "a runner does nothing until started or joined"]
#[derive(Debug, Clone)]
pub struct Runner {
    inner: Arc<Inner>,
}

impl Runner {
    /// A builder for a runner saving its collections' states in `store`.
    pub fn builder(store: Arc<dyn CheckpointStore>) -> RunnerBuilder {
        RunnerBuilder {
            store,
            collections: Vec::new(),
            options: RunnerConfig::default(),
        }
    }

    /// Starts every collection (at most `concurrency` crawling at once).
    /// Calling it again does nothing.
    ///
    /// # Errors
    ///
    /// [`RunnerError::NoRuntime`] outside a tokio runtime.
    pub fn start(&self) -> Result<(), RunnerError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| RunnerError::NoRuntime)?;
        if self.inner.started.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        for entry in self.inner.board.entries() {
            spawn(&self.inner, entry, None);
        }
        let alerts = self.inner.options.alerts.as_ref().and_then(|alerts| {
            let owner = self
                .inner
                .options
                .coordinator
                .as_ref()
                .map(|c| c.worker().to_owned());
            alerts.set_owner(owner);
            let _guard = runtime.enter();
            alerts.start()
        });
        runtime.spawn(drive(self.inner.clone(), alerts));
        Ok(())
    }

    /// Adds a collection, also while the runner runs (it starts at once,
    /// within the concurrency limit). A collection of the same name is
    /// replaced: it is stopped as by [`remove`](Self::remove), and the new
    /// one starts once the old one has drained.
    ///
    /// # Errors
    ///
    /// [`RunnerError`] when the name is empty or differs from another only
    /// in case, or when the runner has ended or is shutting down.
    pub fn add(&self, collection: Collection) -> Result<(), RunnerError> {
        self.insert(collection).map(drop)
    }

    fn insert(&self, collection: Collection) -> Result<Arc<Entry>, RunnerError> {
        if collection.name.is_empty() {
            return Err(RunnerError::EmptyName);
        }
        let inner = &self.inner;
        if inner.shutdown.is_cancelled() || inner.done.borrow().is_some() {
            return Err(RunnerError::Ended);
        }
        // `fresh` is for the first run only, not every scheduled one.
        let fresh = collection.fresh || inner.options.fresh;
        let entry = Arc::new(Entry::new(collection.fresh(fresh), &inner.shutdown));
        let replaced = inner.board.insert(entry.clone())?;
        inner.removed_names().remove(entry.name());
        if let Some(old) = &replaced {
            tracing::info!(collection = %old.name(), "collection replaced");
            old.cancel.cancel();
        }
        if inner.started.load(Ordering::Acquire) {
            spawn(inner, entry.clone(), replaced);
        }
        Ok(entry)
    }

    /// Removes a collection: its pipeline stops at the next page boundary,
    /// in-flight items drain and commit, its checkpoint is kept. It leaves
    /// the [`status`](Self::status) once drained.
    ///
    /// # Errors
    ///
    /// [`RunnerError::UnknownCollection`] when there is no such collection.
    pub fn remove(&self, name: &str) -> Result<(), RunnerError> {
        let entry = self.entry(name)?;
        tracing::info!(collection = %name, "collection removed");
        if !name.contains('/') {
            self.inner.removed_names().insert(name.to_owned());
        }
        entry.cancel.cancel();
        if !self.inner.started.load(Ordering::Acquire) {
            self.inner.board.remove(&entry);
        }
        Ok(())
    }

    /// Makes a collection due now: one waiting for its next run, or done
    /// (completed, failed), starts at once; a running one is left alone.
    /// Returns whether it was woken.
    ///
    /// # Errors
    ///
    /// [`RunnerError::UnknownCollection`] when there is no such collection.
    pub fn run_now(&self, name: &str) -> Result<bool, RunnerError> {
        let entry = self.entry(name)?;
        if !self.inner.options.service && entry.ended.is_cancelled() {
            // A one-shot runner's finished collection has no task to wake.
            return Ok(false);
        }
        Ok(entry.wake())
    }

    /// Adds a collection as [`add`](Self::add) does, and returns a future
    /// that resolves when that collection's task has ended: how a feeder of
    /// child collections learns that a child is done.
    ///
    /// # Errors
    ///
    /// As [`add`](Self::add).
    pub fn add_watched(&self, collection: Collection) -> Result<CollectionEnd, RunnerError> {
        Ok(CollectionEnd::new(self.insert(collection)?))
    }

    /// Keeps a one-shot runner from ending while the returned guard lives,
    /// even when no collection runs: held by whatever may still
    /// [`add`](Self::add) collections (a running parent adding its children).
    pub fn hold(&self) -> RunnerHold {
        RunnerHold::new(self.inner.tasks.token())
    }

    /// Records that `n` children of `group` were listed by its feeder but
    /// never started in this run (shown in [`GroupStatus::not_crawled`], so
    /// a summary counts every child that was not crawled).
    pub fn set_group_not_crawled(&self, group: &str, n: u64) {
        self.inner.board.set_not_crawled(group, n);
    }

    /// Makes child collection `group` known to the runner before its first
    /// child runs, so its run history ([`runs`](Self::runs)) answers an
    /// empty list instead of an unknown collection. A child collection's
    /// feeder calls it when it is set up.
    pub fn register_group(&self, group: &str) {
        self.inner.board.register_group(group);
    }

    /// The aggregated status of every [group](Collection::group), by name.
    pub fn groups(&self) -> Vec<GroupStatus> {
        self.inner.board.groups()
    }

    /// The aggregated status of group `name` (all zeros for a group
    /// [registered](Self::register_group) whose children have not run),
    /// or `None` when no group has that name.
    pub fn group(&self, name: &str) -> Option<GroupStatus> {
        let found = self.groups().into_iter().find(|g| g.group == name);
        found.or_else(|| {
            self.inner.board.is_group(name).then(|| GroupStatus {
                group: name.to_owned(),
                ..GroupStatus::default()
            })
        })
    }

    fn entry(&self, name: &str) -> Result<Arc<Entry>, RunnerError> {
        self.inner
            .board
            .find(name)
            .ok_or_else(|| RunnerError::UnknownCollection {
                collection: name.to_owned(),
            })
    }

    /// Waits until every collection has ended (a service: until it is shut
    /// down and every collection has drained) and returns a summary per
    /// collection, in the order they were added. Starts the runner if it
    /// was not started.
    pub async fn join(&self) -> Vec<CollectionSummary> {
        // Inside an async fn a runtime is present, so starting cannot fail.
        let _ = self.start();
        self.finished().await
    }
    /// Waits for the end without starting the runner.
    async fn finished(&self) -> Vec<CollectionSummary> {
        let mut done = self.inner.done.subscribe();
        match done.wait_for(Option::is_some).await {
            Ok(summaries) => summaries.as_deref().cloned().unwrap_or_default(),
            // The sender lives in `inner`, which `self` keeps alive.
            Err(_) => Vec::new(),
        }
    }

    /// A stream of what happens to the collections. Subscribe before
    /// [`start`](Self::start) to see every event; the stream ends after the
    /// runner's last event.
    pub fn events(&self) -> RunnerEvents {
        self.inner.board.subscribe()
    }

    /// The top-level collections removed with [`remove`](Self::remove) and
    /// not added again since: `/metrics` leaves their series out.
    #[cfg(feature = "serve")]
    pub(crate) fn removed(&self) -> std::collections::HashSet<String> {
        self.inner.removed_names().clone()
    }

    /// Links alerts to the status page at `base` (`http://host:port/`);
    /// the server calls it when it starts.
    pub fn set_status_page(&self, base: Option<String>) {
        if let Some(alerts) = &self.inner.options.alerts {
            alerts.set_status_page(base);
        }
    }

    /// A snapshot of every collection's status, in the order they were added.
    pub fn status(&self) -> Vec<CollectionStatus> {
        self.inner.board.snapshot()
    }

    /// Graceful shutdown: pipelines stop at their next page boundary and
    /// drain, checkpoints are saved, unfinished collections end `Cancelled`.
    /// Returns at once; [`join`](Self::join) waits for the end.
    pub fn shutdown(&self) {
        self.inner.shutdown.cancel();
    }

    /// Stops waiting for pipelines to drain: every collection still running
    /// ends `Cancelled` now, with its last committed cursor. Also a graceful
    /// [`shutdown`](Self::shutdown).
    pub fn force(&self) {
        self.inner.shutdown.cancel();
        self.inner.force.cancel();
    }

    /// Whether a shutdown was requested.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutdown.is_cancelled()
    }
}
