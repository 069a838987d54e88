//! Core throughput: source → map → sink in memory, `n` small items.

use std::hint::black_box;
use std::time::Duration;

use async_trait::async_trait;
use crawlpipe_core::{Cursor, FetchError, Page, Paged, Pipeline, Sink, SinkError};
use tokio::sync::mpsc;

/// Items per page of the in-memory source.
pub const PAGE: u64 = 1_000;

/// The per-item work every variant does.
#[inline]
pub fn work(x: u64) -> u64 {
    x.wrapping_mul(2_654_435_761).rotate_left(7) ^ 0x5bd1_e995
}

/// An in-memory paged source of `0..total`, pages of [`PAGE`] items.
#[derive(Debug)]
pub struct Counting {
    pub total: u64,
}

#[async_trait]
impl Paged for Counting {
    type Item = u64;

    async fn fetch(&mut self, cursor: Option<&Cursor>) -> Result<Page<u64>, FetchError> {
        let start: u64 = match cursor {
            Some(c) => c
                .as_str()
                .parse()
                .map_err(|_| FetchError::invalid("bad cursor"))?,
            None => 0,
        };
        let end = (start + PAGE).min(self.total);
        let next = (end < self.total).then(|| Cursor::new(end.to_string()));
        Ok(Page::new((start..end).collect(), next))
    }
}

/// A sink that folds every item into a checksum, optionally sleeping per batch.
#[derive(Debug)]
pub struct Checksum {
    pub sum: std::sync::Arc<std::sync::atomic::AtomicU64>,
    pub delay: Duration,
}

#[async_trait]
impl<T: Send + 'static + Into<u64>> Sink<T> for Checksum {
    async fn write(&mut self, items: Vec<T>, _checkpoint: Option<&Cursor>) -> Result<(), SinkError> {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let s = items.into_iter().fold(0u64, |acc, x| acc.wrapping_add(x.into()));
        self.sum.fetch_add(s, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

/// The framework: paged source → `map(work)` → checksum sink.
pub async fn pipeline(n: u64) -> u64 {
    let sum = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let report = Pipeline::paged("bench", Counting { total: n })
        .map(work)
        .capacity(4_096)
        .batch_size(4_096)
        .sink(Checksum {
            sum: sum.clone(),
            delay: Duration::ZERO,
        })
        .spawn()
        .expect("valid settings")
        .join()
        .await;
    assert!(report.outcome.is_completed());
    sum.load(std::sync::atomic::Ordering::Relaxed)
}

/// The baseline: a task per stage joined by per-item `tokio::sync::mpsc` channels.
pub async fn mpsc_chain(n: u64) -> u64 {
    let (tx1, mut rx1) = mpsc::channel::<u64>(1_024);
    let (tx2, mut rx2) = mpsc::channel::<u64>(1_024);
    let source = tokio::spawn(async move {
        for x in 0..n {
            if tx1.send(x).await.is_err() {
                break;
            }
        }
    });
    let map = tokio::spawn(async move {
        while let Some(x) = rx1.recv().await {
            if tx2.send(work(x)).await.is_err() {
                break;
            }
        }
    });
    let sink = tokio::spawn(async move {
        let mut sum = 0u64;
        while let Some(x) = rx2.recv().await {
            sum = sum.wrapping_add(x);
        }
        sum
    });
    source.await.expect("source");
    map.await.expect("map");
    sink.await.expect("sink")
}

/// The limit: the same pages and work in a plain loop, no channels.
pub fn plain_loop(n: u64) -> u64 {
    let mut sum = 0u64;
    let mut start = 0;
    while start < n {
        let end = (start + PAGE).min(n);
        let page: Vec<u64> = black_box((start..end).collect());
        let mapped: Vec<u64> = page.into_iter().map(work).collect();
        sum = mapped.into_iter().fold(sum, u64::wrapping_add);
        start = end;
    }
    sum
}

/// Items for the memory run: ~100 bytes each, so unbounded buffering would show.
pub async fn slow_sink_run(n: u64, batch_delay: Duration) -> u64 {
    let sum = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let report = Pipeline::paged("memory", Counting { total: n })
        .map(|x: u64| format!("{x:0>96}"))
        .map(|s: String| s.len() as u64)
        .sink(Checksum {
            sum: sum.clone(),
            delay: batch_delay,
        })
        .spawn()
        .expect("valid settings")
        .join()
        .await;
    assert!(report.outcome.is_completed());
    report.progress.items_written
}
