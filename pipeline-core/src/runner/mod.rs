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
//! people watching know what was unfinished.
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
//! # Clean shutdown
//!
//! [`Runner::shutdown`] cancels every pipeline: sources stop at their next
//! page boundary, in-flight items drain into the sinks, the committed cursors
//! are saved and unfinished collections end `Cancelled`; the next run resumes
//! them. If that takes longer than the
//! [`shutdown_timeout`](RunnerBuilder::shutdown_timeout), or on
//! [`Runner::force`], the runner stops waiting for the pipelines.

mod board;
mod collection;
mod error;
mod event;
mod signals;
mod stall;
mod status;
mod summary;
mod task;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use self::board::Board;
pub use self::collection::Collection;
pub use self::error::{CollectionError, RunnerError};
pub use self::event::{RunnerEvent, RunnerEvents};
pub use self::status::CollectionStatus;
pub use self::summary::CollectionSummary;
use crate::policy::{Jitter, RetryPolicy};
use crate::{CheckpointStore, State};

/// The runner's limits; every one has a default.
#[derive(Debug, Clone)]
struct RunnerConfig {
    concurrency: usize,
    max_resumes: u32,
    backoff_initial: Duration,
    backoff_max: Duration,
    stall_after: Option<Duration>,
    fresh: bool,
    shutdown_timeout: Duration,
    event_capacity: usize,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            concurrency: 4,
            max_resumes: 5,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            stall_after: Some(Duration::from_secs(300)),
            fresh: false,
            shutdown_timeout: Duration::from_secs(60),
            event_capacity: 1024,
        }
    }
}

impl RunnerConfig {
    /// Equal jitter: many collections failing on one host do not all come
    /// back at the same instant, nor any of them at once.
    fn resume_backoff(&self, attempt: u32) -> Duration {
        RetryPolicy::new(u32::MAX)
            .initial_backoff(self.backoff_initial)
            .max_backoff(self.backoff_max)
            .jitter(Jitter::Equal)
            .backoff(attempt)
    }
}

type Done = Option<Arc<Vec<CollectionSummary>>>;

#[derive(Debug)]
struct Inner {
    collections: Vec<Collection>,
    options: RunnerConfig,
    board: Board,
    slots: Arc<Semaphore>,
    shutdown: CancellationToken,
    force: CancellationToken,
    started: AtomicBool,
    done: watch::Sender<Done>,
}

/// Configures a [`Runner`]; from [`Runner::builder`].
#[must_use = "a builder does nothing until built"]
pub struct RunnerBuilder {
    store: Arc<dyn CheckpointStore>,
    collections: Vec<Collection>,
    options: RunnerConfig,
}

