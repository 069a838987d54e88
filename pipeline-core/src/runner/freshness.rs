//! Freshness: a collection whose last success is older than its
//! `stale_after` is stale. One task checks every collection when the next
//! one may turn stale or a run ended, and sleeps otherwise: idle scheduled
//! collections cost no wake-ups of their own.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::Inner;
use crate::history::AlertKind;

/// The longest sleep between checks (the wall clock may jump).
const MAX_SLEEP: Duration = Duration::from_secs(300);

/// Checks staleness whenever due or woken, until aborted.
pub(crate) async fn watch_freshness(inner: Arc<Inner>) {
    let mut publish = true;
    loop {
        let now = SystemTime::now();
        let next = check(&inner, now, publish);
        publish = false;
        let sleep = next
            .map_or(MAX_SLEEP, |at| at.duration_since(now).unwrap_or_default())
            .min(MAX_SLEEP);
        tokio::select! {
            () = inner.freshness.notified() => {}
            () = tokio::time::sleep(sleep) => {}
        }
    }
}

/// Marks every top-level collection stale or fresh as of `now` (setting
/// every gauge when `publish`, else only changes); returns when the next
/// fresh one turns stale.
fn check(inner: &Inner, now: SystemTime, publish: bool) -> Option<SystemTime> {
    let mut next: Option<SystemTime> = None;
    let mut turned_stale = Vec::new();
    let me = inner.options.coordinator.as_ref().map(|c| c.worker().to_owned());
    for entry in inner.board.entries() {
        if entry.collection.group.is_some() {
            continue;
        }
        let Some(limit) = entry.collection.staleness_limit() else {
            continue;
        };
        let mut slot = entry.lock();
        let base = slot.status.last_success_at.unwrap_or(entry.added);
        let deadline = base + limit;
        let stale = now >= deadline;
        if !stale {
            next = Some(next.map_or(deadline, |n| n.min(deadline)));
        }
        if stale == slot.status.stale && !publish {
            continue;
        }
        let changed = stale != slot.status.stale;
        slot.status.stale = stale;
        stale_gauge(entry.name(), stale);
        if !changed {
            continue;
        }
        if stale {
            tracing::warn!(collection = %entry.name(), ?limit, "collection is stale: no success for longer than stale_after");
            // In a cluster, the process that ran it last tells.
            let mine = me.is_none() || slot.last_owner == me;
            if mine {
                turned_stale.push((entry.name().to_owned(), slot.status.last_error.clone()));
            }
        } else {
            tracing::info!(collection = %entry.name(), "collection is fresh again");
        }
    }
    if let Some(alerts) = &inner.options.alerts {
        for (name, error) in turned_stale {
            alerts.raise(&name, AlertKind::Stale, error);
        }
    }
    next
}

/// Sets `pipeline_collection_stale{collection}`.
fn stale_gauge(collection: &str, stale: bool) {
    // Label values are collection names: configuration only.
    metrics::gauge!("pipeline_collection_stale", "collection" => crate::meters::label(collection).to_owned())
        .set(if stale { 1.0 } else { 0.0 });
}
