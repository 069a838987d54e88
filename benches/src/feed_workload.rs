//! `compare feed`: the memory of crawling an XML feed. The mock's Atom feed
//! (`/xml/atom`, `feed_next` links) is crawled on the library's raw path
//! (what the `crawl` binary builds) into SQLite, each run in a fresh child
//! process printing its peak RSS: 10^4 and 10^5 entries at 100 a page (the
//! peak must not grow with the feed), and 10^5 entries in one body (the peak
//! is bounded by that body and its items, not by a document tree).

use crawlpipe_core::Pipeline;
use crawlpipe_sources::mock::{MockConfig, MockServer};
use crawlpipe_sources::{HttpContext, HttpSourceConfig, Pagination, RawJsonSource, XmlConfig};

/// Crawls the Atom feed at `base` into table `entries` of the SQLite
/// database at `db_path`; returns the entries written.
///
/// # Panics
///
/// When the crawl does not complete.
pub async fn feed_crawl(base: &str, db_path: &str) -> u64 {
    let db = crawlpipe_sinks::Database::open(&format!("sqlite://{db_path}"))
        .await
        .expect("sqlite opens");
    let ctx = HttpContext::new().expect("client");
    let mut config = HttpSourceConfig::new(format!("{base}/xml/atom"))
        .xml(XmlConfig::default())
        .items("/feed/entry")
        .pagination(Pagination::FeedNext);
    config.max_body_bytes = 256 * 1024 * 1024;
    let source = RawJsonSource::from_config(&config, &ctx).expect("source");
    let sink = db.documents().key_pointer("/id").build_raw().expect("sink");
    let report = Pipeline::paged("entries", source)
        .sink(sink)
        .spawn()
        .expect("spawn")
        .join()
        .await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    db.close().await;
    report.progress.items_written
}

/// Runs `feed-child` for a feed of `n` entries, `per_page` a page; returns
/// the entries written and the child's peak RSS in KiB.
fn child_peak(rt: &tokio::runtime::Runtime, n: usize, per_page: usize) -> (u64, u64) {
    let server = rt
        .block_on(MockServer::start(MockConfig::new(n, per_page)))
        .expect("mock server");
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("feed.db");
    let line = crate::child_rss::child_stdout(&["feed-child", server.base_url(), &db.display().to_string()]);
    rt.block_on(server.shutdown());
    let mut numbers = line.split_whitespace().filter_map(|v| v.parse::<u64>().ok());
    let items = numbers.next().expect("child prints items");
    let peak = numbers.next().expect("child prints its peak RSS");
    assert_eq!(items, n as u64, "every entry written");
    (items, peak)
}

/// Prints the figures of `compare feed`.
#[allow(clippy::print_stdout)]
pub fn compare(rt: &tokio::runtime::Runtime) {
    let mib = |kib: u64| kib as f64 / 1024.0;
    let (_, small) = child_peak(rt, 10_000, 100);
    let (_, large) = child_peak(rt, 100_000, 100);
    println!("peak RSS of an Atom feed crawl into SQLite (raw path, feed_next, 100 entries a page):");
    println!("  10^4 entries: {:.1} MiB", mib(small));
    println!("  10^5 entries: {:.1} MiB", mib(large));
    println!(
        "  difference: {:+.1} MiB (goal <= +10 MiB)",
        mib(large) - mib(small)
    );
    let body = crawlpipe_sources::mock::atom_entry(0, "http://127.0.0.1:65535").len() * 100_000;
    let (_, one) = child_peak(rt, 100_000, 100_000);
    println!(
        "  10^5 entries in one body (~{:.0} MiB of XML): {:.1} MiB",
        body as f64 / 1024.0 / 1024.0,
        mib(one)
    );
}