impl std::fmt::Debug for RunnerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunnerBuilder")
            .field("collections", &self.collections)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl RunnerBuilder {
    /// Adds a collection. Names must be unique and not empty.
    pub fn collection(mut self, collection: Collection) -> Self {
        self.collections.push(collection);
        self
    }

    /// Adds several collections.
    pub fn collections(mut self, collections: impl IntoIterator<Item = Collection>) -> Self {
        self.collections.extend(collections);
        self
    }

    /// Collections crawling at once (default 4). Must be at least 1.
    pub fn concurrency(mut self, collections: usize) -> Self {
        self.options.concurrency = collections;
        self
    }

    /// Resumes after resumable failures per collection and run (default 5);
    /// then the collection is `Failed`, its last error and cursor kept.
    pub fn max_resumes(mut self, resumes: u32) -> Self {
        self.options.max_resumes = resumes;
        self
    }

    /// The runner's own wait before resume `n`: between half and all of
    /// `initial × 2^(n-1)`, at most `max` (default 1 s .. 60 s). A later
    /// `retry_at` from the failure (`Retry-After`, a breaker's cooldown) wins.
    pub fn resume_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.options.backoff_initial = initial;
        self.options.backoff_max = max.max(initial);
        self
    }

    /// Flags a collection as stalled after this long crawling with no
    /// progress (default 5 min; `None` turns the detector off).
    pub fn stall_after(mut self, after: Option<Duration>) -> Self {
        self.options.stall_after = after.filter(|d| !d.is_zero());
        self
    }

    /// Ignores stored checkpoints: every collection's sink forgets its cursor
    /// and the first attempt starts from the beginning.
    pub fn fresh(mut self, fresh: bool) -> Self {
        self.options.fresh = fresh;
        self
    }

    /// After [`Runner::shutdown`], how long to wait for pipelines to drain
    /// before forcing (default 60 s). Pipelines have their own drain timeout.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.options.shutdown_timeout = timeout;
        self
    }

    /// Events a slow subscriber may fall behind before missing some (default 1024).
    pub fn event_capacity(mut self, events: usize) -> Self {
        self.options.event_capacity = events;
        self
    }

    /// Builds the runner; nothing runs until [`Runner::start`] or [`Runner::join`].
    ///
    /// # Errors
    ///
    /// [`RunnerError`] when a collection name is empty, repeated, or
    /// differs from another only in case, or when `concurrency` or
    /// `event_capacity` is zero.
    pub fn build(self) -> Result<Runner, RunnerError> {
        let mut names: Vec<Arc<str>> = Vec::with_capacity(self.collections.len());
        for c in &self.collections {
            if c.name.is_empty() {
                return Err(RunnerError::EmptyName);
            }
            if let Some(other) = names.iter().find(|n| n.eq_ignore_ascii_case(&c.name)) {
                return Err(if **other == *c.name {
                    RunnerError::DuplicateCollection {
                        collection: c.name.to_string(),
                    }
                } else {
                    RunnerError::CaseCollision {
                        first: other.to_string(),
                        second: c.name.to_string(),
                    }
                });
            }
            names.push(c.name.clone());
        }
        if self.options.concurrency == 0 {
            return Err(RunnerError::Zero {
                setting: "concurrency",
            });
        }
        if self.options.event_capacity == 0 {
            return Err(RunnerError::Zero {
                setting: "event_capacity",
            });
        }
        let board = Board::new(&names, self.store, self.options.event_capacity);
        let (done, _) = watch::channel(None);
        Ok(Runner {
            inner: Arc::new(Inner {
                collections: self.collections,
                slots: Arc::new(Semaphore::new(self.options.concurrency)),
                options: self.options,
                board,
                shutdown: CancellationToken::new(),
                force: CancellationToken::new(),
                started: AtomicBool::new(false),
                done,
            }),
        })
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
/// use pipeline_core::runner::{Collection, Runner, RunnerEvent};
/// use pipeline_core::testkit::{CollectSink, ScriptedPaged};
/// use pipeline_core::{MemoryCheckpointStore, Pipeline, State};
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
/// assert!(summaries.iter().all(|s| s.state == State::Completed && s.items_written == 30));
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
        runtime.spawn(drive(self.inner.clone()));
        Ok(())
    }

    /// Waits until every collection has ended and returns a summary per
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

/// Runs every collection to its end, then publishes the summaries.
async fn drive(inner: Arc<Inner>) {
    let started = Instant::now();
    let stall = inner
        .options
        .stall_after
        .map(|after| tokio::spawn(stall::watch_stalls(inner.clone(), after)));
    let watchdog = tokio::spawn(watchdog(inner.clone()));
    let tasks: Vec<_> = (0..inner.collections.len())
        .map(|i| {
            let span = tracing::info_span!("collection", collection = %inner.collections[i].name);
            tokio::spawn(task::Run::new(inner.clone(), i, started).drive().instrument(span))
        })
        .collect();
    let mut summaries = Vec::with_capacity(tasks.len());
    for (i, t) in tasks.into_iter().enumerate() {
        let summary = match t.await {
            Ok(summary) => summary,
            Err(e) => panicked(&inner, i, &e.to_string(), started),
        };
        summaries.push(summary);
    }
    if let Some(stall) = stall {
        stall.abort();
    }
    watchdog.abort();
    inner.board.close_events();
    inner.done.send_replace(Some(Arc::new(summaries)));
}

/// After a shutdown request, forces the end once the shutdown timeout passed.
async fn watchdog(inner: Arc<Inner>) {
    inner.shutdown.cancelled().await;
    tokio::time::sleep(inner.options.shutdown_timeout).await;
    tracing::warn!(timeout = ?inner.options.shutdown_timeout, "shutdown deadline passed; forcing");
    inner.force.cancel();
}

fn panicked(inner: &Inner, i: usize, message: &str, started: Instant) -> CollectionSummary {
    let collection = inner.collections[i].name.to_string();
    let error = CollectionError::Panicked {
        collection: collection.clone(),
        message: message.to_owned(),
    };
    tracing::error!(%collection, %error, "runner task failed");
    let status = inner.board.mark(i, State::Failed, |s| {
        s.last_error = Some(error.to_string());
    });
    CollectionSummary {
        collection,
        state: status.state,
        pages: status.pages,
        items_fetched: status.items_fetched,
        items_written: status.items_written,
        resumes: status.resumes,
        elapsed: started.elapsed(),
        last_error: Some(error),
        cursor: status.cursor,
    }
}
