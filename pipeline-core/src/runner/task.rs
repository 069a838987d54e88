//! The life of one collection under a runner: wait for a slot, crawl,
//! resume after resumable failures, end in a final state.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::entry::Entry;
use super::{CollectionError, CollectionStatus, CollectionSummary, Inner, RunnerEvent};
use crate::attempt_start::{AttemptStart, StartAt};
use crate::{Cursor, Fence, Outcome, PipelineHandle, Progress, Report, State, Status};

/// How long a forced shutdown still waits for a pipeline that is finishing.
const FINISH_GRACE: Duration = Duration::from_secs(1);

pub(crate) struct Run {
    inner: Arc<Inner>,
    entry: Arc<Entry>,
    name: Arc<str>,
    /// When the runner started.
    started: Instant,
    resumes: u32,
    last_error: Option<CollectionError>,
    /// Totals of the attempts that ended.
    done: Progress,
    /// In a cluster: the lease this run holds.
    lease: Option<LeaseRun>,
}

/// How a run ends (see `Run::stop`).
enum Stop {
    Completed,
    /// Cancelled; the next run resumes at the cursor.
    Cancelled(Option<Cursor>),
    /// The cluster lease was lost: the run records nothing.
    Lost,
    /// Failed for good at the cursor.
    Failed(CollectionError, Option<Cursor>),
}

/// What a run under a cluster lease carries.
pub(crate) struct LeaseRun {
    pub(crate) fence: Fence,
    /// Cancelled when the lease is lost: the run stops and records nothing.
    pub(crate) lost: CancellationToken,
    /// The slot taken before claiming, used by the first attempt.
    pub(crate) permit: Option<OwnedSemaphorePermit>,
}

impl Run {
    pub(crate) fn new(inner: Arc<Inner>, entry: Arc<Entry>, started: Instant) -> Self {
        let name = entry.collection.name.clone();
        Self {
            inner,
            entry,
            name,
            started,
            resumes: 0,
            last_error: None,
            done: Progress::default(),
            lease: None,
        }
    }

    /// The run holds a cluster lease.
    pub(crate) fn leased(mut self, lease: LeaseRun) -> Self {
        self.lease = Some(lease);
        self
    }

    fn lost(&self) -> bool {
        self.lease.as_ref().is_some_and(|l| l.lost.is_cancelled())
    }

    /// Cancelled when the lease is lost (never without a lease).
    fn lost_token(&self) -> CancellationToken {
        self.lease.as_ref().map(|l| l.lost.clone()).unwrap_or_default()
    }

    pub(crate) async fn drive(mut self) -> CollectionSummary {
        // The first attempt starts where the sink's stored checkpoint says;
        // later ones at the page that failed.
        let mut cursor: Option<Cursor> = None;
        // A new run: the counts, resumes and start time are this run's.
        self.enter(State::Waiting, |s| {
            s.progress = Progress::default();
            s.resumes = 0;
            s.started_at = None;
            s.next_attempt_at = None;
            s.next_run_at = None;
        })
        .await;
        let lost = self.lost_token();
        let stop = loop {
            let permit = match self.take_slot(&lost, cursor.as_ref()).await {
                Ok(permit) => permit,
                Err(stop) => break stop,
            };
            let attempt = self.begin_attempt(cursor.as_ref()).await;
            let (error, retry_at) = match self.attempt(attempt, permit, &mut cursor).await {
                Ok(failed) => failed,
                Err(stop) => break stop,
            };
            if self.entry.cancel.is_cancelled() {
                // Unfinished because of the shutdown or a removal: the next run resumes it.
                self.last_error = Some(error);
                break Stop::Cancelled(cursor);
            }
            if !error.is_retryable() || self.resumes >= self.inner.options.max_resumes {
                break Stop::Failed(error, cursor);
            }
            let next_at = self.schedule_resume(error, retry_at, cursor.as_ref()).await;
            tokio::select! {
                biased;
                () = self.entry.cancel.cancelled() => break Stop::Cancelled(cursor),
                () = lost.cancelled() => break Stop::Lost,
                () = tokio::time::sleep_until(next_at) => {}
            }
        };
        self.stop(stop).await
    }

    /// Ends the run in the final state `stop` says.
    async fn stop(self, stop: Stop) -> CollectionSummary {
        match stop {
            Stop::Completed => self.completed().await,
            Stop::Cancelled(cursor) => self.cancelled(cursor).await,
            Stop::Lost => self.lost_lease(),
            Stop::Failed(error, cursor) => self.failed(error, cursor).await,
        }
    }

    /// Waits for a collection slot, or takes the one the lease was claimed with.
    async fn take_slot(
        &mut self,
        lost: &CancellationToken,
        cursor: Option<&Cursor>,
    ) -> Result<OwnedSemaphorePermit, Stop> {
        let slots = self.inner.slots_for(&self.entry);
        if let Some(permit) = self.lease.as_mut().and_then(|l| l.permit.take()) {
            return Ok(permit);
        }
        tokio::select! {
            biased;
            () = self.entry.cancel.cancelled() => Err(Stop::Cancelled(cursor.cloned())),
            () = lost.cancelled() => Err(Stop::Lost),
            // The semaphore is never closed; treat it as a shutdown.
            permit = slots.acquire_owned() => permit.map_err(|_| Stop::Cancelled(cursor.cloned())),
        }
    }

