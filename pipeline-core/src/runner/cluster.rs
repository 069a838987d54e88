//! A collection's life in a cluster: claim its lease, run it while the
//! lease is renewed, release it with the next run's time, and claim again
//! when due; plus the view of the whole cluster on the board.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use super::entry::Entry;
use super::task::{LeaseRun, Run};
use super::{Claim, Coordinator, Due, Inner, Lease, RunEnd};
use crate::State;

/// How often a waiting collection asks again: a tenth of the lease, so a
/// dead owner's collections are taken over soon after the lease expires.
fn poll_interval(lease: Duration) -> Duration {
    (lease / 10).clamp(Duration::from_millis(100), Duration::from_secs(5))
}

/// Runs `entry` whenever this process can claim it, until it is removed or
/// the runner shuts down (one-shot: until a run of it ended in the cluster).
pub(crate) async fn runs(inner: &Arc<Inner>, entry: &Arc<Entry>, coordinator: Arc<dyn Coordinator>) {
    let service = inner.options.service;
    let every = entry.collection.every.filter(|_| service);
    let poll = poll_interval(coordinator.lease_duration());
    let usual = if service { Due::Scheduled } else { Due::Once };
    let mut force = false;
    loop {
        // The slot first: a process claims only what it can run now.
        let permit = tokio::select! {
            biased;
            () = entry.cancel.cancelled() => return,
            permit = inner.slots_for(entry).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let due = if force { Due::Now } else { usual };
        match coordinator.claim(entry.name(), due).await {
            Ok(Claim::Claimed(lease)) => {
                force = false;
                tracing::info!(fence = lease.fence.token(), "lease claimed");
                let lost = CancellationToken::new();
                let beat = AbortOnDropHandle::new(tokio::spawn(heartbeat(
                    coordinator.clone(),
                    lease.clone(),
                    lost.clone(),
                )));
                let run = LeaseRun {
                    fence: lease.fence.clone(),
                    lost: lost.clone(),
                    permit: Some(permit),
                };
                let summary = Run::new(inner.clone(), entry.clone(), Instant::now())
                    .leased(run)
                    .drive()
                    .await;
                drop(beat);
                if lost.is_cancelled() {
                    // Nothing to release: another process holds the lease.
                    continue_after(entry, poll).await;
                    if entry.cancel.is_cancelled() {
                        return;
                    }
                    continue;
                }
                if entry.collection.group.is_none() {
                    super::runs::record(inner, entry, &summary).await;
                }
                let state = summary.state;
                entry.set_summary(summary);
                let end = match state {
                    State::Completed | State::Failed if service => RunEnd::Ended { next_run_in: every },
                    State::Completed | State::Failed => RunEnd::Once,
                    _ => RunEnd::Stopped,
                };
                release(&*coordinator, &lease, end).await;
                if entry.cancel.is_cancelled() || end == RunEnd::Once {
                    return;
                }
                if state == State::Completed && every.is_some() {
                    inner.board.mark(entry, State::Waiting, |_| {});
                }
            }
            Ok(Claim::Refused {
                owner,
                ended_since_start,
                next_run_at,
            }) => {
                drop(permit);
                if !service && ended_since_start {
                    tracing::info!("another process ran the collection; done here");
                    return;
                }
                let mut slot = entry.lock();
                slot.status.owner = owner;
                if service {
                    slot.status.next_run_at = next_run_at;
                }
            }
            Err(error) => {
                drop(permit);
                tracing::warn!(%error, "claiming the collection's lease failed; trying again");
            }
        }
        tokio::select! {
            () = entry.cancel.cancelled() => return,
            () = entry.run_now.notified() => force = true,
            () = tokio::time::sleep(poll) => {}
        }
    }
}

/// After a lost lease, waits one poll (unless cancelled) before claiming again.
async fn continue_after(entry: &Entry, poll: Duration) {
    tokio::select! {
        () = entry.cancel.cancelled() => {}
        () = tokio::time::sleep(poll) => {}
    }
}

async fn release(coordinator: &dyn Coordinator, lease: &Lease, end: RunEnd) {
    if let Err(error) = coordinator.release(lease, end).await {
        tracing::warn!(%error, "releasing the lease failed; it expires by itself");
    }
}

/// Renews `lease` every third of its duration; cancels `lost` when it is
/// gone (claimed by another process) or could not be renewed before it
/// expired (this process may have been cut off: it must stop writing).
async fn heartbeat(coordinator: Arc<dyn Coordinator>, lease: Lease, lost: CancellationToken) {
    let duration = coordinator.lease_duration();
    let mut valid_until = Instant::now() + duration;
    loop {
        tokio::time::sleep(duration / 3).await;
        let sent = Instant::now();
        match coordinator.renew(&lease).await {
            Ok(true) => valid_until = sent + duration,
            Ok(false) => {
                tracing::warn!(fence = lease.fence.token(), "lease taken over by another process");
                lost.cancel();
                return;
            }
            Err(error) if Instant::now() >= valid_until => {
                tracing::warn!(%error, "lease expired without renewal; stopping");
                lost.cancel();
                return;
            }
            Err(error) => tracing::warn!(%error, "renewing the lease failed; trying again"),
        }
    }
}

/// Keeps every collection's owner and lease expiry on the board, and the
/// `pipeline_cluster_workers` gauge, fresh from the coordinator.
pub(crate) async fn watch_cluster(inner: Arc<Inner>, coordinator: Arc<dyn Coordinator>) {
    let every = poll_interval(coordinator.lease_duration()).max(Duration::from_millis(500));
    let gauge = metrics::gauge!("pipeline_cluster_workers");
    let mut mark: Option<u64> = None;
    loop {
        mark = others_runs(&inner, &*coordinator, mark).await;
        match coordinator.leases().await {
            Ok(leases) => {
                for entry in inner.board.entries() {
                    let info = leases.iter().find(|l| l.collection == entry.name());
                    let owner = info.and_then(|l| l.owner.clone());
                    let lease_until = info.and_then(|l| l.lease_until).filter(|_| owner.is_some());
                    let mut slot = entry.lock();
                    // Written only when changed: a write marks the entry's `/status` JSON stale.
                    if slot.status.owner != owner || slot.status.lease_until != lease_until {
                        slot.status.owner = owner;
                        slot.status.lease_until = lease_until;
                    }
                }
            }
            Err(error) => tracing::debug!(%error, "reading the cluster's leases failed"),
        }
        if let Ok(workers) = coordinator.workers().await {
            gauge.set(workers as f64);
        }
        tokio::time::sleep(every).await;
    }
}

/// Runs read from a shared history per poll, at most.
const RUNS_PER_POLL: usize = 1000;

/// Puts the runs other processes recorded since `mark` on the board (a
/// shared history: every process's page shows every collection's runs);
/// returns the mark to read from next.
async fn others_runs(inner: &Inner, coordinator: &dyn Coordinator, mark: Option<u64>) -> Option<u64> {
    match inner.options.history.recorded_after(mark, RUNS_PER_POLL).await {
        Ok((runs, next)) => {
            for run in runs {
                if run.owner.as_deref() == Some(coordinator.worker()) {
                    continue;
                }
                if let Some(entry) = inner
                    .board
                    .find(&run.collection)
                    .filter(|e| e.collection.group.is_none())
                {
                    super::runs::apply(inner, &entry, &run, false);
                }
            }
            Some(next)
        }
        Err(error) => {
            tracing::debug!(%error, "reading the runs of other processes failed");
            mark
        }
    }
}
