//! Child collections: a feeder per child collection adds its children to
//! the runner as the parent's items arrive, a bounded window at a time.
//!
//! The children of `issues` (parent `repos`) are the rows of the table
//! `repos`: the parent's sink commits them with the parent's cursor, and the
//! feeder lists every row it has not listed yet as a pending child in
//! `pipeline_children` ([`ChildQueue`]). It keeps at most `window` children
//! in the runner (each a grouped collection `issues/<parent key>` with its
//! own checkpoint row), and ends when the parent has ended and every listed
//! child has. A child's sink marks it `done` in the transaction of its last
//! batch; the feeder records the failed ones. So a parent of 100 000 items never
//! holds more than `window` children in memory, and a killed crawl resumes:
//! `done` children are skipped, the others resume from their checkpoints.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures::future::OptionFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use pipeline_core::runner::{Collection, CollectionEnd, Runner, RunnerHold};
use pipeline_core::{BuildError, CheckpointStore, State};
use sinks::{ChildQueue, Database, QueuedChild, SqlCheckpointStore};
use sources::HttpContext;
use tokio::sync::watch;
use tokio::time::Instant;

use super::collections::{Target, build, since, with_since};
use super::config::{CollectionConfig, Mode};

/// How often a feeder looks for new parent rows while the parent runs and
/// has not been seen writing (it may run in another process).
const POLL: Duration = Duration::from_millis(100);

/// A scan of the parent's table is at most this share of the feeder's
/// time: after a scan that took `t`, the next waits at least `t × SCAN_SPACING`.
const SCAN_SPACING: u32 = 4;

/// How a collection or a group ended, as its dependants see it: `None`
/// while it runs, then whether it completed.
pub(crate) type Ended = watch::Receiver<Option<bool>>;

/// One child collection's feeder and what it needs.
pub(crate) struct Feeder {
    pub(crate) child: Arc<CollectionConfig>,
    pub(crate) queue: ChildQueue,
    pub(crate) runner: Runner,
    pub(crate) db: Database,
    pub(crate) ctx: HttpContext,
    pub(crate) mode: Mode,
    pub(crate) store: SqlCheckpointStore,
    pub(crate) window: usize,
    /// Forget the children of an earlier run (that run completed, or `--fresh`).
    pub(crate) new_run: bool,
    pub(crate) fresh: bool,
    pub(crate) parent: Ended,
    /// The parent's items written, when the parent runs in this process as
    /// a top-level collection: its commits wake the feeder.
    pub(crate) parent_written: Option<watch::Receiver<u64>>,
    pub(crate) done: watch::Sender<Option<bool>>,
}

/// A claim of pending children in flight, as its own task.
type Claim = tokio::task::JoinHandle<Result<Vec<QueuedChild>, sinks::Error>>;

/// A running child: its parent's key and its end.
type Running = FuturesUnordered<futures::future::BoxFuture<'static, (String, bool)>>;

impl Feeder {
    /// Feeds children until the parent and every child have ended; records
    /// the group's state and tells its own dependants.
    /// `hold` keeps the runner alive meanwhile: take it before the runner starts.
    pub(crate) async fn run(self, hold: RunnerHold) {
        let name = self.child.name.clone();
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
        self.done.send_replace(Some(completed));
        drop(hold);
    }