    /// Announces an attempt (the first, or a resume from `cursor`) and says
    /// where it starts.
    async fn begin_attempt(&self, cursor: Option<&Cursor>) -> AttemptStart {
        let first = self.resumes == 0;
        let event = if first {
            tracing::info!("collection started");
            RunnerEvent::Started {
                collection: self.name.clone(),
                from: cursor.cloned(),
            }
        } else {
            let from = cursor.map(Cursor::as_str);
            tracing::info!(attempt = self.resumes, from, "collection resumed");
            RunnerEvent::Resumed {
                collection: self.name.clone(),
                attempt: self.resumes,
                from: cursor.cloned(),
            }
        };
        self.enter(State::Crawling, |s| {
            s.next_attempt_at = None;
            s.started_at.get_or_insert_with(SystemTime::now);
            s.cursor = cursor.cloned();
        })
        .await;
        self.inner.board.emit(event);
        AttemptStart {
            at: if first {
                StartAt::Committed
            } else {
                StartAt::Cursor(cursor.cloned())
            },
            fresh: first && self.entry.take_fresh(),
            fence: self.lease.as_ref().map(|l| l.fence.clone()),
        }
    }

    /// Runs one attempt holding `permit`; `cursor` becomes where it stopped.
    /// `Ok` holds the error to resume after (and the server's retry time),
    /// `Err` how the run ends.
    async fn attempt(
        &mut self,
        attempt: AttemptStart,
        permit: OwnedSemaphorePermit,
        cursor: &mut Option<Cursor>,
    ) -> Result<(CollectionError, Option<Instant>), Stop> {
        let factory = self.entry.collection.factory.clone();
        let handle = match factory(attempt).await {
            Ok(handle) => handle,
            // The slot is not held while waiting to resume.
            Err(error) => return Ok((error, None)),
        };
        let report = self.watch(handle).await;
        // The slot bounds running pipelines: saving the outcome, or
        // waiting to resume, must not hold it.
        drop(permit);
        let Some(report) = report else {
            // Forced: the pipeline was not waited for; keep its last committed cursor.
            return Err(Stop::Cancelled(self.entry.status().cursor));
        };
        self.finish_attempt(&report);
        let fenced = matches!(&report.outcome, Outcome::Failed(f) if f.error.is_fenced());
        if fenced || self.lost() {
            return Err(Stop::Lost);
        }
        *cursor = report.cursor.clone();
        if !report.drained {
            tracing::warn!("pipeline did not drain before its deadline");
        }
        match report.outcome {
            Outcome::Completed => Err(Stop::Completed),
            Outcome::Cancelled => Err(Stop::Cancelled(cursor.clone())),
            Outcome::Failed(failure) => Ok((CollectionError::Stage(failure.error), failure.retry_at)),
        }
    }

    /// Counts a resume after `error`, publishes it (status, event, history)
    /// and says when it starts.
    async fn schedule_resume(
        &mut self,
        error: CollectionError,
        retry_at: Option<Instant>,
        cursor: Option<&Cursor>,
    ) -> Instant {
        self.resumes += 1;
        let now = Instant::now();
        let next_at = (now + self.inner.options.resume_backoff(self.resumes)).max(retry_at.unwrap_or(now));
        let message = error.to_string();
        let wait = next_at.duration_since(now);
        tracing::warn!(error = %message, attempt = self.resumes, ?wait, "collection failed; resuming later");
        let detail = error.detail();
        super::runs::push_error(&self.entry, message.clone(), Some(detail.clone()));
        let board = &self.inner.board;
        let status = board.mark(&self.entry, State::Retrying, |s| {
            s.last_error = Some(message);
            s.last_error_detail = Some(detail);
            s.cursor = cursor.cloned();
            s.next_attempt_at = Some(system_time(next_at));
            s.resumes = self.resumes;
        });
        board.emit(RunnerEvent::Failed {
            collection: self.name.clone(),
            error: error.clone(),
            resume_from: cursor.cloned(),
            will_retry: true,
            next_attempt_at: Some(next_at),
        });
        self.record(&status).await;
        self.last_error = Some(error);
        next_at
    }

