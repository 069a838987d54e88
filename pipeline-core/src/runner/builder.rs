//! The runner's builder and its settings.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::board::Board;
use super::{Collection, Coordinator, Inner, Runner, RunnerError};
use crate::CheckpointStore;
use crate::history::{Alerts, MemoryRunHistory, RunHistory};
use crate::policy::{Jitter, RetryPolicy};

/// Collections a runner runs at once unless told otherwise
/// ([`RunnerBuilder::concurrency`]).
pub const DEFAULT_CONCURRENCY: usize = 4;

/// Resumes after in-band failures per collection and run unless told
/// otherwise ([`RunnerBuilder::max_resumes`]).
pub const DEFAULT_MAX_RESUMES: u32 = 5;

/// The runner's limits; every one has a default.
#[derive(Debug, Clone)]
pub(crate) struct RunnerConfig {
    pub(crate) concurrency: usize,
    /// Grouped collections at once, in slots of their own (`None`: they share `concurrency`).
    pub(crate) group_concurrency: Option<usize>,
    pub(crate) max_resumes: u32,
    pub(crate) backoff_initial: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) stall_after: Option<Duration>,
    pub(crate) fresh: bool,
    pub(crate) service: bool,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) event_capacity: usize,
    pub(crate) coordinator: Option<Arc<dyn Coordinator>>,
    pub(crate) history: Arc<dyn RunHistory>,
    /// Runs kept per collection in the history.
    pub(crate) keep: usize,
    pub(crate) alerts: Option<Alerts>,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            concurrency: DEFAULT_CONCURRENCY,
            group_concurrency: None,
            max_resumes: DEFAULT_MAX_RESUMES,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            stall_after: Some(Duration::from_secs(300)),
            fresh: false,
            service: false,
            shutdown_timeout: Duration::from_secs(60),
            event_capacity: 1024,
            coordinator: None,
            history: Arc::new(MemoryRunHistory::new()),
            keep: crate::history::DEFAULT_KEEP,
            alerts: None,
        }
    }
}

impl RunnerConfig {
    /// Equal jitter: many collections failing on one host do not all come
    /// back at the same instant, nor any of them at once.
    pub(crate) fn resume_backoff(&self, attempt: u32) -> Duration {
        RetryPolicy::new(u32::MAX)
            .initial_backoff(self.backoff_initial)
            .max_backoff(self.backoff_max)
            .jitter(Jitter::Equal)
            .backoff(attempt)
    }
}

/// Configures a [`Runner`]; from [`Runner::builder`].
#[must_use = "a builder does nothing until built"]
pub struct RunnerBuilder {
    pub(crate) store: Arc<dyn CheckpointStore>,
    pub(crate) collections: Vec<Collection>,
    pub(crate) options: RunnerConfig,
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

