//! Bounded edges between stages, with capacity counted in items.
//!
//! An edge is a bounded `tokio::sync::mpsc` channel of chunks plus a semaphore
//! of item permits: a chunk of `n` items takes `n` permits before it is queued
//! and gives them back when the receiver takes it. So at most `capacity` items
//! wait on an edge, however the producer chunks them, and a stalled consumer
//! stalls the producer (backpressure) instead of growing memory.
//!
//! Disconnection: dropping the receiver closes the semaphore, so a producer
//! blocked on a full edge wakes up with [`Closed`] instead of hanging.

use std::sync::Arc;

use metrics::Gauge;
use tokio::sync::{Semaphore, mpsc};

use crate::{Control, Event};

/// The receiving side of an edge is gone: stop producing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Closed;

/// Creates an edge holding at most `capacity` items (`capacity` ≥ 1, ≤ `u32::MAX`).
pub(crate) fn edge<T>(capacity: usize, gauge: Gauge) -> (EdgeSender<T>, EdgeReceiver<T>) {
    let (tx, rx) = mpsc::channel(capacity);
    let permits = Arc::new(Semaphore::new(capacity));
    (
        EdgeSender {
            tx,
            permits: permits.clone(),
            capacity,
            gauge: gauge.clone(),
        },
        EdgeReceiver { rx, permits, gauge },
    )
}

pub(crate) struct EdgeSender<T> {
    tx: mpsc::Sender<(Event<T>, u32)>,
    permits: Arc<Semaphore>,
    capacity: usize,
    gauge: Gauge,
}

impl<T> EdgeSender<T> {
    /// Sends items in order, split into chunks of at most the edge's capacity.
    pub(crate) async fn send_items(&self, mut items: Vec<T>) -> Result<(), Closed> {
        while items.len() > self.capacity {
            let rest = items.split_off(self.capacity);
            self.send_chunk(std::mem::replace(&mut items, rest)).await?;
        }
        if items.is_empty() {
            return Ok(());
        }
        self.send_chunk(items).await
    }

    async fn send_chunk(&self, items: Vec<T>) -> Result<(), Closed> {
        // The capacity is checked to fit in u32 when the pipeline is built.
        let n = items.len() as u32;
        self.permits.acquire_many(n).await.map_err(|_| Closed)?.forget();
        self.gauge.increment(f64::from(n));
        self.tx.send((Event::Items(items), n)).await.map_err(|_| Closed)
    }

    /// Sends a control marker; it takes no item permit.
    pub(crate) async fn send_control(&self, control: Control) -> Result<(), Closed> {
        self.tx
            .send((Event::Control(control), 0))
            .await
            .map_err(|_| Closed)
    }

    /// Sends an event, chunked as needed.
    pub(crate) async fn send(&self, event: Event<T>) -> Result<(), Closed> {
        match event {
            Event::Items(items) => self.send_items(items).await,
            Event::Control(c) => self.send_control(c).await,
        }
    }
}

pub(crate) struct EdgeReceiver<T> {
    rx: mpsc::Receiver<(Event<T>, u32)>,
    permits: Arc<Semaphore>,
    gauge: Gauge,
}

impl<T> EdgeReceiver<T> {
    /// The next event; `None` once every sender is gone and the edge is empty.
    pub(crate) async fn recv(&mut self) -> Option<Event<T>> {
        let (event, n) = self.rx.recv().await?;
        if n > 0 {
            self.permits.add_permits(n as usize);
            self.gauge.decrement(f64::from(n));
        }
        Some(event)
    }
}

impl<T> Drop for EdgeReceiver<T> {
    fn drop(&mut self) {
        self.permits.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gauge() -> Gauge {
        Gauge::noop()
    }

    #[tokio::test]
    async fn capacity_is_counted_in_items() {
        let (tx, mut rx) = edge::<u32>(10, gauge());
        tx.send_items((0..10).collect()).await.unwrap();
        // The edge is full: an 11th item must wait.
        let blocked =
            tokio::time::timeout(std::time::Duration::from_millis(20), tx.send_items(vec![10])).await;
        assert!(blocked.is_err(), "a full edge must block the sender");
        let Some(Event::Items(first)) = rx.recv().await else {
            panic!("expected items")
        };
        assert_eq!(first, (0..10).collect::<Vec<_>>());
        tx.send_items(vec![10]).await.unwrap();
    }

    #[tokio::test]
    async fn large_chunks_are_split_in_order() {
        let (tx, mut rx) = edge::<u32>(4, gauge());
        let send = tokio::spawn(async move { tx.send_items((0..10).collect()).await });
        let mut got = Vec::new();
        while let Some(Event::Items(chunk)) = rx.recv().await {
            assert!(chunk.len() <= 4);
            got.extend(chunk);
        }
        send.await.unwrap().unwrap();
        assert_eq!(got, (0..10).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn dropping_the_receiver_wakes_a_blocked_sender() {
        let (tx, rx) = edge::<u32>(2, gauge());
        tx.send_items(vec![1, 2]).await.unwrap();
        let blocked = tokio::spawn(async move { tx.send_items(vec![3]).await });
        tokio::task::yield_now().await;
        drop(rx);
        assert_eq!(blocked.await.unwrap(), Err(Closed));
    }
}
