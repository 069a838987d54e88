//! The runner's state records, written off the collections' path: each
//! collection's latest state waits in a queue, and one background flush
//! writes everything queued in one call to the store
//! ([`CheckpointStore::record_states`]; one transaction in the SQL store),
//! then whatever queued meanwhile, until the queue is empty.
//!
//! Progress states (`Waiting`, `Crawling`, `Finalizing`, `Completed`) are
//! queued and not waited for: a state superseded before the flush took it is
//! never written. `Retrying`, `Failed` and `Cancelled` are waited for (the
//! runner goes on once they are written, or failed to be), and the runner
//! waits for the queue to empty before it publishes its summaries.
//!
//! What a crash may lose is the progress states queued since the last
//! flush began (one store write's time): the stored row then shows the
//! collection's previous state. That is safe because nothing resumes from
//! a state: a sink commits its cursor and counts with its items and reads
//! them back when it opens, an SQL sink commits `completed` with its last
//! batch itself, and a [`TreePlan`](super::TreePlan) counts a collection
//! done only when it is `completed` *and* has no cursor, which a run that
//! committed anything after its previous completion never is.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use crate::{CheckpointStore, State, StateRecord};

/// The queue and the flush of a runner's state records.
pub(crate) struct Recorder {
    store: Arc<dyn CheckpointStore>,
    queue: Mutex<Queue>,
    /// The sequence number up to which every queued record was written (or
    /// its write failed and was logged).
    written: watch::Sender<u64>,
}

#[derive(Default)]
struct Queue {
    /// The latest state of each collection not yet taken by a flush.
    pending: HashMap<String, StateRecord>,
    /// The sequence number of the last record queued.
    queued: u64,
    /// Whether a flush task is running.
    flushing: bool,
}

impl Recorder {
    pub(crate) fn new(store: Arc<dyn CheckpointStore>) -> Arc<Self> {
        Arc::new(Self {
            store,
            queue: Mutex::new(Queue::default()),
            written: watch::Sender::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `state` is written before the runner goes on.
    pub(crate) fn waits_for(state: State) -> bool {
        matches!(state, State::Retrying | State::Failed | State::Cancelled)
    }

    /// Queues `record` (replacing the collection's queued one) and starts a
    /// flush if none runs; returns its sequence number. Must be called
    /// within a tokio runtime.
    pub(crate) fn queue(self: &Arc<Self>, record: StateRecord) -> u64 {
        let mut queue = self.lock();
        queue.queued += 1;
        queue.pending.insert(record.collection.clone(), record);
        if !queue.flushing {
            queue.flushing = true;
            tokio::spawn(self.clone().flush());
        }
        queue.queued
    }

    /// Queues `record` and waits until it is written.
    pub(crate) async fn record(self: &Arc<Self>, record: StateRecord) {
        let seq = self.queue(record);
        self.written_up_to(seq).await;
    }

    /// Waits until every record queued so far is written.
    pub(crate) async fn flushed(&self) {
        let seq = self.lock().queued;
        self.written_up_to(seq).await;
    }

    async fn written_up_to(&self, seq: u64) {
        let mut written = self.written.subscribe();
        // The sender lives in `self`: the wait cannot fail.
        let _ = written.wait_for(|w| *w >= seq).await;
    }

    async fn flush(self: Arc<Self>) {
        loop {
            let (records, upto) = {
                let mut queue = self.lock();
                if queue.pending.is_empty() {
                    queue.flushing = false;
                    return;
                }
                let records: Vec<StateRecord> = queue.pending.drain().map(|(_, r)| r).collect();
                (records, queue.queued)
            };
            // A store failure is logged, not fatal: the sinks' committed
            // cursors are unaffected.
            if let Err(e) = self.store.record_states(&records).await {
                for r in &records {
                    tracing::error!(collection = %r.collection, state = %r.state, error = %e, "recording the state failed");
                }
            }
            self.written.send_modify(|w| *w = (*w).max(upto));
        }
    }
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CheckpointError, MemoryCheckpointStore};
    use async_trait::async_trait;

    /// A memory store counting its writes, each held until released.
    struct Counting {
        inner: MemoryCheckpointStore,
        calls: Mutex<Vec<usize>>,
        gate: tokio::sync::Semaphore,
    }

    impl Default for Counting {
        fn default() -> Self {
            Self {
                inner: MemoryCheckpointStore::new(),
                calls: Mutex::new(Vec::new()),
                gate: tokio::sync::Semaphore::new(0),
            }
        }
    }

    #[async_trait]
    impl CheckpointStore for Counting {
        async fn load(&self, c: &str) -> Result<Option<crate::Checkpoint>, CheckpointError> {
            self.inner.load(c).await
        }
        async fn record(&self, c: &str, s: State, e: Option<&str>) -> Result<(), CheckpointError> {
            self.inner.record(c, s, e).await
        }
        async fn record_states(&self, records: &[StateRecord]) -> Result<(), CheckpointError> {
            self.gate.acquire().await.expect("open").forget();
            self.calls.lock().unwrap().push(records.len());
            for r in records {
                self.record(&r.collection, r.state, r.last_error.as_deref())
                    .await?;
            }
            Ok(())
        }
    }

    fn rec(c: &str, s: State) -> StateRecord {
        StateRecord::new(c, s, None)
    }

    #[tokio::test]
    async fn queued_states_are_batched_and_only_the_latest_is_written() {
        let store = Arc::new(Counting::default());
        let recorder = Recorder::new(store.clone());
        // The first flush takes "a" and waits; meanwhile more queue up.
        recorder.queue(rec("a", State::Waiting));
        tokio::task::yield_now().await;
        for c in ["a", "b", "c"] {
            recorder.queue(rec(c, State::Waiting));
            recorder.queue(rec(c, State::Crawling));
        }
        store.gate.add_permits(2);
        recorder.flushed().await;
        assert_eq!(
            *store.calls.lock().unwrap(),
            [1, 3],
            "one write for everything queued meanwhile"
        );
        for c in ["a", "b", "c"] {
            assert_eq!(store.load(c).await.unwrap().unwrap().state, State::Crawling);
        }
    }

    #[tokio::test]
    async fn a_waited_record_is_written_after_the_earlier_ones() {
        let store = Arc::new(Counting::default());
        store.gate.add_permits(100);
        let recorder = Recorder::new(store.clone());
        recorder.queue(rec("a", State::Crawling));
        recorder
            .record(StateRecord::new("a", State::Failed, Some("boom".into())))
            .await;
        let stored = store.load("a").await.unwrap().unwrap();
        assert_eq!(
            (stored.state, stored.last_error.as_deref()),
            (State::Failed, Some("boom"))
        );
        recorder.flushed().await;
        assert!(Recorder::waits_for(State::Failed) && !Recorder::waits_for(State::Completed));
    }
}
