//! The runner's own tasks: one per collection, the watchers (freshness,
//! stalls, the shutdown deadline, the cluster), and the task that waits for
//! every collection's end and publishes the summaries.

use std::sync::Arc;

use tokio_util::task::AbortOnDropHandle;
use tracing::Instrument;

use super::entry::Entry;
use super::{CollectionSummary, Inner, cluster, freshness, schedule, stall};

/// Spawns the task of one collection, after `previous` (the one it replaces) ends.
pub(super) fn spawn(inner: &Arc<Inner>, entry: Arc<Entry>, previous: Option<Arc<Entry>>) {
    let span = tracing::info_span!("collection", collection = %entry.name());
    inner
        .tasks
        .spawn(schedule::live(inner.clone(), entry, previous).instrument(span));
}

/// How long alerts still queued at the end may take to be delivered.
const ALERTS_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Waits for every collection's end, then publishes the summaries.
pub(super) async fn drive(inner: Arc<Inner>, alerts: Option<tokio::task::JoinHandle<()>>) {
    let _freshness = AbortOnDropHandle::new(tokio::spawn(freshness::watch_freshness(inner.clone())));
    let stall = inner
        .options
        .stall_after
        .map(|after| AbortOnDropHandle::new(tokio::spawn(stall::watch_stalls(inner.clone(), after))));
    let _watchdog = AbortOnDropHandle::new(tokio::spawn(watchdog(inner.clone())));
    let _cluster = inner
        .options
        .coordinator
        .clone()
        .map(|c| AbortOnDropHandle::new(tokio::spawn(cluster::watch_cluster(inner.clone(), c))));
    if inner.options.service {
        // A service ends on shutdown only; collections come and go until then.
        inner.shutdown.cancelled().await;
    }
    inner.tasks.close();
    inner.tasks.wait().await;
    drop(stall);
    if let (Some(task), Some(config)) = (alerts, &inner.options.alerts) {
        config.close();
        let mut task = AbortOnDropHandle::new(task);
        if tokio::time::timeout(ALERTS_GRACE, &mut task).await.is_err() {
            tracing::warn!("alerts still queued at the end were not delivered");
        }
    }
    // Summaries are published once every state is in the store.
    inner.board.flushed().await;
    let summaries: Vec<CollectionSummary> =
        inner.board.entries().iter().filter_map(|e| e.summary()).collect();
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
