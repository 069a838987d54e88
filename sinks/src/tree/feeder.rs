//! The feeder of one child collection: it adds the collection's children
//! to the runner as the parent's items arrive, a bounded window at a time.
//!
//! The children of `issues` (parent `repos`) are the rows of the table
//! `repos`: the parent's sink commits them with the parent's cursor, and the
//! feeder lists every row it has not listed yet as a pending child in
//! `pipeline_children` ([`ChildQueue`]). It keeps at most `window` children
//! in the runner (each a grouped collection `issues/<parent key>` with its
//! own checkpoint row, made by the caller's factory), and ends when the
//! parent has ended and every listed child has. A child's sink marks it
//! `done` in the transaction of its last batch; the feeder records the
//! failed ones. So a parent of 100 000 items never holds more than `window`
//! children in memory, and a killed crawl resumes: `done` children are
//! skipped, the others resume from their checkpoints.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use crawlpipe_core::history::RunOutcome;
use crawlpipe_core::runner::{Collection, CollectionEnd, Runner, RunnerHold};
use crawlpipe_core::{CheckpointStore, State};
use futures::future::OptionFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use tokio::sync::watch;

use super::scans::{ParentWrites, Scans};
use crate::{ChildQueue, Database, Error, ParentColumns, QueuedChild, SqlCheckpointStore};

mod child_runs;

/// How a collection or a child collection ended, as its dependants see it:
/// `None` while it runs, then whether it completed.
pub type Ended = watch::Receiver<Option<bool>>;

/// Makes the runner collection of one child: given the child's name
/// (`<child collection>/<parent key>`) and the queued child (its parent's
/// key and stored row). The feeder puts it in the group of the child
/// collection. Its sink is built with `child_of` (see
/// [`RowSinkBuilder::child_of`](crate::RowSinkBuilder::child_of)), so the
/// child is marked `done` with its last batch.
pub type ChildFactory = Arc<dyn Fn(&str, QueuedChild) -> Collection + Send + Sync>;

/// The default number of children in the runner at once.
pub const DEFAULT_WINDOW: usize = 8;

/// One child collection's feeder: built with [`ChildFeeder::new`], started
/// with [`ChildFeeder::spawn`] before the runner starts.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "sqlite")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use crawlpipe_core::runner::{Collection, Runner};
/// use crawlpipe_core::testkit::ScriptedPaged;
/// use crawlpipe_core::Pipeline;
/// use serde_json::{json, Value};
/// use crawlpipe_sinks::{ChildFeeder, ColumnType, Database, ParentColumns};
///
/// let dir = tempfile::tempdir()?;
/// let db = Database::open(&format!("sqlite://{}", dir.path().join("t.db").display())).await?;
/// let runner = Runner::builder(Arc::new(db.checkpoint_store())).build()?;
/// let repos_db = db.clone();
/// let repos = runner.add_watched(Collection::new("repos", move |name| {
///     let pages = vec![vec![json!({"id": 1}), json!({"id": 2})]];
///     let sink = repos_db.documents().key_pointer("/id").build().expect("sink");
///     Ok(Pipeline::paged(name, ScriptedPaged::new(pages)).sink(sink))
/// }))?;
/// let issues_db = db.clone();
/// let ended = ChildFeeder::new(&db, &runner, "issues", "repos", ParentColumns::Document, move |name, child| {
///     // Two issues per repository, each row with its parent's key.
///     let (db, parent) = (issues_db.clone(), child.parent_key.clone());
///     Collection::new(name, move |name| {
///         let sink = db.rows::<Value>().table("issues").child_of("issues", &parent)
///             .columns([("data", ColumnType::Json), ("parent", ColumnType::Text)])
///             .key_pointer("/data/id").build().expect("sink");
///         let (p, items) = (parent.clone(), vec![vec![json!({"id": format!("{parent}.1")}), json!({"id": format!("{parent}.2")})]]);
///         Ok(Pipeline::paged(name, ScriptedPaged::new(items))
///             .map(move |item: Value| json!({"data": item, "parent": p}))
///             .sink(sink))
///     })
/// })?
/// .parent(repos)
/// .spawn();
/// runner.start()?;
/// runner.join().await;
/// assert_eq!(*ended.borrow(), Some(true));
/// assert_eq!(runner.groups()[0].items_written, 4);
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "sqlite"))]
/// # fn main() {}
/// ```
#[must_use = "a feeder does nothing until spawned"]
pub struct ChildFeeder {
    /// The child collection: the children's group and table.
    name: String,
    queue: ChildQueue,
    runner: Runner,
    store: SqlCheckpointStore,
    window: usize,
    /// Forget the children of an earlier run (that run completed, or `--fresh`).
    new_run: bool,
    parent: Ended,
    /// The parent's items written, when the parent runs in this process as
    /// a top-level collection: its commits wake the feeder.
    parent_written: Option<watch::Receiver<u64>>,
    done: watch::Sender<Option<bool>>,
    factory: ChildFactory,
}

