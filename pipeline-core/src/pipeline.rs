//! The pipeline builder.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::attempt_start::StartAt;
use crate::driver::{PagedConfig, run_chain, run_paged, run_push};
use crate::edge::edge;
use crate::meters::edge_gauge;
pub(crate) use crate::pipeline_config::{PipelineConfig, Tasks};
use crate::policy::RetryPolicy;
use crate::shared::{Shared, Start};
use crate::stage::{Applied, CustomOp, Op, Pull, StageAdapter, SyncOp, ThenOp, shared_error};
use crate::{
    BoxError, BuildError, Cursor, ItemErrorPolicy, Paged, PipelineStream, PushSource, Runnable, Sink,
    Transform,
};

type Build<T> = Box<dyn FnOnce(&Arc<Shared>, &PipelineConfig, &mut Tasks) -> Box<dyn Pull<T>> + Send>;

/// A pipeline under construction: a source, then transforms, then a sink.
///
/// Stages are joined by bounded edges whose capacity is counted in items; the
/// source runs in its own task, the transforms run fused in one task, the sink
/// in another, so a slow sink slows the source instead of filling memory.
/// PipelineConfig (`capacity`, `batch_size`, …) may be given in any order; transforms
/// apply in the order they are added.
///
/// # Examples
///
/// ```
/// use crawlpipe_core::Pipeline;
/// use crawlpipe_core::testkit::{CollectSink, ScriptedPaged};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let sink = CollectSink::new();
/// let collected = sink.handle();
/// let report = Pipeline::paged("numbers", ScriptedPaged::numbered(3, 10))
///     .filter(|n| n % 2 == 0)
///     .map(|n| n * 10)
///     .sink(sink)
///     .spawn()?
///     .join()
///     .await;
/// assert!(report.outcome.is_completed());
/// assert_eq!(collected.items().len(), 15);
/// # Ok(())
/// # }
/// ```
#[must_use = "a pipeline does nothing until it is given a sink and spawned"]
pub struct Pipeline<T> {
    name: Arc<str>,
    host: Option<String>,
    pub(crate) settings: PipelineConfig,
    build: Build<T>,
    transforms: usize,
    error: Option<BuildError>,
}

