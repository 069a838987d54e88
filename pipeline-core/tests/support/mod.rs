//! Shared test helpers: a source shared across attempts, a sink counting
//! writes per key, and checkpoint stores that record or corrupt.

#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use pipeline_core::Sink;
use pipeline_core::testkit::ScriptedPaged;
use pipeline_core::{
    Checkpoint, CheckpointError, CheckpointStore, Cursor, FetchError, MemoryCheckpointStore, Page, Paged,
    SinkError, State,
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

/// A sink like a table with a primary key: counts how often each key was written.
#[derive(Debug, Clone, Default)]
pub struct KeyedSink(Arc<Mutex<BTreeMap<u64, u32>>>);

impl KeyedSink {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn counts(&self) -> BTreeMap<u64, u32> {
        self.0.lock().unwrap().clone()
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
    async fn write(&mut self, items: Vec<u64>, _: Option<&Cursor>) -> Result<(), SinkError> {
        let mut counts = self.0.lock().unwrap();
        for k in items {
            *counts.entry(k).or_default() += 1;
        }
        Ok(())
    }
}

/// A memory store that records every checkpoint saved.
#[derive(Debug, Default)]
pub struct RecordingStore {
    inner: MemoryCheckpointStore,
    saved: Mutex<Vec<Checkpoint>>,
    corrupt: HashSet<String>,
}

impl RecordingStore {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// A store whose checkpoint of each of `names` is corrupt.
    pub fn corrupt(names: &[&str]) -> Arc<Self> {
        Arc::new(Self {
            corrupt: names.iter().map(|n| (*n).to_owned()).collect(),
            ..Self::default()
        })
    }

    /// Every checkpoint saved for `collection`, in order.
    pub fn saved(&self, collection: &str) -> Vec<Checkpoint> {
        self.saved
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.collection == collection)
            .cloned()
            .collect()
    }

    /// The states saved for `collection`, consecutive repeats merged.
    pub fn states(&self, collection: &str) -> Vec<State> {
        let mut states: Vec<State> = self.saved(collection).iter().map(|c| c.state).collect();
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
        if self.corrupt.contains(collection) {
            return Err(CheckpointError::Corrupt {
                collection: collection.to_owned(),
                reason: "state \"crawlin\" is not a state".to_owned(),
            });
        }
        self.inner.load(collection).await
    }

    async fn save(&self, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        self.saved.lock().unwrap().push(checkpoint.clone());
        self.inner.save(checkpoint).await
    }
}
