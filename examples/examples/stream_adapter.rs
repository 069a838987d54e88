//! Consuming a pipeline as a plain `Stream` of `Result`s, handling the failure at the end.
//!
//! The mock API answers every 5th request with a 500 and the pipeline is told
//! not to retry, so the crawl fails at page 5: the stream yields every item of
//! pages 1 to 4, then the failure, which says where to resume.
//! Run: `cargo run -p crawlpipe --example stream_adapter`.
#![allow(clippy::print_stdout)]

use crawlpipe_core::Pipeline;
use crawlpipe_core::policy::RetryPolicy;
use crawlpipe_sources::mock::{Faults, MockConfig, MockServer};
use crawlpipe_sources::{HttpContext, HttpSourceConfig, JsonSource, Pagination};
use futures::StreamExt;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Every 5th request answers 500; with a single attempt per page, the 5th page fails.
    let server = MockServer::start(MockConfig::new(1_000, 50).faults(Faults {
        error_every: Some(5),
        ..Faults::default()
    }))
    .await?;
    let config = HttpSourceConfig::new(server.url("/page"))
        .items("/items")
        .pagination(Pagination::page("page", 1));
    let source = JsonSource::from_config(&config, &HttpContext::new()?)?;
    let mut stream = Pipeline::paged("stream", source)
        .retry(RetryPolicy::never())
        .map(|item: Value| item["id"].as_u64().unwrap_or_default())
        .into_stream()?;

    let mut ids = Vec::new();
    let mut failure = None;
    while let Some(result) = stream.next().await {
        match result {
            Ok(id) => ids.push(id),
            Err(f) => failure = Some(f),
        }
    }
    println!("{} items before the failure", ids.len());
    let failure = failure.expect("the 5th request fails");
    println!("failed: {failure}");
    println!("resume from: {:?}", failure.resume_from);
    assert_eq!(ids.len(), 200);
    server.shutdown().await;
    Ok(())
}
