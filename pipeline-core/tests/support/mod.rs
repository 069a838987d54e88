//! Shared test helpers: a source shared across attempts, a sink counting
//! writes per key and keeping its checkpoint, and a store that records states.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use crawlpipe_core::testkit::ScriptedPaged;
use crawlpipe_core::{
    Checkpoint, CheckpointError, CheckpointStore, Cursor, FetchError, MemoryCheckpointStore, Outcome, Page,
    Paged, Sink, SinkContext, SinkError, State,
};

/// One scripted server shared by every attempt of a collection, so faults
/// and the fetch log span resumes (a new `ScriptedPaged` per attempt would
/// reset them).
#[derive(Debug, Clone)]
pub struct SharedSource(Arc<tokio::sync::Mutex<ScriptedPaged<u64>>>);

impl SharedSource {
    pub fn new(source: ScriptedPaged<u64>) -> Self {
        Self(Arc::new(tokio::sync::Mutex::new(source)))
    }
}

#[async_trait]
impl Paged for SharedSource {
    type Item = u64;

    async fn fetch(&mut self, cursor: Option<&Cursor>) -> Result<Page<u64>, FetchError> {
        self.0.lock().await.fetch(cursor).await
    }
}

/// A sink like a table with a primary key and a checkpoint row: counts how
/// often each key was written, and keeps the committed cursor it hands back
/// when it opens (as the SQL sinks do).
#[derive(Debug, Clone, Default)]
pub struct KeyedSink {
    counts: Arc<Mutex<BTreeMap<u64, u32>>>,
    committed: Arc<Mutex<Option<Cursor>>>,
}

impl KeyedSink {
    pub fn new() -> Self {
        Self::default()
    }

    /// A sink whose stored checkpoint says the last run stopped at `cursor`.
    pub fn stopped_at(cursor: Cursor) -> Self {
        let sink = Self::default();
        *sink.committed.lock().unwrap() = Some(cursor);
        sink
    }

    pub fn counts(&self) -> BTreeMap<u64, u32> {
        self.counts.lock().unwrap().clone()
    }

    /// The committed cursor (`None`: none, or the last run completed).
    pub fn committed(&self) -> Option<Cursor> {
        self.committed.lock().unwrap().clone()
    }

    /// Asserts keys `0..n` were each written exactly once and nothing else.
    pub fn assert_exactly_once(&self, n: u64) {
        let counts = self.counts();
        let dups: Vec<_> = counts.iter().filter(|(_, c)| **c != 1).collect();
        assert!(dups.is_empty(), "duplicates: {dups:?}");
        let keys: Vec<u64> = counts.keys().copied().collect();
        assert_eq!(keys, (0..n).collect::<Vec<_>>(), "missing or extra keys");
    }
}

#[async_trait]
impl Sink<u64> for KeyedSink {
    async fn open(&mut self, context: &SinkContext) -> Result<Option<Cursor>, SinkError> {
        let mut committed = self.committed.lock().unwrap();
        if context.fresh() {
            *committed = None;
        }
        Ok(committed.clone())
    }

    async fn write(&mut self, items: Vec<u64>, checkpoint: Option<&Cursor>) -> Result<(), SinkError> {
        let mut counts = self.counts.lock().unwrap();
        for k in items {
            *counts.entry(k).or_default() += 1;
        }
        if let Some(c) = checkpoint {
            *self.committed.lock().unwrap() = Some(c.clone());
        }
        Ok(())
    }

    async fn finish(&mut self, outcome: &Outcome) -> Result<(), SinkError> {
        if outcome.is_completed() {
            *self.committed.lock().unwrap() = None;
        }
        Ok(())
    }
}

/// A memory store that keeps every state recorded.
#[derive(Debug, Default)]
pub struct RecordingStore {
    inner: MemoryCheckpointStore,
    recorded: Mutex<Vec<(String, State, Option<String>)>>,
}

impl RecordingStore {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Every (state, last error) recorded for `collection`, in order.
    pub fn recorded(&self, collection: &str) -> Vec<(State, Option<String>)> {
        self.recorded
            .lock()
            .unwrap()
            .iter()
            .filter(|(c, ..)| c == collection)
            .map(|(_, state, error)| (*state, error.clone()))
            .collect()
    }

    /// The states recorded for `collection`, consecutive repeats merged.
    pub fn states(&self, collection: &str) -> Vec<State> {
        let mut states: Vec<State> = self.recorded(collection).iter().map(|(s, _)| *s).collect();
        states.dedup();
        states
    }

    pub async fn stored(&self, collection: &str) -> Option<Checkpoint> {
        self.inner.load(collection).await.unwrap()
    }
}

#[async_trait]
impl CheckpointStore for RecordingStore {
    async fn load(&self, collection: &str) -> Result<Option<Checkpoint>, CheckpointError> {
        self.inner.load(collection).await
    }

    async fn record(
        &self,
        collection: &str,
        state: State,
        last_error: Option<&str>,
    ) -> Result<(), CheckpointError> {
        self.recorded
            .lock()
            .unwrap()
            .push((collection.to_owned(), state, last_error.map(str::to_owned)));
        self.inner.record(collection, state, last_error).await
    }
}
