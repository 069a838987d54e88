//! The paginated-crawl variants shared by the sources bench and the
//! `crawl_profile` binary: the framework, the source alone, and the
//! hand-written sequential reqwest + serde_json loop they are measured against.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use crawlpipe_core::{Cursor, Paged, Pipeline, Sink, SinkError};
use crawlpipe_sources::mock::MockServer;
use crawlpipe_sources::{HttpContext, HttpSourceConfig, JsonSource, Pagination};

/// Counts items, like the baseline loop does.
#[derive(Debug)]
pub struct CountSink(pub Arc<AtomicU64>);

#[async_trait]
impl<T: Send + 'static> Sink<T> for CountSink {
    async fn write(&mut self, items: Vec<T>, _: Option<&Cursor>) -> Result<(), SinkError> {
        self.0.fetch_add(items.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// The mock server's `/page?page=N` collection; `speculate` also allows the
/// two requests in flight that speculation needs (the default is one).
pub fn page_config(server: &MockServer, speculate: bool) -> HttpSourceConfig {
    let mut config = HttpSourceConfig::new(server.url("/page"))
        .items("/items")
        .pagination(Pagination::page("page", 1));
    config.speculate = speculate;
    if speculate {
        config.max_in_flight_per_host = 2;
    }
    config
}

/// The crawl through a pipeline with lookahead 1; returns the items counted.
pub async fn framework(ctx: &HttpContext, config: &HttpSourceConfig) -> u64 {
    let count = Arc::new(AtomicU64::new(0));
    let source = JsonSource::from_config(config, ctx).expect("source");
    let report = Pipeline::paged("bench", source)
        .lookahead(1)
        .sink(CountSink(count.clone()))
        .spawn()
        .expect("spawn")
        .join()
        .await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    count.load(Ordering::Relaxed)
}

/// The source alone, without the pipeline: separates the source's cost from the driver's.
pub async fn source_only(ctx: &HttpContext, config: &HttpSourceConfig) -> u64 {
    let mut source = JsonSource::from_config(config, ctx).expect("source");
    let mut cursor = None;
    let mut n = 0;
    loop {
        let page = source.fetch(cursor.as_ref()).await.expect("page");
        n += page.items.len() as u64;
        match page.next {
            Some(next) => cursor = Some(next),
            None => return n,
        }
    }
}

/// The baseline: GET each page in turn, parse, count, stop at an empty page.
pub async fn sequential(client: &reqwest::Client, server: &MockServer) -> u64 {
    let mut n = 0;
    let mut page = 1;
    loop {
        let items = crate::minimal_crawl::get_items(client, &server.url(&format!("/page?page={page}"))).await;
        if items.is_empty() {
            return n;
        }
        n += items.len() as u64;
        page += 1;
    }
}
