//! Scraping an HTML site: items by CSS selector, fields by selector or
//! attribute, and a next-page link followed only within allowed hosts.
//! Run: `cargo run -p crawlpipe --example scrape_docs`.
#![allow(clippy::print_stdout)]

use crawlpipe_core::Pipeline;
use crawlpipe_core::testkit::CollectSink;
use crawlpipe_sources::mock::{MockConfig, MockServer};
use crawlpipe_sources::{HttpContext, HttpSourceConfig, ScrapeConfig, ScrapeSource, ScrapedItem};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = MockServer::start(MockConfig::new(10, 10).html(12, 15, 500)).await?;
    let scrape = ScrapeConfig::new("section")
        .next("link[rel=next] @href")
        .field("title", "h2")
        .field("anchor", "@id")
        .field("link", "a.more @href");
    let config = HttpSourceConfig::new(server.url("/html?page=1")).scrape(scrape);
    let source = ScrapeSource::from_config(&config, &HttpContext::new()?)?;
    let sink = CollectSink::new();
    let collected = sink.handle();
    let report = Pipeline::paged("docs", source)
        .map(|item: ScrapedItem| {
            let title = item.fields.get("title").cloned().flatten().unwrap_or_default();
            let anchor = item.fields.get("anchor").cloned().flatten().unwrap_or_default();
            format!("{anchor}: {title}")
        })
        .sink(sink)
        .spawn()?
        .join()
        .await;
    let items = collected.items();
    println!(
        "{} sections from {} pages, first: {:?}",
        items.len(),
        report.progress.pages,
        items.first()
    );
    assert!(report.outcome.is_completed());
    assert_eq!(items.len(), 12 * 15);
    server.shutdown().await;
    Ok(())
}