    /// Follows a running pipeline until it ends; `None` when forced to stop waiting.
    async fn watch(&self, handle: PipelineHandle) -> Option<Report> {
        let mut status = handle.status();
        let cancel = handle.cancel_token();
        let join = handle.join();
        tokio::pin!(join);
        let lost = self.lost_token();
        let mut watching = true;
        let mut cancelling = false;
        loop {
            tokio::select! {
                report = &mut join => return Some(report),
                () = lost.cancelled(), if !cancelling => {
                    // Another process owns the collection now: stop at once;
                    // the sink's fence check refuses whatever is still in flight.
                    cancel.cancel();
                    cancelling = true;
                }
                changed = status.changed(), if watching => match changed {
                    Ok(()) => {
                        let st = status.borrow_and_update().clone();
                        self.progress(&st).await;
                    }
                    Err(_) => watching = false,
                },
                () = self.entry.cancel.cancelled(), if !cancelling => {
                    cancel.cancel();
                    cancelling = true;
                }
                () = self.inner.force.cancelled() => {
                    cancel.cancel();
                    // A sink in `finish` may be committing a staging swap: give
                    // it a moment, so a committed swap is not reported cancelled.
                    if status.borrow().state == State::Finalizing {
                        return tokio::time::timeout(FINISH_GRACE, &mut join).await.ok();
                    }
                    return None;
                }
            }
        }
    }

    async fn progress(&self, st: &Status) {
        let counts = self.done.then(&st.progress);
        let board = &self.inner.board;
        let (pages, items_fetched, items_written) =
            (counts.pages, counts.items_fetched, counts.items_written);
        let changed = board.progress(&self.entry, counts, st.cursor.clone(), st.last_error.clone());
        if changed {
            board.emit(RunnerEvent::Page {
                collection: self.name.clone(),
                pages,
                items_fetched,
                items_written,
            });
        }
        if st.state == State::Finalizing && self.entry.lock().status.state == State::Crawling {
            self.enter(State::Finalizing, |_| {}).await;
        }
    }

    fn finish_attempt(&mut self, report: &Report) {
        self.done = self.done.then(&report.progress);
        self.inner
            .board
            .progress(&self.entry, self.done.clone(), None, None);
    }

    /// Moves the collection to `state`: recorded in the checkpoint store,
    /// except under a cluster lease, where only the sink's fenced
    /// transactions write the collection's row (a run that lost its lease
    /// must not record over the new owner's state).
    async fn enter(&self, state: State, f: impl FnOnce(&mut CollectionStatus)) -> CollectionStatus {
        let status = self.inner.board.mark(&self.entry, state, f);
        self.record(&status).await;
        status
    }

    /// Records `status` (see [`enter`](Self::enter)). An ending state is
    /// marked and its event sent first, then recorded: the event does not
    /// wait for the store.
    async fn record(&self, status: &CollectionStatus) {
        if self.lease.is_none() {
            self.inner.board.record(&self.entry, status).await;
        }
    }

    /// The lease passed to another process: stop, record nothing (the new
    /// owner records the state), and wait to claim it again.
    fn lost_lease(self) -> CollectionSummary {
        tracing::warn!("lease lost to another process; this run stops and commits nothing more");
        let status = self.inner.board.mark(&self.entry, State::Waiting, |s| {
            s.next_attempt_at = None;
        });
        self.summary(status)
    }

    async fn completed(self) -> CollectionSummary {
        tracing::info!(items = self.done.items_written, "collection completed");
        let status = self.inner.board.mark(&self.entry, State::Completed, |s| {
            s.cursor = None;
            s.next_attempt_at = None;
            s.runs += 1;
        });
        self.inner.board.emit(RunnerEvent::Completed {
            collection: self.name.clone(),
            pages: status.progress.pages,
            items_written: status.progress.items_written,
        });
        self.record(&status).await;
        self.summary(status)
    }

    async fn cancelled(self, cursor: Option<Cursor>) -> CollectionSummary {
        tracing::info!(
            cursor = cursor.as_ref().map(Cursor::as_str),
            "collection cancelled"
        );
        let status = self.inner.board.mark(&self.entry, State::Cancelled, |s| {
            s.cursor = cursor.clone();
            s.next_attempt_at = None;
        });
        self.inner.board.emit(RunnerEvent::Cancelled {
            collection: self.name.clone(),
            resume_from: cursor,
        });
        self.record(&status).await;
        self.summary(status)
    }

    async fn failed(mut self, error: CollectionError, cursor: Option<Cursor>) -> CollectionSummary {
        let message = error.to_string();
        tracing::error!(error = %message, "collection failed");
        super::runs::push_error(&self.entry, message.clone(), Some(error.detail()));
        let status = self.inner.board.mark(&self.entry, State::Failed, |s| {
            s.last_error = Some(message);
            s.last_error_detail = Some(error.detail());
            s.cursor = cursor.clone();
            s.next_attempt_at = None;
        });
        self.inner.board.emit(RunnerEvent::Failed {
            collection: self.name.clone(),
            error: error.clone(),
            resume_from: cursor,
            will_retry: false,
            next_attempt_at: None,
        });
        self.record(&status).await;
        self.last_error = Some(error);
        self.summary(status)
    }

    fn summary(self, status: CollectionStatus) -> CollectionSummary {
        CollectionSummary {
            collection: status.collection,
            state: status.state,
            progress: status.progress,
            resumes: self.resumes,
            elapsed: self.started.elapsed(),
            last_error: self.last_error,
            cursor: status.cursor,
            runs: status.runs,
        }
    }
}

/// A tokio instant as wall-clock time, for display.
fn system_time(at: Instant) -> SystemTime {
    SystemTime::now() + at.saturating_duration_since(Instant::now())
}
