//! Child collections at scale: a parent of `children` items, each child 1 to
//! 3 pages, crawled by the `crawl` wiring (feeder, child queue, grouped
//! runner collections) against a mock with per-request latency; and a flat
//! crawl of the same number of pages by 8 (and 16) plain collections on the
//! same host, for comparison. Both write to SQLite. `FANOUT_TRACE=1` prints
//! each crawl's requests over time.

use std::path::Path;
use std::time::{Duration, Instant};

use crawlpipe::crawl::app::{RunConfig, run};
use crawlpipe::crawl::config::CrawlConfig;
use crawlpipe_sources::mock::{MockConfig, MockServer, tree_issue_count};

/// Items per page, everywhere.
const PER_PAGE: usize = 20;
/// Collections of the flat crawl (and the runner's concurrency in both).
const LANES: usize = 8;

/// The shape of one comparison.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Items of the parent: one child collection each.
    pub children: usize,
    /// Latency the mock adds to every response.
    pub latency: Duration,
    /// Requests in flight per host.
    pub in_flight: usize,
    /// Pipelines at once (the runner's `concurrency`).
    pub concurrency: usize,
}

/// Pages of a fan-out: the parent's and every child's.
pub fn fanout_pages(children: usize) -> usize {
    let child_pages: usize = (1..=children)
        .map(|r| tree_issue_count(r, PER_PAGE).div_ceil(PER_PAGE))
        .sum();
    children.div_ceil(PER_PAGE) + child_pages
}

async fn crawl(toml: &str) -> Duration {
    let config = CrawlConfig::parse(Path::new("<bench>"), toml, &|_| None).expect("bench config is valid");
    let options = RunConfig {
        quiet: true,
        ..RunConfig::default()
    };
    let started = Instant::now();
    let result = run(config, options).await.expect("the crawl starts");
    assert_eq!(result.exit_code(), 0, "the bench crawl completes");
    started.elapsed()
}

/// Crawls the fan-out into a new SQLite file in `dir`; returns the time.
pub async fn fanout(shape: Shape, dir: &Path) -> Duration {
    let mut mock = MockConfig::new(10, PER_PAGE).latency(shape.latency);
    mock.tree_repos = shape.children;
    let server = MockServer::start(mock).await.expect("mock starts");
    let db = dir.join(format!("fanout-{}.db", fastrand::u32(..)));
    // `FANOUT_CHILDREN=N` sets `[runtime] children` (default: the crawl's own).
    let children = std::env::var("FANOUT_CHILDREN")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
        .map(|n| format!("children = {n}\n"))
        .unwrap_or_default();
    let toml = format!(
        r#"[runtime]
database = "sqlite://{db}"
concurrency = {concurrency}
{children}[defaults]
max_in_flight_per_host = {in_flight}
[[collection]]
name = "repos"
url = "{base}/tree/repos"
pagination = {{ style = "link_header" }}
[[collection]]
name = "issues"
parent = "repos"
url = "{base}/tree/repos/{{/name}}/issues"
pagination = {{ style = "link_header" }}
"#,
        db = db.display(),
        in_flight = shape.in_flight,
        concurrency = shape.concurrency,
        base = server.base_url()
    );
    let took = crawl(&toml).await;
    let fetched = server.request_count() as usize;
    trace(&server, took);
    assert_eq!(fetched, fanout_pages(shape.children), "every page once");
    server.shutdown().await;
    took
}

/// Crawls `pages` pages as `shape.concurrency` flat collections on one
/// host, all at once; returns the time.
pub async fn flat(shape: Shape, pages: usize, dir: &Path) -> Duration {
    let lanes = shape.concurrency;
    let per_lane = pages.div_ceil(lanes);
    let server = MockServer::start(MockConfig::new(per_lane * PER_PAGE, PER_PAGE).latency(shape.latency))
        .await
        .expect("mock starts");
    let db = dir.join(format!("flat-{}.db", fastrand::u32(..)));
    let mut toml = format!(
        "[runtime]\ndatabase = \"sqlite://{}\"\nconcurrency = {lanes}\n[defaults]\nmax_in_flight_per_host = {}\n",
        db.display(),
        shape.in_flight
    );
    for lane in 0..lanes {
        toml.push_str(&format!(
            "[[collection]]\nname = \"flat_{lane}\"\nurl = \"{}/page\"\nitems = \"/items\"\n\
             pagination = {{ style = \"page\", has_more = \"/has_more\" }}\n",
            server.base_url()
        ));
    }
    let took = crawl(&toml).await;
    trace(&server, took);
    assert_eq!(
        server.request_count() as usize,
        per_lane * lanes,
        "every page once"
    );
    server.shutdown().await;
    took
}

