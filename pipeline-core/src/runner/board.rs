//! The runner's shared view of every collection: statuses, gauges, events,
//! and the record of its state transitions (the state only: cursors and
//! counts belong to the sinks, which commit them with the items; see
//! `recorder.rs` for which transitions are waited for).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use metrics::gauge;
use tokio::sync::broadcast;
use tokio::time::Instant;

use super::entry::Entry;
use super::group::Tallies;
use super::recorder::Recorder;
use super::{CollectionStatus, GroupStatus, RunnerError, RunnerEvent, RunnerEvents};
use crate::{CheckpointStore, Cursor, Progress, State, StateRecord};

const STATES: [State; 7] = [
    State::Waiting,
    State::Crawling,
    State::Retrying,
    State::Finalizing,
    State::Completed,
    State::Failed,
    State::Cancelled,
];

pub(crate) struct Board {
    entries: Mutex<Vec<Arc<Entry>>>,
    events: Mutex<Option<broadcast::Sender<RunnerEvent>>>,
    recorder: Arc<Recorder>,
    /// Grouped collections that ended, per group.
    tallies: Mutex<Tallies>,
}

impl std::fmt::Debug for Board {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Board").finish_non_exhaustive()
    }
}

impl Board {
    pub(crate) fn new(store: Arc<dyn CheckpointStore>, event_capacity: usize) -> Self {
        let (events, _) = broadcast::channel(event_capacity);
        let board = Self {
            entries: Mutex::new(Vec::new()),
            events: Mutex::new(Some(events)),
            recorder: Recorder::new(store),
            tallies: Mutex::new(Tallies::default()),
        };
        board.publish_counts();
        board
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Arc<Entry>>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The entries in the order they were added.
    pub(crate) fn entries(&self) -> Vec<Arc<Entry>> {
        self.lock().clone()
    }

    pub(crate) fn find(&self, name: &str) -> Option<Arc<Entry>> {
        self.lock().iter().find(|e| e.name() == name).cloned()
    }

    /// Adds `entry`, in place of the entry of the same name if there is one
    /// (returned). Names differing only in case are refused.
    pub(crate) fn insert(&self, entry: Arc<Entry>) -> Result<Option<Arc<Entry>>, RunnerError> {
        let replaced = {
            let mut entries = self.lock();
            let name = entry.name();
            if let Some(other) = entries
                .iter()
                .find(|e| e.name() != name && e.name().eq_ignore_ascii_case(name))
            {
                return Err(RunnerError::CaseCollision {
                    first: other.name().to_owned(),
                    second: name.to_owned(),
                });
            }
            set_stalled(name, false);
            match entries.iter().position(|e| e.name() == name) {
                Some(i) => Some(std::mem::replace(&mut entries[i], entry)),
                None => {
                    entries.push(entry);
                    None
                }
            }
        };
        self.publish_counts();
        Ok(replaced)
    }

    /// Takes `entry` off the board (if it is still there).
    pub(crate) fn remove(&self, entry: &Arc<Entry>) {
        self.lock().retain(|e| !Arc::ptr_eq(e, entry));
        self.publish_counts();
    }

    fn publish_counts(&self) {
        let mut counts = [0usize; STATES.len()];
        for entry in self.lock().iter() {
            let state = entry.lock().status.state;
            if let Some(i) = STATES.iter().position(|s| *s == state) {
                counts[i] += 1;
            }
        }
        for (state, n) in STATES.iter().zip(counts) {
            gauge!("pipeline_collections", "state" => state.as_str()).set(n as f64);
        }
    }

    /// Every ungrouped collection's status.
    pub(crate) fn snapshot(&self) -> Vec<CollectionStatus> {
        self.lock()
            .iter()
            .filter(|e| e.collection.group.is_none())
            .map(|e| e.status())
            .collect()
    }

    /// Takes an ended grouped collection off the board and counts it in its group.
    pub(crate) fn fold(&self, entry: &Arc<Entry>, group: &str) {
        let summary = entry.summary();
        self.tallies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .add(group, summary.as_ref());
        self.remove(entry);
    }

    /// The totals of `group`'s current run, starting the next.
    pub(crate) fn take_group_run(&self, group: &str) -> super::group::RunTotals {
        self.tallies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take_run(group)
    }

    /// Records the children of `group` that its feeder never started.
    pub(crate) fn set_not_crawled(&self, group: &str, n: u64) {
        self.tallies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .set_not_crawled(group, n);
    }

    /// Makes `group` known before its first child runs.
    pub(crate) fn register_group(&self, group: &str) {
        self.tallies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .register(group);
    }

    /// Whether `name` is a group: registered, with a child on the board, or
    /// with children that ended.
    pub(crate) fn is_group(&self, name: &str) -> bool {
        let running = self
            .lock()
            .iter()
            .any(|e| e.collection.group.as_deref() == Some(name));
        running || self.tallies.lock().unwrap_or_else(|e| e.into_inner()).knows(name)
    }

    /// Every group's aggregated status.
    pub(crate) fn groups(&self) -> Vec<GroupStatus> {
        let mut running = std::collections::BTreeMap::new();
        for entry in self.lock().iter() {
            if let Some(group) = &entry.collection.group {
                *running.entry(group.to_string()).or_insert(0) += 1;
            }
        }
        self.tallies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .statuses(&running)
    }

    /// Moves `entry` to `state` and applies `f`, without recording.
    pub(crate) fn mark(
        &self,
        entry: &Entry,
        state: State,
        f: impl FnOnce(&mut CollectionStatus),
    ) -> CollectionStatus {
        let status = {
            let mut slot = entry.lock();
            let previous = slot.status.state;
            slot.status.state = state;
            slot.status.updated_at = SystemTime::now();
            if slot.status.stalled || state == State::Crawling {
                slot.status.stalled = false;
                set_stalled(&slot.status.collection, false);
            }
            if state == State::Crawling && previous != State::Crawling {
                slot.last_progress = Instant::now();
            }
            f(&mut slot.status);
            slot.status.clone()
        };
        self.publish_counts();
        tracing::debug!(collection = %status.collection, state = %state, "collection state");
        status
    }

    /// Records `entry`'s state and last error (`status`, as [`mark`](Self::mark)
    /// returned it) in the store: queued for the background flush, and
    /// waited for only when the state is one a person or the next run must
    /// find (see `recorder.rs`). A store failure is logged, not fatal: the
    /// sink's own committed cursor is unaffected.
    ///
    /// A grouped collection (a child) records only what a person or the
    /// next run needs: failing, retrying, cancelled. Its progress states
    /// would cost a write each per child, and its completion is recorded by
    /// its sink with its last batch (the SQL sinks do).
    pub(crate) async fn record(&self, entry: &Entry, status: &CollectionStatus) {
        let quiet = entry.collection.group.is_some()
            && matches!(
                status.state,
                State::Waiting | State::Crawling | State::Finalizing | State::Completed
            );
        if quiet {
            return;
        }
        let record = StateRecord::new(
            status.collection.as_str(),
            status.state,
            status.last_error.clone(),
        );
        if Recorder::waits_for(status.state) {
            self.recorder.record(record).await;
        } else {
            self.recorder.queue(record);
        }
    }

    /// Waits until every state recorded so far is written.
    pub(crate) async fn flushed(&self) {
        self.recorder.flushed().await;
    }

    /// Records an attempt's progress; whether pages or items changed.
    pub(crate) fn progress(
        &self,
        entry: &Entry,
        counts: Progress,
        cursor: Option<Cursor>,
        last_error: Option<String>,
    ) -> bool {
        let mut slot = entry.lock();
        let slot = &mut *slot;
        let s = &mut slot.status;
        let written = counts.items_written;
        let changed = s.progress != counts;
        s.progress = counts;
        if cursor.is_some() {
            s.cursor = cursor;
        }
        if last_error.is_some() {
            s.last_error = last_error;
        }
        if changed {
            entry
                .written
                .send_if_modified(|w| std::mem::replace(w, written) != written);
            slot.last_progress = Instant::now();
            if s.stalled {
                s.stalled = false;
                set_stalled(&s.collection, false);
                tracing::info!(collection = %s.collection, "collection is making progress again");
            }
        }
        changed
    }

    /// Flags every crawling or finalizing collection with no progress for `after`.
    pub(crate) fn check_stalls(&self, after: Duration) {
        let now = Instant::now();
        for entry in self.lock().iter() {
            let mut slot = entry.lock();
            // A sink stuck on its last batch is a stall too.
            let active = matches!(slot.status.state, State::Crawling | State::Finalizing);
            // Read first: a mutable access marks the entry changed (its
            // `/status` JSON serialized again).
            if active && !slot.status.stalled && now.duration_since(slot.last_progress) >= after {
                let s = &mut slot.status;
                s.stalled = true;
                set_stalled(&s.collection, true);
                tracing::warn!(collection = %s.collection, ?after, "collection stalled");
            }
        }
    }

    pub(crate) fn emit(&self, event: RunnerEvent) {
        if let Some(tx) = &*self.events.lock().unwrap_or_else(|e| e.into_inner()) {
            // No subscriber is fine: events are for those who listen.
            let _ = tx.send(event);
        }
    }

    pub(crate) fn subscribe(&self) -> RunnerEvents {
        let events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let rx = match &*events {
            Some(tx) => tx.subscribe(),
            // The runner is done: a closed, empty stream.
            None => broadcast::channel(1).1,
        };
        RunnerEvents::new(rx)
    }

    /// Ends every event stream after the events already sent.
    pub(crate) fn close_events(&self) {
        self.events.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

/// Sets `pipeline_stalled{collection}`. Looked up on each (rare) change rather
/// than cached, so it reaches a recorder installed after the runner was built.
fn set_stalled(collection: &str, stalled: bool) {
    // Label values are collection names: configuration only.
    gauge!("pipeline_stalled", "collection" => crate::meters::label(collection).to_owned()).set(if stalled {
        1.0
    } else {
        0.0
    });
}
