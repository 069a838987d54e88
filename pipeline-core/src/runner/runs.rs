//! The runner's side of the run history: a collection's last runs read
//! when it starts, each run recorded when it ends, the board brought up to
//! date (so `/status` never reads the history) and the alerts raised.

use std::time::SystemTime;

use super::entry::Entry;
use super::{CollectionSummary, ErrorRecord, Inner, RecentRuns};
use crate::State;
use crate::history::{AlertKind, RECENT_RUNS, RunOutcome, RunRecord};

/// Reads `entry`'s last runs and last success from the history onto the board.
pub(crate) async fn load(inner: &Inner, entry: &Entry) {
    let name = entry.name();
    let history = &inner.options.history;
    let runs = match history.runs(name, RECENT_RUNS).await {
        Ok(runs) => runs,
        Err(error) => {
            tracing::warn!(%error, "reading the run history failed; the collection starts without it");
            history_error("read");
            return;
        }
    };
    let last_success = match history.last_success(name).await {
        Ok(at) => at,
        Err(error) => {
            tracing::warn!(%error, "reading the last success failed");
            history_error("read");
            None
        }
    };
    {
        let mut slot = entry.lock();
        let s = &mut slot.status;
        s.recent_runs = RecentRuns::from_newest(runs.iter().map(RunRecord::brief).collect());
        s.last_run = runs.first().map(RunRecord::last_run);
        s.last_success_at = last_success;
        slot.failing = runs
            .iter()
            .find(|r| r.outcome != RunOutcome::Cancelled)
            .is_some_and(|r| r.outcome == RunOutcome::Failed);
        slot.last_owner = runs.first().and_then(|r| r.owner.clone());
    }
    if let Some(at) = last_success {
        last_success_gauge(name, at);
    }
    inner.freshness.notify_one();
}

/// Records the run of `entry` that ended with `summary`, if it started
/// crawling: on the board, with alerts, then in the history.
pub(crate) async fn record(inner: &Inner, entry: &Entry, summary: &CollectionSummary) {
    let Some(started_at) = entry.lock().status.started_at else {
        // It never crawled (stopped while waiting for a slot): no run to tell of.
        return;
    };
    let outcome = match summary.state {
        State::Completed => RunOutcome::Completed,
        State::Failed => RunOutcome::Failed,
        State::Cancelled => RunOutcome::Cancelled,
        _ => return,
    };
    let mut run = RunRecord::new(entry.name(), started_at, SystemTime::now(), outcome);
    run.owner = inner.options.coordinator.as_ref().map(|c| c.worker().to_owned());
    run.items = summary.progress.items_written;
    run.pages = summary.progress.pages;
    run.resumes = summary.resumes;
    run.error = summary.last_error.as_ref().map(ToString::to_string);
    apply(inner, entry, &run, true);
    write(inner, &run).await;
}

/// Writes `run` to the history; a failure is logged and counted.
pub(crate) async fn write(inner: &Inner, run: &RunRecord) {
    if let Err(error) = inner.options.history.record(run, inner.options.keep).await {
        tracing::error!(collection = %run.collection, %error, "recording the run in the history failed");
        history_error("write");
    }
}

/// Applies a finished run to `entry`'s status; raises its alerts when this
/// process ran it (`own`).
pub(crate) fn apply(inner: &Inner, entry: &Entry, run: &RunRecord, own: bool) {
    let recovered = {
        let mut slot = entry.lock();
        let was_failing = slot.failing;
        let s = &mut slot.status;
        s.recent_runs.push(run.brief());
        s.last_run = Some(run.last_run());
        match run.outcome {
            RunOutcome::Completed => {
                s.last_success_at = Some(s.last_success_at.map_or(run.ended_at, |t| t.max(run.ended_at)));
                slot.failing = false;
            }
            RunOutcome::Failed => slot.failing = true,
            RunOutcome::Cancelled => {}
        }
        slot.last_owner = run.owner.clone();
        was_failing && run.outcome == RunOutcome::Completed
    };
    if run.outcome == RunOutcome::Completed {
        last_success_gauge(entry.name(), run.ended_at);
    }
    // Staleness is evaluated again at once.
    inner.freshness.notify_one();
    if !own {
        return;
    }
    if let Some(alerts) = &inner.options.alerts {
        match run.outcome {
            RunOutcome::Failed => alerts.raise(entry.name(), AlertKind::Failed, run.error.clone()),
            RunOutcome::Completed if recovered => alerts.raise(entry.name(), AlertKind::Recovered, None),
            _ => {}
        }
    }
}

/// Keeps an attempt's error for `GET /collections/{name}`.
pub(crate) fn push_error(entry: &Entry, message: String, detail: Option<crate::ErrorDetail>) {
    let mut slot = entry.lock();
    if slot.errors.len() == super::entry::ERRORS_KEPT {
        slot.errors.pop_back();
    }
    slot.errors.push_front(ErrorRecord {
        at: SystemTime::now(),
        message,
        detail,
    });
}

/// Sets `pipeline_collection_last_success_timestamp_seconds{collection}`.
fn last_success_gauge(collection: &str, at: SystemTime) {
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    // Label values are collection names: configuration only.
    metrics::gauge!(
        "pipeline_collection_last_success_timestamp_seconds",
        "collection" => crate::meters::label(collection).to_owned()
    )
    .set(secs);
}

fn history_error(op: &'static str) {
    metrics::counter!("pipeline_history_errors_total", "op" => op).increment(1);
}
