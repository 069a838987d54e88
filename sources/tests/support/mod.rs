//! Shared helpers of the integration tests.
#![allow(dead_code, unreachable_pub)]

pub mod trace;

use std::collections::BTreeSet;
use std::time::Duration;

use crawlpipe_core::policy::RetryPolicy;
use crawlpipe_core::testkit::CollectSink;
use crawlpipe_core::{Cursor, Paged, Pipeline, Report};
use crawlpipe_sources::mock::{MockConfig, MockServer};
use crawlpipe_sources::{HttpContext, HttpSourceConfig, JsonSource, Pagination};
use serde_json::Value;

/// Retries quickly: tests must not sleep for long.
pub fn fast_retry(attempts: u32) -> RetryPolicy {
    RetryPolicy::new(attempts)
        .initial_backoff(Duration::from_millis(2))
        .max_backoff(Duration::from_secs(5))
}

pub async fn server(config: MockConfig) -> MockServer {
    MockServer::start(config).await.expect("mock server starts")
}

pub fn ctx() -> HttpContext {
    HttpContext::new().expect("client builds")
}

/// Runs a pipeline over `source` into a collecting sink.
pub async fn run<P: Paged>(
    name: &str,
    source: P,
    retry: RetryPolicy,
    resume: Option<Cursor>,
) -> (Report, Vec<P::Item>)
where
    P::Item: Clone,
{
    let sink = CollectSink::new();
    let handle = sink.handle();
    let report = Pipeline::paged(name, source)
        .retry(retry)
        .resume_from(resume)
        .batch_timeout(Duration::from_millis(20))
        .sink(sink)
        .spawn()
        .expect("pipeline spawns")
        .join()
        .await;
    (report, handle.items())
}

/// Crawls a JSON collection of the mock server.
pub async fn crawl(
    config: &HttpSourceConfig,
    retry: RetryPolicy,
    resume: Option<Cursor>,
) -> (Report, Vec<Value>) {
    crawl_with(config, &ctx(), retry, resume).await
}

pub async fn crawl_with(
    config: &HttpSourceConfig,
    ctx: &HttpContext,
    retry: RetryPolicy,
    resume: Option<Cursor>,
) -> (Report, Vec<Value>) {
    let source = JsonSource::from_config(config, ctx).expect("source builds");
    run("test", source, retry, resume).await
}

/// The `id`s of JSON items, checking there are no duplicates.
pub fn ids(items: &[Value]) -> Vec<u64> {
    let ids: Vec<u64> = items
        .iter()
        .map(|v| v["id"].as_u64().expect("numeric id"))
        .collect();
    let unique: BTreeSet<u64> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "duplicate items: {ids:?}");
    ids
}

/// Asserts the items are exactly ids `0..n`, once each, in order.
pub fn assert_all(items: &[Value], n: usize) {
    let ids = ids(items);
    assert_eq!(ids, (0..n as u64).collect::<Vec<_>>());
}

/// The configuration of the mock's `/page` collection.
pub fn page_config(server: &MockServer) -> HttpSourceConfig {
    HttpSourceConfig::new(server.url("/page"))
        .items("/items")
        .pagination(Pagination::Page {
            param: "page".into(),
            start: 1,
            total_pages: None,
            has_more: None,
            stop_when: None,
            page_size: None,
            page_size_param: None,
        })
}

/// The failure's error text.
pub fn failure_text(report: &Report) -> String {
    report
        .outcome
        .failure()
        .map(|f| f.error.to_string())
        .unwrap_or_else(|| panic!("expected a failure, got {:?}", report.outcome))
}