impl std::fmt::Debug for ChildFeeder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildFeeder")
            .field("name", &self.name)
            .field("window", &self.window)
            .field("new_run", &self.new_run)
            .finish_non_exhaustive()
    }
}

/// A claim of pending children in flight, as its own task.
type Claim = tokio::task::JoinHandle<Result<Vec<QueuedChild>, Error>>;

/// A running child: its parent's key and its end.
type Running = FuturesUnordered<futures::future::BoxFuture<'static, (String, bool)>>;

/// The end of a collection added with [`Runner::add_watched`], as an
/// [`Ended`] and its items written; the watcher runs as a Tokio task.
pub(crate) fn watch_end(end: CollectionEnd) -> (Ended, watch::Receiver<u64>) {
    let written = end.written();
    let (tx, rx) = watch::channel(None);
    tokio::spawn(async move {
        let ok = end.ended().await.is_some_and(|s| s.state == State::Completed);
        tx.send_replace(Some(ok));
    });
    (rx, written)
}

impl ChildFeeder {
    /// A feeder of child collection `child`: one child per row of the table
    /// of collection `parent` (kept as `columns`), made by `factory`. The
    /// parent counts as ended (its stored rows are the parents) until
    /// [`parent`](Self::parent) or [`parent_end`](Self::parent_end) says otherwise.
    ///
    /// # Errors
    ///
    /// [`Error::Identifier`] for an invalid parent table or column name.
    pub fn new(
        db: &Database,
        runner: &Runner,
        child: &str,
        parent: &str,
        columns: ParentColumns,
        factory: impl Fn(&str, QueuedChild) -> Collection + Send + Sync + 'static,
    ) -> Result<Self, Error> {
        let queue = db.child_queue(child, parent, columns)?;
        // Its run history answers before its first child runs.
        runner.register_group(child);
        Ok(Self {
            name: child.to_owned(),
            queue,
            runner: runner.clone(),
            store: db.checkpoint_store(),
            window: DEFAULT_WINDOW,
            new_run: true,
            parent: watch::channel(Some(true)).1,
            parent_written: None,
            done: watch::channel(None).0,
            factory: Arc::new(factory),
        })
    }

    /// At most `window` children in the runner at once (default
    /// [`DEFAULT_WINDOW`]; at least 1).
    pub fn window(mut self, window: usize) -> Self {
        self.window = window.max(1);
        self
    }

    /// Whether this run lists the children again (`true`, the default:
    /// the last run completed, or a fresh crawl) or resumes the last run's
    /// list (`done` children skipped); see
    /// [`TreePlan::is_new_run`](crawlpipe_core::runner::TreePlan::is_new_run).
    pub fn new_run(mut self, new_run: bool) -> Self {
        self.new_run = new_run;
        self
    }

    /// The parent runs in this runner as a top-level collection: the feeder
    /// lists new children as its batches commit, and ends after it.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime (a task watches the parent's end).
    pub fn parent(mut self, end: CollectionEnd) -> Self {
        let (ended, written) = watch_end(end);
        self.parent = ended;
        self.parent_written = Some(written);
        self
    }

    /// The parent ends when `ended` says so (a child collection's feeder's
    /// [`Ended`]); the feeder polls its table meanwhile.
    pub fn parent_end(mut self, ended: Ended) -> Self {
        self.parent = ended;
        self
    }

    pub(crate) fn parent_signals(mut self, ended: Ended, written: Option<watch::Receiver<u64>>) -> Self {
        self.parent = ended;
        self.parent_written = written;
        self
    }

    /// Starts feeding as a Tokio task, holding the runner open until the
    /// parent and every child have ended: call before the runner starts.
    /// Returns how the child collection ends (its state is recorded in the
    /// checkpoint store under its name too).
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    pub fn spawn(self) -> Ended {
        let ended = self.done.subscribe();
        let hold = self.runner.hold();
        tokio::spawn(self.run(hold));
        ended
    }

    /// Feeds children until the parent and every child have ended; records
    /// the group's state and its run (in the runner's history) and tells
    /// its own dependants.
    /// `hold` keeps the runner alive meanwhile: take it before the runner starts.
    pub(crate) async fn run(self, hold: RunnerHold) {
        let name = self.name.clone();
        let started_at = std::time::SystemTime::now();
        // Claimed but not started yet: counted as not crawled if the feeder stops.
        let mut ready: VecDeque<QueuedChild> = VecDeque::new();
        let completed = match self.feed(&mut ready).await {
            Ok(completed) => completed,
            Err(e) => {
                tracing::error!(collection = %name, error = %e, "feeding child collections failed");
                false
            }
        };
        if !completed {
            self.count_not_crawled(ready.len()).await;
        }
        let state = if completed {
            State::Completed
        } else if self.runner.is_shutting_down() {
            State::Cancelled
        } else {
            State::Failed
        };
        if let Err(e) = self.store.record(&name, state, None).await {
            tracing::error!(collection = %name, error = %e, "recording the child collection's state failed");
        }
        tracing::info!(collection = %name, %state, "child collection ended");
        let outcome = match state {
            State::Completed => RunOutcome::Completed,
            State::Cancelled => RunOutcome::Cancelled,
            _ => RunOutcome::Failed,
        };
        // One run of the child collection in the history: its children summed.
        self.runner.record_group_run(&name, started_at, outcome).await;
        self.done.send_replace(Some(completed));
        drop(hold);
    }

