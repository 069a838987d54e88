//! Implementing `Paged`: a source for an API the built-in styles don't cover.
//!
//! The mock API's `/offset` route is walked by hand here: the cursor is the
//! next offset, and the framework does retries, prefetching, checkpoints and
//! loop detection. Run: `cargo run -p crawlpipe --example custom_source`.
#![allow(clippy::print_stdout)]

use async_trait::async_trait;
use crawlpipe_core::testkit::CollectSink;
use crawlpipe_core::{Cursor, FetchError, Page, Paged, Pipeline};
use crawlpipe_sources::mock::{MockConfig, MockServer};
use serde_json::Value;

/// Pages through `{base}/offset?offset=N&limit=L`, which answers `{"results": [...], "total": T}`.
struct OffsetApi {
    client: reqwest::Client,
    base: String,
    limit: u64,
}

#[async_trait]
impl Paged for OffsetApi {
    type Item = Value;

    async fn fetch(&mut self, cursor: Option<&Cursor>) -> Result<Page<Value>, FetchError> {
        let offset: u64 = match cursor {
            Some(c) => c
                .as_str()
                .parse()
                .map_err(|_| FetchError::invalid(format!("offset {c} is not a number")))?,
            None => 0,
        };
        let url = format!("{}/offset?offset={offset}&limit={}", self.base, self.limit);
        // Classify errors so the driver knows what to retry.
        let response = self
            .client
            .get(&url)
            .send()
            .await
            .map_err(FetchError::transient)?;
        let status = response.status();
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(FetchError::transient(format!("HTTP {status}")));
        }
        if !status.is_success() {
            return Err(FetchError::permanent(format!("HTTP {status}")));
        }
        let body: Value = response.json().await.map_err(FetchError::transient)?;
        let items = body["results"]
            .as_array()
            .cloned()
            .ok_or_else(|| FetchError::invalid("`results` is not an array"))?;
        let total = body["total"]
            .as_u64()
            .ok_or_else(|| FetchError::invalid("`total` is missing"))?;
        let next = offset + items.len() as u64;
        let next = (next < total && !items.is_empty()).then(|| Cursor::new(next.to_string()));
        Ok(Page::new(items, next))
    }

    fn host(&self) -> Option<&str> {
        Some("mock")
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = MockServer::start(MockConfig::new(1_234, 100)).await?;
    let source = OffsetApi {
        client: reqwest::Client::new(),
        base: server.base_url().to_owned(),
        limit: 100,
    };
    let sink = CollectSink::new();
    let collected = sink.handle();
    let report = Pipeline::paged("offset_items", source)
        .map(|item: Value| item["id"].as_u64().unwrap_or_default())
        .sink(sink)
        .spawn()?
        .join()
        .await;
    println!(
        "{:?}: {} items in {} pages",
        report.outcome, report.progress.items_written, report.progress.pages
    );
    assert!(report.outcome.is_completed());
    assert_eq!(collected.items().len(), 1_234);
    server.shutdown().await;
    Ok(())
}