    /// Counts the children listed but never started (still `pending`, or
    /// claimed and not started) into the group's status, so the summary
    /// shows every child that was not crawled; they stay listed for the next run.
    async fn count_not_crawled(&self, claimed: usize) {
        // Parent rows committed but not listed yet are children too.
        if let Err(e) = self.queue.discover().await {
            tracing::warn!(collection = %self.child.name, error = %e, "listing the children not crawled failed");
        }
        let pending = match self.queue.pending().await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(collection = %self.child.name, error = %e, "counting the children not crawled failed");
                0
            }
        };
        let n = pending + claimed as u64;
        if n > 0 {
            tracing::warn!(collection = %self.child.name, children = n, "children were not crawled; the next run crawls them");
        }
        self.runner.set_group_not_crawled(&self.child.name, n);
    }

    /// Runs a queue operation until it succeeds, waiting out a busy
    /// database (no connection free in time, a locked file): a feeder never
    /// gives up on its pending children because a connection was busy.
    /// Stops retrying on shutdown or on an error that retrying cannot fix.
    async fn patiently<T, F, Fut>(&self, what: &str, mut op: F) -> Result<T, sinks::Error>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, sinks::Error>>,
    {
        let mut wait = Duration::from_millis(50);
        loop {
            match op().await {
                Err(e) if e.is_transient() && !self.runner.is_shutting_down() => {
                    tracing::warn!(collection = %self.child.name, error = %e, "{what} waits for the database");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(2));
                }
                other => return other,
            }
        }
    }

    /// Whether the parent completed and every child is done.
    async fn feed(&self, ready: &mut VecDeque<QueuedChild>) -> Result<bool, sinks::Error> {
        let name = &self.child.name;
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
                    match claimed.map_err(|e| sinks::Error::Config {
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

    /// Adds one child to the runner; resolves to its parent key and whether it completed.
    fn start(&self, queued: QueuedChild) -> futures::future::BoxFuture<'static, (String, bool)> {
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
        let group = self.child.name.clone();
        let name = format!("{group}/{}", queued.parent_key);
        let rendered = match &queued.parent {
            None => Err(format!("parent {:?}: the parent row is gone", queued.parent_key)),
            Some(item) => self
                .child
                .http
                .for_parent(item)
                .map_err(|e| format!("parent {:?}: {e}", queued.parent_key)),
        };
        let http = match rendered {
            Ok(http) => http,
            Err(reason) => {
                // Fails for good (a definition error), naming the parent key and pointer.
                return Collection::new(name, move |name: &str| {
                    Err::<pipeline_core::Runnable<serde_json::Value>, _>(BuildError::Definition {
                        collection: name.to_owned(),
                        reason: reason.clone(),
                    })
                })
                .group(group);
            }
        };
        let (c, db, ctx, mode) = (self.child.clone(), self.db.clone(), self.ctx.clone(), self.mode);
        let parent_key = queued.parent_key;
        let fresh = self.fresh;
        Collection::new_async(name, move |name: &str| {
            let (c, db, ctx, http, parent_key) = (
                c.clone(),
                db.clone(),
                ctx.clone(),
                http.clone(),
                parent_key.clone(),
            );
            let name = name.to_owned();
            async move {
                let mark = if fresh { None } else { since(&c, &name, &db).await? };
                let http = with_since(&c, &http, mark.as_deref())?;
                build(
                    &c,
                    &name,
                    &db,
                    &ctx,
                    mode,
                    Target {
                        http,
                        child: Some(&parent_key),
                    },
                )
            }
        })
        .group(group)
    }
}

/// When the feeder scans the parent's table for new children. A scan reads
/// the whole table, so scans are spaced by their own cost: right after the
/// parent commits rows when scans are cheap, further apart as the table
/// grows; at least every [`POLL`], and once more after the parent ended.
#[derive(Debug, Default)]
struct Scans {
    /// When the last scan started and how long it took.
    last: Option<(Instant, Duration)>,
    /// A scan ran after the parent ended (it saw every row).
    after_end: bool,
}

impl Scans {
    /// The shortest time between two scans' starts.
    fn spacing(&self) -> Duration {
        self.last
            .map_or(Duration::ZERO, |(_, took)| (took * SCAN_SPACING).min(POLL))
    }

    /// Whether to scan now: the parent wrote (and the spacing has passed),
    /// or [`POLL`] has passed, or the parent ended since the last scan.
    fn due(&self, parent_wrote: bool, parent_ended: bool) -> bool {
        let Some((at, _)) = self.last else { return true };
        (parent_ended && !self.after_end)
            || at.elapsed() >= POLL
            || (parent_wrote && at.elapsed() >= self.spacing())
    }

    fn start(&mut self, parent_ended: bool) {
        self.last = Some((Instant::now(), Duration::ZERO));
        self.after_end |= parent_ended;
    }

    fn took(&mut self) {
        if let Some((at, took)) = &mut self.last {
            *took = at.elapsed();
        }
    }

    /// How long the feeder may sleep: until the spacing allows the scan a
    /// parent's write asks for, else [`POLL`].
    fn wait(&self, parent_wrote: bool) -> Duration {
        match (parent_wrote, self.last) {
            (true, Some((at, _))) => self.spacing().saturating_sub(at.elapsed()),
            _ => POLL,
        }
    }
}

/// The parent's commits: a parent in this process wakes its feeder as soon
/// as it has written rows. Without one (a parent that is itself a child
/// collection, or runs in another process) the feeder polls.
struct ParentWrites {
    written: Option<watch::Receiver<u64>>,
    /// The parent wrote since the last scan.
    seen: bool,
}

impl ParentWrites {
    /// Resolves when the parent has written rows (never without a parent to watch).
    async fn next(&mut self) {
        if let Some(rx) = &mut self.written
            && rx.changed().await.is_ok()
        {
            self.seen = true;
            return;
        }
        std::future::pending::<()>().await;
    }
}