impl<T> std::fmt::Debug for Pipeline<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("name", &self.name)
            .field("settings", &self.settings)
            .field("transforms", &self.transforms)
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static> Pipeline<T> {
    /// A pipeline driven from a [`Paged`] source; `name` is the collection.
    ///
    /// The driver fetches with retry (see [`retry`](Self::retry)), emits each
    /// page's items then `Checkpoint(next)`, prefetches [`lookahead`](Self::lookahead)
    /// pages, fails on a repeated cursor, and stops at [`max_pages`](Self::max_pages).
    pub fn paged<P: Paged<Item = T>>(name: impl Into<String>, source: P) -> Self {
        let name: Arc<str> = name.into().into();
        let host = source.host().map(str::to_owned);
        let build: Build<T> = Box::new(move |shared, settings, tasks| {
            let (tx, rx) = edge(settings.capacity, edge_gauge(&shared.collection, "source"));
            let options = PagedConfig {
                lookahead: settings.lookahead,
                max_pages: settings.max_pages,
                retry: settings.retry.clone(),
            };
            tasks.spawn(run_paged(source, tx, shared.clone(), options));
            Box::new(rx)
        });
        Self::with_build(name, host, build)
    }

    /// A pipeline driven from a free-running [`PushSource`]; `name` is the collection.
    pub fn push<S: PushSource<Item = T>>(name: impl Into<String>, source: S) -> Self {
        let name: Arc<str> = name.into().into();
        let build: Build<T> = Box::new(move |shared, settings, tasks| {
            let (tx, rx) = edge(settings.capacity, edge_gauge(&shared.collection, "source"));
            tasks.spawn(run_push(source, tx, shared.clone()));
            Box::new(rx)
        });
        Self::with_build(name, None, build)
    }

    fn with_build(name: Arc<str>, host: Option<String>, build: Build<T>) -> Self {
        let error = if name.is_empty() {
            Some(BuildError::Name {
                name: name.to_string(),
                reason: "it is empty",
            })
        } else {
            None
        };
        Self {
            name,
            host,
            settings: PipelineConfig::default(),
            build,
            transforms: 0,
            error,
        }
    }

    /// The collection's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Starts from this cursor (`None`: the first page) instead of where
    /// the sink says the last run stopped.
    ///
    /// Rarely needed: a sink that stores its checkpoints (the SQL and JSON
    /// Lines sinks) hands its committed cursor to the pipeline when it opens,
    /// so a pipeline resumes by itself.
    pub fn resume_from(mut self, cursor: Option<Cursor>) -> Self {
        self.settings.start.at = StartAt::Cursor(cursor);
        self
    }

    /// Starts over: the sink forgets its stored cursor (a staging sink
    /// empties its staging table) and the source starts at the first page.
    pub fn fresh(mut self, fresh: bool) -> Self {
        self.settings.start.fresh = fresh;
        self
    }

    /// Items in flight per edge (default 1024). Must be at least 1.
    pub fn capacity(mut self, items: usize) -> Self {
        self.settings.capacity = items;
        self
    }

    /// Items per sink batch (default 1000). Must be at least 1.
    pub fn batch_size(mut self, items: usize) -> Self {
        self.settings.batch_size = items;
        self
    }

    /// The longest an item or checkpoint waits in the sink's buffer (default 1 s).
    pub fn batch_timeout(mut self, timeout: Duration) -> Self {
        self.settings.batch_timeout = timeout;
        self
    }

    /// After cancellation, how long the pipeline may drain before its tasks
    /// are aborted (default 30 s).
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.settings.drain_timeout = timeout;
        self
    }

    /// Pages fetched ahead of the one flowing downstream (default 1; 0 = strictly sequential).
    pub fn lookahead(mut self, pages: usize) -> Self {
        self.settings.lookahead = pages;
        self
    }

    /// Fails the collection with `MaxPages` after this many pages in one run.
    pub fn max_pages(mut self, pages: u64) -> Self {
        self.settings.max_pages = Some(pages);
        self
    }

    /// The retry policy around each page fetch (default: 5 attempts, 200 ms..10 s).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.settings.retry = policy;
        self
    }

    /// Cancels the pipeline when `token` is cancelled (a child token is used,
    /// so the pipeline never cancels its parent).
    pub fn cancel_token(mut self, token: CancellationToken) -> Self {
        self.settings.cancel = Some(token);
        self
    }

    fn op<U: Send + 'static, O: Op<T, U>>(self, kind: &str, op: O) -> Pipeline<U> {
        let stage = format!("{kind}#{}", self.transforms);
        let prev = self.build;
        Pipeline {
            name: self.name,
            host: self.host,
            settings: self.settings,
            build: Box::new(move |shared, settings, tasks| {
                let upstream = prev(shared, settings, tasks);
                Box::new(StageAdapter::new(upstream, op, stage, shared.clone()))
            }),
            transforms: self.transforms + 1,
            error: self.error,
        }
    }

    /// Transforms every item.
    pub fn map<U, F>(self, mut f: F) -> Pipeline<U>
    where
        U: Send + 'static,
        F: FnMut(T) -> U + Send + 'static,
    {
        self.op(
            "map",
            SyncOp(move |items: Vec<T>| {
                Ok(Applied {
                    items: items.into_iter().map(&mut f).collect(),
                    skipped: 0,
                })
            }),
        )
    }

    /// Keeps the items for which `f` returns true.
    pub fn filter<F>(self, mut f: F) -> Pipeline<T>
    where
        F: FnMut(&T) -> bool + Send + 'static,
    {
        self.op(
            "filter",
            SyncOp(move |mut items: Vec<T>| {
                items.retain(|x| f(x));
                Ok(Applied { items, skipped: 0 })
            }),
        )
    }

    /// Transforms and filters in one step.
    pub fn filter_map<U, F>(self, mut f: F) -> Pipeline<U>
    where
        U: Send + 'static,
        F: FnMut(T) -> Option<U> + Send + 'static,
    {
        self.op(
            "filter_map",
            SyncOp(move |items: Vec<T>| {
                Ok(Applied {
                    items: items.into_iter().filter_map(&mut f).collect(),
                    skipped: 0,
                })
            }),
        )
    }

    /// Transforms every item with a fallible closure; `policy` says whether an
    /// `Err` skips the item (counted) or fails the pipeline.
    pub fn try_map<U, E, F>(self, policy: ItemErrorPolicy, mut f: F) -> Pipeline<U>
    where
        U: Send + 'static,
        E: Into<BoxError>,
        F: FnMut(T) -> Result<U, E> + Send + 'static,
    {
        let collection = self.name.clone();
        let stage = format!("try_map#{}", self.transforms);
        self.op(
            "try_map",
            SyncOp(move |items: Vec<T>| {
                let mut out = Vec::with_capacity(items.len());
                let mut skipped = 0;
                for item in items {
                    match f(item) {
                        Ok(u) => out.push(u),
                        Err(e) => {
                            let e: BoxError = e.into();
                            match policy {
                                ItemErrorPolicy::Skip => {
                                    skipped += 1;
                                    tracing::warn!(%collection, %stage, error = %e, "item skipped");
                                }
                                ItemErrorPolicy::Fail => return Err(shared_error(e)),
                            }
                        }
                    }
                }
                Ok(Applied { items: out, skipped })
            }),
        )
    }

    /// Calls `f` on every item, passing it on unchanged.
    pub fn inspect<F>(self, mut f: F) -> Pipeline<T>
    where
        F: FnMut(&T) + Send + 'static,
    {
        self.op(
            "inspect",
            SyncOp(move |items: Vec<T>| {
                items.iter().for_each(&mut f);
                Ok(Applied { items, skipped: 0 })
            }),
        )
    }

    /// Runs an async closure per item, at most `limit` at once, keeping order.
    /// A `limit` of 0 is rejected by [`spawn`](Runnable::spawn).
    pub fn then<U, F, Fut>(mut self, limit: usize, f: F) -> Pipeline<U>
    where
        U: Send + 'static,
        F: FnMut(T) -> Fut + Send + 'static,
        Fut: Future<Output = U> + Send + 'static,
    {
        if limit == 0 && self.error.is_none() {
            self.error = Some(BuildError::Zero {
                collection: self.name.to_string(),
                setting: "then concurrency limit",
            });
        }
        self.op(
            "then",
            ThenOp {
                f,
                limit: limit.max(1),
            },
        )
    }

    /// Applies a custom chunk-level [`Transform`].
    pub fn transform<X: Transform<T>>(self, transform: X) -> Pipeline<X::Out> {
        self.op("transform", CustomOp(transform))
    }

    /// Attaches the sink; [`Runnable::spawn`] starts the pipeline. The sink
    /// gets the collection's name from the pipeline when it opens.
    pub fn sink<S: Sink<T>>(self, sink: S) -> Runnable<T> {
        Runnable::new(self, Box::new(sink))
    }

    pub(crate) fn validate(&self) -> Result<(), BuildError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let zero = |setting| BuildError::Zero {
            collection: self.name.to_string(),
            setting,
        };
        if self.settings.capacity == 0 {
            return Err(zero("capacity"));
        }
        if self.settings.batch_size == 0 {
            return Err(zero("batch_size"));
        }
        if u32::try_from(self.settings.capacity).is_err() {
            return Err(BuildError::TooLarge {
                collection: self.name.to_string(),
                setting: "capacity",
                max: u64::from(u32::MAX),
            });
        }
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(BuildError::NoRuntime {
                collection: self.name.to_string(),
            });
        }
        Ok(())
    }

    /// Starts the source and transforms; returns the shared state, tasks and output.
    pub(crate) fn start(self) -> (Arc<Shared>, Tasks, Box<dyn Pull<T>>, PipelineConfig) {
        let cancel = self
            .settings
            .cancel
            .as_ref()
            .map(CancellationToken::child_token)
            .unwrap_or_default();
        let shared = Shared::new(self.name.clone(), cancel, self.host.as_deref());
        let mut tasks = Tasks::default();
        let mut output = (self.build)(&shared, &self.settings, &mut tasks);
        if self.transforms > 0 {
            let (tx, rx) = edge(self.settings.capacity, edge_gauge(&self.name, "sink"));
            tasks.spawn(run_chain(output, tx));
            output = Box::new(rx);
        }
        (shared, tasks, output, self.settings)
    }

    /// Consumes the pipeline as a plain stream of items, with no sink.
    ///
    /// The stream yields `Ok(item)` in order; if the pipeline fails, the
    /// failure is the last element. Checkpoints are not visible here: a caller
    /// who needs resumable progress should use a [`Sink`]. Dropping the stream
    /// cancels the pipeline.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] for out-of-range settings or when called outside a runtime.
    pub fn into_stream(self) -> Result<PipelineStream<T>, BuildError> {
        self.validate()?;
        let (shared, tasks, output, settings) = self.start();
        // No sink to ask: start where the caller said, else at the first page.
        shared.set_start(Start::From(settings.start.chosen()));
        Ok(PipelineStream::new(output, shared, tasks))
    }
}
