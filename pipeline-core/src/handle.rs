use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::driver::finish_status;
use crate::pipeline::Tasks;
use crate::shared::Shared;
use crate::{Failure, Outcome, Report, StageError, Status};

/// A running pipeline: watch its [`Status`], cancel it, or [`join`](Self::join) it.
///
/// # Clean shutdown
///
/// [`cancel`](Self::cancel) stops the source at its next page boundary (an
/// in-flight fetch or retry wait is abandoned; its page was not emitted), lets
/// every item already emitted drain into the sink, and finishes with
/// [`Outcome::Cancelled`]. If draining takes longer than the drain timeout,
/// the remaining tasks are aborted and the report says `drained: false`; the
/// last committed checkpoint is still in the report.
///
/// Dropping the handle does not stop the pipeline.
#[must_use = "a pipeline's outcome is only known through join()"]
#[derive(Debug)]
pub struct PipelineHandle {
    shared: Arc<Shared>,
    supervisor: JoinHandle<Report>,
}

impl PipelineHandle {
    pub(crate) fn start(
        shared: Arc<Shared>,
        tasks: Tasks,
        sink_task: JoinHandle<Outcome>,
        drain: Duration,
    ) -> Self {
        let supervisor = tokio::spawn(supervise(shared.clone(), tasks, sink_task, drain));
        Self { shared, supervisor }
    }

    /// The collection's name.
    pub fn collection(&self) -> &str {
        &self.shared.collection
    }

    /// A live view of the pipeline's status.
    pub fn status(&self) -> watch::Receiver<Status> {
        self.shared.subscribe()
    }

    /// Asks the pipeline to stop at the next page boundary and drain.
    pub fn cancel(&self) {
        self.shared.cancel.cancel();
    }

    /// The pipeline's cancellation token (cancelling it equals [`cancel`](Self::cancel)).
    pub fn cancel_token(&self) -> CancellationToken {
        self.shared.cancel.clone()
    }

    /// Waits for the pipeline to end. Never panics on a stage error: every
    /// failure, user panics included, is in the report's outcome.
    pub async fn join(self) -> Report {
        match self.supervisor.await {
            Ok(report) => report,
            Err(e) => {
                let error = join_error(&self.shared, "supervisor", &e);
                let outcome = Outcome::Failed(Failure::new(error, self.shared.committed_or_start()));
                finish_status(&self.shared, &outcome);
                report(&self.shared, outcome, false, Duration::ZERO)
            }
        }
    }
}

async fn supervise(
    shared: Arc<Shared>,
    tasks: Tasks,
    mut sink_task: JoinHandle<Outcome>,
    drain: Duration,
) -> Report {
    let started = Instant::now();
    let joined = tokio::select! {
        r = &mut sink_task => Some(r),
        () = shared.cancel.cancelled() => None,
    };
    let joined = match joined {
        Some(r) => Some(r),
        None => tokio::time::timeout(drain, &mut sink_task).await.ok(),
    };
    // Whatever is left (a source still fetching after a sink failure) is no longer needed.
    tasks.abort_all();
    let (outcome, drained) = match joined {
        Some(Ok(outcome)) => (outcome, true),
        Some(Err(e)) => {
            let error = join_error(&shared, "sink", &e);
            let outcome = Outcome::Failed(Failure::new(error, shared.committed_or_start()));
            finish_status(&shared, &outcome);
            (outcome, true)
        }
        None => {
            sink_task.abort();
            tracing::warn!(collection = %shared.collection, ?drain, "drain deadline passed; aborting the pipeline");
            finish_status(&shared, &Outcome::Cancelled);
            (Outcome::Cancelled, false)
        }
    };
    report(&shared, outcome, drained, started.elapsed())
}

fn report(shared: &Shared, outcome: Outcome, drained: bool, elapsed: Duration) -> Report {
    let status = shared.status();
    let resume_from = match outcome {
        Outcome::Completed => None,
        _ => shared.committed_or_start(),
    };
    Report {
        collection: shared.collection.to_string(),
        outcome,
        items_fetched: status.items_fetched,
        items_written: status.items_written,
        items_skipped: status.items_skipped,
        items_rejected: status.items_rejected,
        pages: status.pages,
        pages_skipped: status.pages_skipped,
        pages_not_modified: status.pages_not_modified,
        last_skipped: status.last_skipped,
        resume_from,
        elapsed,
        drained,
    }
}

/// A task that did not return: a panic is `Panicked`, an abort is `Interrupted`.
fn join_error(shared: &Shared, stage: &str, e: &tokio::task::JoinError) -> StageError {
    let collection = shared.collection.to_string();
    let stage = stage.to_owned();
    if e.is_panic() {
        StageError::Panicked {
            collection,
            stage,
            message: e.to_string(),
        }
    } else {
        StageError::Interrupted {
            collection,
            stage,
            reason: e.to_string(),
        }
    }
}