    /// Grouped collections ([`Collection::group`], the children of a child
    /// collection) crawling at once, in slots of their own: they then no
    /// longer take `concurrency` slots (default: they share them). Whoever
    /// adds them still bounds how many wait; hosts' politeness bounds their
    /// requests. Must be at least 1.
    pub fn group_concurrency(mut self, collections: usize) -> Self {
        self.options.group_concurrency = Some(collections);
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

    /// A service: collections with an [interval](Collection::every) run
    /// again when due, the others wait for [`Runner::run_now`], and the
    /// runner ends only on [`Runner::shutdown`] (default off: a one-shot
    /// runner runs each collection once and ends when all are done).
    pub fn service(mut self, on: bool) -> Self {
        self.options.service = on;
        self
    }

    /// Shares the collections with other processes through `coordinator`
    /// (a cluster): each run claims the collection's lease first (waiting,
    /// and polling, while another process holds it or it is not due), renews
    /// it while it runs and releases it at the end; schedules live in the
    /// coordinator. A one-shot runner then ends each collection once a run of
    /// it ended anywhere in the cluster since it started. See
    /// [`Coordinator`].
    pub fn coordinator(mut self, coordinator: Arc<dyn Coordinator>) -> Self {
        self.options.coordinator = Some(coordinator);
        self
    }

    /// Where each finished run is recorded (default: a
    /// [`MemoryRunHistory`]). The runner reads each collection's last runs
    /// from it when the collection starts; `GET /collections/{name}/runs`
    /// reads it. See [`history`](crate::history).
    pub fn history(mut self, history: Arc<dyn RunHistory>) -> Self {
        self.options.history = history;
        self
    }

    /// Runs kept per collection in the history (default
    /// [`DEFAULT_KEEP`](crate::history::DEFAULT_KEEP), 100). Must be at least 1.
    pub fn history_keep(mut self, runs: usize) -> Self {
        self.options.keep = runs;
        self
    }

    /// Sends alerts when a collection fails, recovers or becomes stale
    /// (default none). In a cluster, the process that saw the event sends
    /// it: the one that ran the failed or recovered run, and for
    /// staleness the one that ran the collection last.
    pub fn alerts(mut self, alerts: Alerts) -> Self {
        self.options.alerts = Some(alerts);
        self
    }

    /// Builds the runner; nothing runs until [`Runner::start`] or [`Runner::join`].
    ///
    /// # Errors
    ///
    /// [`RunnerError`] when a collection name is empty, repeated, or
    /// differs from another only in case, or when `concurrency`,
    /// `group_concurrency` or `event_capacity` is zero.
    pub fn build(self) -> Result<Runner, RunnerError> {
        let mut names: Vec<&str> = Vec::with_capacity(self.collections.len());
        for c in &self.collections {
            if names.contains(&&*c.name) {
                return Err(RunnerError::DuplicateCollection {
                    collection: c.name.to_string(),
                });
            }
            names.push(&c.name);
        }
        if self.options.concurrency == 0 {
            return Err(RunnerError::Zero {
                setting: "concurrency",
            });
        }
        if self.options.group_concurrency == Some(0) {
            return Err(RunnerError::Zero {
                setting: "group_concurrency",
            });
        }
        let max = Semaphore::MAX_PERMITS;
        for (setting, value) in [
            ("concurrency", Some(self.options.concurrency)),
            ("group_concurrency", self.options.group_concurrency),
        ] {
            if let Some(value) = value.filter(|v| *v > max) {
                return Err(RunnerError::TooLarge { setting, max, value });
            }
        }
        if self.options.keep == 0 {
            return Err(RunnerError::Zero { setting: "history" });
        }
        if self.options.event_capacity == 0 {
            return Err(RunnerError::Zero {
                setting: "event_capacity",
            });
        }
        let board = Board::new(self.store, self.options.event_capacity);
        let (done, _) = watch::channel(None);
        let runner = Runner {
            inner: Arc::new(Inner {
                slots: Arc::new(Semaphore::new(self.options.concurrency)),
                group_slots: self
                    .options
                    .group_concurrency
                    .map(|n| Arc::new(Semaphore::new(n))),
                options: self.options,
                board,
                shutdown: CancellationToken::new(),
                force: CancellationToken::new(),
                tasks: TaskTracker::new(),
                started: AtomicBool::new(false),
                done,
                removed: Default::default(),
                freshness: tokio::sync::Notify::new(),
            }),
        };
        for c in self.collections {
            runner.add(c)?;
        }
        Ok(runner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::MemoryCheckpointStore;

    #[test]
    fn slots_beyond_a_semaphore_are_an_error_not_a_panic() {
        let builder = || Runner::builder(Arc::new(MemoryCheckpointStore::new()));
        let huge = Semaphore::MAX_PERMITS + 1;
        let err = builder().concurrency(huge).build().unwrap_err();
        assert!(
            matches!(
                err,
                RunnerError::TooLarge {
                    setting: "concurrency",
                    ..
                }
            ),
            "{err}"
        );
        let err = builder().group_concurrency(huge).build().unwrap_err();
        assert!(
            err.to_string().contains("group_concurrency must be at most"),
            "{err}"
        );
        assert!(builder().concurrency(Semaphore::MAX_PERMITS).build().is_ok());
    }
}
