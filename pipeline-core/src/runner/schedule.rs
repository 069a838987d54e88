//! The life of one collection on the board: one run, or (in a service) a run
//! whenever it is due, until it is removed or the runner shuts down.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::SystemTime;

use futures::FutureExt;
use tokio::time::Instant;

use super::entry::Entry;
use super::task::Run;
use super::{CollectionError, CollectionSummary, Inner};
use crate::State;
use crate::driver::panic_message;

/// Runs `entry` until it is done; always marks it ended.
pub(crate) async fn live(inner: Arc<Inner>, entry: Arc<Entry>, previous: Option<Arc<Entry>>) {
    // A replaced collection's task must end (drain and commit) first, so two
    // pipelines never write one collection at once.
    if let Some(previous) = previous {
        previous.ended.cancelled().await;
    }
    if entry.collection.group.is_none() {
        super::runs::load(&inner, &entry).await;
    }
    let result = AssertUnwindSafe(runs(&inner, &entry)).catch_unwind().await;
    if let Err(payload) = result {
        entry.set_summary(panicked(&inner, &entry, panic_message(&*payload)));
    }
    // A grouped collection leaves the board once ended, counted in its group;
    // a removed one leaves it when its pipeline has drained.
    if let Some(group) = &entry.collection.group {
        inner.board.fold(&entry, group);
    } else if entry.cancel.is_cancelled() && !inner.shutdown.is_cancelled() {
        inner.board.remove(&entry);
    }
    entry.ended.cancel();
}

async fn runs(inner: &Arc<Inner>, entry: &Arc<Entry>) {
    if let Some(coordinator) = inner.options.coordinator.clone() {
        return super::cluster::runs(inner, entry, coordinator).await;
    }
    let every = entry.collection.every.filter(|_| inner.options.service);
    loop {
        let started = Instant::now();
        let summary = Run::new(inner.clone(), entry.clone(), started).drive().await;
        if entry.collection.group.is_none() {
            super::runs::record(inner, entry, &summary).await;
        }
        let state = summary.state;
        entry.set_summary(summary);
        // A grouped collection (a child) runs once, also in a service.
        if entry.cancel.is_cancelled() || !inner.options.service || entry.collection.group.is_some() {
            return;
        }
        // A service keeps every collection: scheduled ones wait for their
        // next run, the others for `run_now`.
        let next = every.map(|every| (Instant::now() + every, SystemTime::now() + every));
        entry.schedule(next.map(|(_, wall)| wall));
        if next.is_some() && state == State::Completed {
            inner.board.mark(entry, State::Waiting, |_| {});
        }
        tracing::debug!(collection = %entry.name(), next_run_at = ?next.map(|(_, wall)| wall), "waiting for the next run");
        tokio::select! {
            () = entry.cancel.cancelled() => return,
            () = entry.run_now.notified() => {}
            () = sleep_until(next.map(|(at, _)| at)) => {}
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn panicked(inner: &Inner, entry: &Entry, message: String) -> CollectionSummary {
    let collection = entry.name().to_owned();
    let error = CollectionError::Panicked {
        collection: collection.clone(),
        message,
    };
    tracing::error!(%collection, %error, "runner task failed");
    let status = inner.board.mark(entry, State::Failed, |s| {
        s.last_error = Some(error.to_string());
    });
    CollectionSummary {
        collection,
        state: status.state,
        progress: status.progress,
        resumes: status.resumes,
        elapsed: std::time::Duration::ZERO,
        last_error: Some(error),
        cursor: status.cursor,
        runs: status.runs,
    }
}
