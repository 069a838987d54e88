//! A single crawl of the mock server, for profiling one variant alone under
//! callgrind: `crawl_profile framework|speculate|source|loop [PAGES]`.
// A bench binary's output is its report.
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use pipeline_core::{Cursor, Paged, Pipeline, Sink, SinkError};
use serde_json::Value;
use sources::mock::{MockConfig, MockServer};
use sources::{HttpContext, HttpSourceConfig, JsonSource, Pagination};

struct CountSink(Arc<AtomicU64>);

#[async_trait]
impl<T: Send + 'static> Sink<T> for CountSink {
    async fn write(&mut self, items: Vec<T>, _: Option<&Cursor>) -> Result<(), SinkError> {
        self.0.fetch_add(items.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let variant = args.next().unwrap_or_else(|| "framework".into());
    let pages: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(500);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let n = rt.block_on(async {
        let server = MockServer::start(MockConfig::new(pages * 100, 100))
            .await
            .expect("mock");
        let ctx = HttpContext::new().expect("client");
        let mut config = HttpSourceConfig::new(server.url("/page"))
            .items("/items")
            .pagination(Pagination::Page {
                param: "page".into(),
                start: 1,
                total_pages: None,
                has_more: None,
            });
        if variant == "speculate" {
            config.speculate = true;
            config.max_in_flight_per_host = 2;
        }
        match variant.as_str() {
            "loop" => {
                let client = reqwest::Client::new();
                let mut n = 0u64;
                let mut page = 1;
                loop {
                    let body = client
                        .get(server.url(&format!("/page?page={page}")))
                        .send()
                        .await
                        .expect("send")
                        .bytes()
                        .await
                        .expect("body");
                    let mut value: Value = serde_json::from_slice(&body).expect("json");
                    let Value::Array(items) = value["items"].take() else {
                        panic!("no items")
                    };
                    if items.is_empty() {
                        break n;
                    }
                    n += items.len() as u64;
                    page += 1;
                }
            }
            "source" => {
                let mut source = JsonSource::from_config(&config, &ctx).expect("source");
                let mut cursor = None;
                let mut n = 0u64;
                loop {
                    let page = source.fetch(cursor.as_ref()).await.expect("page");
                    n += page.items.len() as u64;
                    match page.next {
                        Some(next) => cursor = Some(next),
                        None => break n,
                    }
                }
            }
            _ => {
                let count = Arc::new(AtomicU64::new(0));
                let source = JsonSource::from_config(&config, &ctx).expect("source");
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
        }
    });
    println!("{variant}: {n} items");
}
