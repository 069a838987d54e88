use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;

use crate::{Cursor, Outcome, Sink, SinkError};

/// What a [`CollectSink`] was given.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Collected<T> {
    /// Every item of every successful write, in order.
    pub items: Vec<T>,
    /// Per successful write: its size and checkpoint.
    pub batches: Vec<(usize, Option<Cursor>)>,
    /// The outcome `finish` was called with.
    pub outcome: Option<Outcome>,
}

impl<T> Default for Collected<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            batches: Vec::new(),
            outcome: None,
        }
    }
}

/// Reads what a [`CollectSink`] collected, while or after it runs.
#[derive(Debug, Clone)]
pub struct CollectHandle<T>(Arc<Mutex<Collected<T>>>);

impl<T: Clone> CollectHandle<T> {
    fn lock(&self) -> MutexGuard<'_, Collected<T>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of everything collected.
    pub fn snapshot(&self) -> Collected<T> {
        self.lock().clone()
    }

    /// The items written so far.
    pub fn items(&self) -> Vec<T> {
        self.lock().items.clone()
    }

    /// The newest checkpoint written.
    pub fn last_checkpoint(&self) -> Option<Cursor> {
        self.lock().batches.iter().rev().find_map(|(_, c)| c.clone())
    }

    /// The outcome `finish` got, once it was called.
    pub fn outcome(&self) -> Option<Outcome> {
        self.lock().outcome.clone()
    }
}

/// A [`Sink`] that keeps everything in memory, optionally slow or failing.
#[derive(Debug)]
pub struct CollectSink<T> {
    state: Arc<Mutex<Collected<T>>>,
    write_delay: Duration,
    fail_from_write: Option<usize>,
    panic_at_write: Option<usize>,
    writes: usize,
}

impl<T: Clone + Send + 'static> Default for CollectSink<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Clone + Send + 'static> CollectSink<T> {
    /// A sink that accepts everything.
    pub fn new() -> Self {
        Self {
            state: Arc::new(Mutex::new(Collected::default())),
            write_delay: Duration::ZERO,
            fail_from_write: None,
            panic_at_write: None,
            writes: 0,
        }
    }

    /// A handle to read what was collected.
    pub fn handle(&self) -> CollectHandle<T> {
        CollectHandle(self.state.clone())
    }

    /// Every write takes this long (a slow database).
    #[must_use]
    pub fn slow(mut self, d: Duration) -> Self {
        self.write_delay = d;
        self
    }

    /// Write number `n` (1-based) and every later one fail with [`SinkError::Write`].
    #[must_use]
    pub fn fail_from_write(mut self, n: usize) -> Self {
        self.fail_from_write = Some(n);
        self
    }

    /// Write number `n` (1-based) panics.
    #[must_use]
    pub fn panic_at_write(mut self, n: usize) -> Self {
        self.panic_at_write = Some(n);
        self
    }
}

#[async_trait]
impl<T: Clone + Send + 'static> Sink<T> for CollectSink<T> {
    async fn write(&mut self, items: Vec<T>, checkpoint: Option<&Cursor>) -> Result<(), SinkError> {
        self.writes += 1;
        if !self.write_delay.is_zero() {
            tokio::time::sleep(self.write_delay).await;
        }
        if self.panic_at_write == Some(self.writes) {
            panic!("scripted panic at write {}", self.writes);
        }
        if self.fail_from_write.is_some_and(|n| self.writes >= n) {
            return Err(SinkError::Write {
                collection: "collect".to_owned(),
                source: format!("scripted failure at write {}", self.writes).into(),
            });
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.batches.push((items.len(), checkpoint.cloned()));
        state.items.extend(items);
        Ok(())
    }

    async fn finish(&mut self, outcome: &Outcome) -> Result<(), SinkError> {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).outcome = Some(outcome.clone());
        Ok(())
    }
}