    /// Runs a queue operation until it succeeds, waiting out a busy
    /// database (no connection free in time, a locked file): a feeder never
    /// gives up on its pending children because a connection was busy.
    /// Stops retrying on shutdown or on an error that retrying cannot fix.
    async fn patiently<T, F, Fut>(&self, what: &str, mut op: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Error>>,
    {
        let mut wait = Duration::from_millis(50);
        loop {
            match op().await {
                Err(e) if e.is_transient() && !self.runner.is_shutting_down() => {
                    tracing::warn!(collection = %self.name, error = %e, "{what} waits for the database");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(2));
                }
                other => return other,
            }
        }
    }

    /// Whether the parent completed and every child is done.
    async fn feed(&self, ready: &mut VecDeque<QueuedChild>) -> Result<bool, Error> {
        let name = &self.name;
        self.patiently("listing children", || self.queue.prepare(self.new_run))
            .await?;
        if let Err(e) = self.store.record(name, State::Crawling, None).await {
            tracing::warn!(collection = %name, error = %e, "recording the child collection's state failed");
        }
        let mut parent = self.parent.clone();
        let mut running: Running = FuturesUnordered::new();
        // Claimed ahead: a claim runs in the background whenever fewer than a
        // window are ready, so a child that ends is replaced at once. It runs
        // as its own task: a claim future parked here while this loop awaits
        // another query could hold SQLite's only connection (sqlx hands it to
        // the queued claim) until the other query timed out.
        let mut claiming: Option<Claim> = None;
        // The last claim found no pending child: new ones come from a scan.
        let mut dry = false;
        // Failed children not yet recorded: one transaction per loop, not per
        // child. A completed child's sink marked it `done` with its last batch.
        let mut failed: Vec<String> = Vec::new();
        let mut all_done = true;
        let mut scans = Scans::default();
        let mut writes = ParentWrites {
            written: self.parent_written.clone(),
            seen: false,
        };
        loop {
            if !failed.is_empty() {
                let failed_refs: Vec<&str> = failed.iter().map(String::as_str).collect();
                self.patiently("recording failed children", || {
                    self.queue.finish(&[], &failed_refs)
                })
                .await?;
                failed.clear();
            }
            if self.runner.is_shutting_down() {
                // Running children drain under the runner; unfinished ones stay listed.
                while running.next().await.is_some() {}
                if let Some(claim) = claiming.take()
                    && let Ok(Ok(claimed)) = claim.await
                {
                    ready.extend(claimed);
                }
                return Ok(false);
            }
            // Read before listing: a parent that has ended has committed every row.
            let parent_end = *parent.borrow_and_update();
            // No claim is in flight when `dry`: claims start only while not.
            if dry && scans.due(writes.seen, parent_end.is_some()) {
                scans.start(parent_end.is_some());
                writes.seen = false;
                dry = self
                    .patiently("listing children", || self.queue.discover())
                    .await?
                    == 0;
                scans.took();
            }
            if !dry && claiming.is_none() && ready.len() < self.window {
                let (queue, window) = (self.queue.clone(), self.window);
                claiming = Some(tokio::spawn(async move { queue.claim(window).await }));
            }
            while running.len() < self.window
                && let Some(child) = ready.pop_front()
            {
                running.push(self.start(child));
            }
            if let Some(parent_ok) = parent_end
                && scans.after_end
                && dry
                && running.is_empty()
                && ready.is_empty()
            {
                let unfinished = self
                    .patiently("counting children", || self.queue.unfinished())
                    .await?;
                return Ok(parent_ok && all_done && unfinished == 0);
            }
            let wait = scans.wait(writes.seen && dry);
            tokio::select! {
                Some((key, ok)) = running.next() => {
                    all_done &= ok;
                    if !ok { failed.push(key) }
                    // Collect every child that ended meanwhile into the same write.
                    while let Some(Some((key, ok))) = running.next().now_or_never() {
                        all_done &= ok;
                        if !ok { failed.push(key) }
                    }
                }
                Some(claimed) = OptionFuture::from(claiming.as_mut()) => {
                    claiming = None;
                    match claimed.map_err(|e| Error::Config {
                        collection: name.clone(),
                        reason: format!("claiming children: {e}"),
                    })? {
                        Ok(claimed) => {
                            dry = claimed.is_empty();
                            ready.extend(claimed);
                        }
                        // Busy: the next turn of the loop claims again.
                        Err(e) if e.is_transient() => {
                            tracing::warn!(collection = %name, error = %e, "claiming children waits for the database");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        Err(e) => return Err(e),
                    }
                }
                _ = parent.changed(), if parent_end.is_none() => {}
                () = writes.next(), if parent_end.is_none() && !writes.seen => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}