const CHILDREN: usize = 2_000;

fn shape(children: usize, concurrency: usize) -> Shape {
    Shape {
        children,
        latency: Duration::from_millis(5),
        in_flight: 8,
        concurrency,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// `compare fanout`: prints the throughput ratio and peak RSS.
#[allow(clippy::print_stdout)]
pub fn compare() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let pages = fanout_pages(CHILDREN);
    let rounds = 3;
    let [mut fan, mut wide, mut plain, mut plain_wide] = [Duration::MAX; 4];
    for _ in 0..rounds {
        fan = fan.min(rt.block_on(fanout(shape(CHILDREN, LANES), dir.path())));
        wide = wide.min(rt.block_on(fanout(shape(CHILDREN, 2 * LANES), dir.path())));
        plain = plain.min(rt.block_on(flat(shape(CHILDREN, LANES), pages, dir.path())));
        plain_wide = plain_wide.min(rt.block_on(flat(shape(CHILDREN, 2 * LANES), pages, dir.path())));
    }
    // The baseline is the faster flat crawl: more collections than
    // requests in flight keep the host's slots busy there too.
    let best_flat = plain.min(plain_wide);
    let rate = |d: Duration| pages as f64 / d.as_secs_f64();
    println!(
        "fan-out: {CHILDREN} children of 1-3 pages ({pages} pages), 5 ms latency, 8 in flight, SQLite, best of {rounds}:"
    );
    println!(
        "  child collections, concurrency 8:  {:>6.0} ms  {:>6.0} pages/s",
        ms(fan),
        rate(fan)
    );
    println!(
        "  child collections, concurrency 16: {:>6.0} ms  {:>6.0} pages/s",
        ms(wide),
        rate(wide)
    );
    println!(
        "  flat, 8 collections, concurrency 8: {:>5.0} ms  {:>6.0} pages/s",
        ms(plain),
        rate(plain)
    );
    println!(
        "  flat, 16 collections, concurrency 16: {:>4.0} ms  {:>6.0} pages/s",
        ms(plain_wide),
        rate(plain_wide)
    );
    println!(
        "  ratio fan-out / faster flat throughput: {:.2}x at concurrency 8, {:.2}x at 16 (goal >= 0.90x)",
        best_flat.as_secs_f64() / fan.as_secs_f64(),
        best_flat.as_secs_f64() / wide.as_secs_f64()
    );
    let peak = |n: usize| crate::child_rss::child_peak_kib(&["fanout-child", &n.to_string()]);
    let (small, large) = (peak(500), peak(CHILDREN));
    println!("  peak RSS, 500 children: {:.1} MiB", small as f64 / 1024.0);
    println!(
        "  peak RSS, {CHILDREN} children: {:.1} MiB",
        large as f64 / 1024.0
    );
    println!(
        "  difference: {:+.1} MiB (flat in the number of children)",
        (large as f64 - small as f64) / 1024.0
    );
}

/// `compare fanout-child N`: one fan-out of `N` children; prints peak RSS (KiB).
#[allow(clippy::print_stdout)]
pub fn child(children: usize) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    rt.block_on(fanout(shape(children, LANES), dir.path()));
    println!("{}", crate::child_rss::peak_rss_kib());
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// With `FANOUT_TRACE` set: the mock's requests per 250 ms (parent pages
/// apart) and when the first and last came, to see where a crawl waits.
#[allow(clippy::print_stderr)]
fn trace(server: &MockServer, took: Duration) {
    if std::env::var_os("FANOUT_TRACE").is_none() {
        return;
    }
    let times = server.request_times();
    let mut buckets = std::collections::BTreeMap::<u128, (usize, usize)>::new();
    for (t, path) in &times {
        let bucket = buckets.entry(t.as_millis() / 250).or_default();
        bucket.0 += 1;
        bucket.1 += usize::from(path.starts_with("/tree/repos") && !path.contains("/issues"));
    }
    for (bucket, (all, parent)) in buckets {
        eprintln!(
            "{:>5} ms: {all:>4} requests, {parent:>3} of the parent",
            bucket * 250
        );
    }
    eprintln!(
        "first request at {:?}, last at {:?}, crawl took {took:?}",
        times.first().map(|t| t.0),
        times.last().map(|t| t.0)
    );
}
