//! A stalled sink stalls the source: memory is bounded by the edge capacities.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use crawlpipe_core::testkit::ScriptedPaged;
use crawlpipe_core::{Cursor, Pipeline, Sink, SinkError};
use tokio::sync::Semaphore;

/// A sink that writes only when the test hands it a permit.
struct Gated(Arc<Semaphore>);

#[async_trait]
impl Sink<u64> for Gated {
    async fn write(&mut self, _items: Vec<u64>, _c: Option<&Cursor>) -> Result<(), SinkError> {
        self.0.acquire().await.expect("open").forget();
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn stalled_sink_stalls_the_source() {
    let gate = Arc::new(Semaphore::new(0));
    let per_page = 10;
    let handle = Pipeline::paged("stall", ScriptedPaged::numbered(10_000, per_page))
        .capacity(100)
        .batch_size(50)
        .map(|n: u64| n * 2)
        .sink(Gated(gate.clone()))
        .spawn()
        .unwrap();
    let status = handle.status();
    tokio::time::sleep(Duration::from_secs(60)).await;
    let fetched = status.borrow().progress.items_fetched;
    // Two edges of 100 items, one chunk in each stage's hands, one batch in the
    // sink and a page of lookahead: far below the 100,000 items of the collection.
    assert!(
        fetched <= 2 * 100 + 50 + 4 * per_page as u64,
        "fetched {fetched} items with the sink stalled"
    );
    assert!(fetched >= 100, "the source ran until the edges were full");

    gate.add_permits(1_000_000);
    let report = handle.join().await;
    assert!(report.outcome.is_completed());
    assert_eq!(report.progress.items_written, 100_000);
}
