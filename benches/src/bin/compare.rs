//! Prints side-by-side ratios measured in one run.
//!
//! `compare core [N]`: framework vs per-item mpsc chain vs plain loop, N items (default 10^7).
//! `compare memory`: peak RSS of a 10^6-item and a 10^4-item run with a slow sink,
//! each in a fresh child process.
//! `compare runner`: 200 collections × 50 pages, 8 at once, into SQLite: the
//! `Runner` against a hand-written `JoinSet` of the same pipelines.
//! `compare service [N] [RUNS]`: a service runner with N scheduled collections
//! (default 1,000), each with RUNS runs of history (default 100): CPU while
//! they idle, `/status` latency while 8 crawl, and one collection's
//! `/collections/NAME/runs`.
//! `compare fanout`: 2,000 child collections of 1–3 pages against a 5 ms
//! mock, 8 requests in flight, vs a flat crawl of as many pages; and peak
//! RSS with 500 and 2,000 children, each in a fresh child process.
//! `compare cluster`: 1, 2 and 4 worker processes sharing collections through
//! PostgreSQL (`PIPELINE_TEST_PG_URL`), with and without `min_delay_ms`.
//! `compare feed`: peak RSS of an Atom feed crawl (library raw path into
//! SQLite) of 10^4 and 10^5 entries at 100 a page, and of 10^5 in one body,
//! each in a fresh child process.
//! `compare crawl [N] [CRAWL_BINARY…]`: an end-to-end JSON crawl of N items
//! (default 100,000; 100 per page) of the local mock into SQLite, each
//! variant in a child process: the hand-written minimal program (the limit),
//! the library's raw-JSON and `Value` paths, and each `crawl` binary given
//! (default: the `crawl` next to this binary, if built): CPU per item and
//! throughput, side by side.
//! `compare tables [N] [BACKFILL_N]`: typed and inferred columns against the
//! `data`-only raw-JSON path (SQLite, and PostgreSQL with
//! `PIPELINE_TEST_PG_URL`), and a backfill of BACKFILL_N rows.
//! `compare ceiling [ITEMS] [CRAWL_BINARY…]`: a JSON crawl of six
//! collections on one host, one request in flight, by each `crawl` binary
//! given (default: the `crawl` next to this binary) against the server's
//! single-connection ceiling over the same pages (`wrk` and a minimal hyper
//! loop); ITEMS per collection (default 100,000).
//! `compare critical-path [ITEMS] CRAWL_BINARY…`: the same crawl traced
//! (`RUST_LOG=crawlpipe::critical_path=trace`): per request, the time from
//! a response's completion to the next request's grant at the gate and to
//! its send (ITEMS default 20,000).
//!
//! Every workload prints the commit this binary was built from and the load
//! average at its start and end.
//!
//! `compare scrape [ROUNDS] [CRAWL_BINARY…]`: the Python docs scrape by the
//! `crawl` binary (default: the one next to this binary) and by Scrapy
//! (`benches/scrapy/docs_spider.py`), each a child process, and a fetch-only
//! loop over the same pages, in ROUNDS interleaved rounds (default 5).
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use crawlpipe_benches::child_rss::{child_stdout, peak_rss_kib};
use crawlpipe_benches::core_workload::{mpsc_chain, pipeline, plain_loop, slow_sink_run};
use crawlpipe_benches::{crawl_workload, run_info};
use crawlpipe_sources::mock::{MockConfig, MockServer};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let workload = args.first().map_or("core", String::as_str);
    // Children print what their parent parses: nothing else.
    let child = workload.ends_with("-child") || workload == "cluster-worker";
    if !child {
        println!("{}", run_info::start_line(workload));
    }
    run(&args);
    if !child {
        println!("{}", run_info::end_line(workload));
    }
}

fn run(args: &[String]) {
    match args.first().map(String::as_str) {
        Some("core") | None => core(args.get(1).and_then(|n| n.parse().ok()).unwrap_or(10_000_000)),
        Some("memory") => memory(),
        Some("runner") => crawlpipe_benches::runner_workload::compare(),
        Some("service") => service(
            args.get(1).and_then(|n| n.parse().ok()).unwrap_or(1_000),
            args.get(2).and_then(|n| n.parse().ok()).unwrap_or(100),
        ),
        Some("fanout") => crawlpipe_benches::fanout_workload::compare(),
        Some("fanout-child") => {
            crawlpipe_benches::fanout_workload::child(args.get(1).and_then(|n| n.parse().ok()).unwrap_or(500))
        }
        Some("cluster") => {
            crawlpipe_benches::cluster_workload::run(&std::env::args().next().unwrap_or_default())
        }
        Some("cluster-worker") => cluster_worker(&args[1..]),
        Some("feed") => crawlpipe_benches::feed_workload::compare(&runtime()),
        Some("feed-child") if args.len() == 3 => {
            let items = runtime().block_on(crawlpipe_benches::feed_workload::feed_crawl(&args[1], &args[2]));
            println!("{items} {}", peak_rss_kib());
        }
        Some("memory-child") => memory_child(args.get(1).and_then(|n| n.parse().ok()).unwrap_or(10_000)),
        Some("crawl") => crawl_workload::compare(
            args.get(1).and_then(|n| n.parse().ok()).unwrap_or(100_000),
            &args[2.min(args.len())..],
        ),
        Some("tables") => crawlpipe_benches::tables_workload::compare(
            args.get(1).and_then(|n| n.parse().ok()).unwrap_or(200_000),
            args.get(2).and_then(|n| n.parse().ok()).unwrap_or(1_000_000),
        ),
        Some("crawl-child") if args.len() == 4 => crawl_workload::child(&args[1], &args[2], &args[3]),
        Some("ceiling") => crawlpipe_benches::ceiling_workload::compare(
            args.get(1).and_then(|n| n.parse().ok()).unwrap_or(100_000),
            &args[2.min(args.len())..],
            3,
        ),
        Some("critical-path") => crawlpipe_benches::ceiling_workload::compare_critical_path(
            args.get(1).and_then(|n| n.parse().ok()).unwrap_or(20_000),
            &args[2.min(args.len())..],
            3,
        ),
        Some("ceiling-child") if args.len() == 3 => {
            let bytes = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(crawlpipe_benches::ceiling_workload::hyper_loop(
                    &args[1],
                    std::path::Path::new(&args[2]),
                ));
            println!("{bytes}");
        }
        Some("scrape") => crawlpipe_benches::scrape_workload::compare(
            &runtime(),
            args.get(1).and_then(|n| n.parse().ok()).unwrap_or(5),
            &args[2.min(args.len())..],
        ),
        Some("scrape-fetch") if args.len() == 2 => {
            println!(
                "{}",
                runtime().block_on(crawlpipe_benches::scrape_workload::fetch_only(&args[1]))
            );
        }
        Some(other) => {
            eprintln!(
                "unknown workload {other:?}; use `core [N]`, `memory`, `feed`, `runner`, `service [N] [RUNS]`, `fanout`, `cluster`, `crawl [N] [CRAWL_BINARY…]`, `ceiling [ITEMS] [CRAWL_BINARY…]`, `tables [N] [BACKFILL_N]` or `scrape [ROUNDS] [CRAWL_BINARY…]`"
            );
            std::process::exit(2);
        }
    }
}

fn best_of<F: FnMut() -> u64>(runs: usize, mut f: F) -> (Duration, u64) {
    let mut best = Duration::MAX;
    let mut out = 0;
    for _ in 0..runs {
        let t = Instant::now();
        out = f();
        best = best.min(t.elapsed());
    }
    (best, out)
}

fn core(n: u64) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let runs = 5;
    // Interleave the variants so that machine noise hits them alike.
    let mut best = [Duration::MAX; 3];
    let mut sums = [0u64; 3];
    for _ in 0..runs {
        let (d, s) = best_of(1, || rt.block_on(pipeline(n)));
        best[0] = best[0].min(d);
        sums[0] = s;
        let (d, s) = best_of(1, || rt.block_on(mpsc_chain(n)));
        best[1] = best[1].min(d);
        sums[1] = s;
        let (d, s) = best_of(1, || plain_loop(n));
        best[2] = best[2].min(d);
        sums[2] = s;
    }
    assert!(sums.iter().all(|&s| s == sums[0]), "variants disagree: {sums:?}");
    let rate = |d: Duration| n as f64 / d.as_secs_f64() / 1e6;
    println!("core throughput, {n} items, best of {runs}:");
    let labels = [
        "pipeline (chunked edges):",
        "per-item mpsc chain:",
        "plain loop (the limit):",
    ];
    for (label, d) in labels.iter().zip(best) {
        println!("  {label:<25} {:>8.1} ms  {:>7.1} M items/s", ms(d), rate(d));
    }
    println!(
        "  ratio pipeline / mpsc chain: {:.2}x (goal >= 1.5x)",
        best[1].as_secs_f64() / best[0].as_secs_f64()
    );
    println!(
        "  ratio pipeline / plain loop: {:.2}x",
        best[2].as_secs_f64() / best[0].as_secs_f64()
    );
}

fn service(collections: usize, history_runs: usize) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let f = rt.block_on(crawlpipe_benches::service_workload::run(
        collections,
        history_runs,
        Duration::from_secs(10),
        1000,
    ));
    println!(
        "service runner, {} scheduled collections, {} runs of history each:",
        f.collections, f.history_runs
    );
    println!(
        "  idle CPU over {:?}: {:.3}% of a core (goal < 1%)",
        f.idle_window,
        f.idle_core_share * 100.0
    );
    println!(
        "  GET /status while 8 crawl ({} KiB, {} polls): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (goal p99 < 5 ms)",
        f.status_bytes / 1024,
        f.status_latencies.len(),
        ms(f.percentile(0.5)),
        ms(f.percentile(0.99)),
        ms(f.percentile(1.0))
    );
    println!(
        "  GET /collections/NAME/runs ({} runs, {} KiB, {} polls): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        f.history_runs,
        f.runs_bytes / 1024,
        f.runs_latencies.len(),
        ms(f.runs_percentile(0.5)),
        ms(f.runs_percentile(0.99)),
        ms(f.runs_percentile(1.0))
    );
    let p = crawlpipe_benches::service_workload::percentile;
    println!(
        "  /status body built in process ({} times): p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; serialized whole: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        f.build_latencies.len(),
        ms(p(&f.build_latencies, 0.5)),
        ms(p(&f.build_latencies, 0.99)),
        ms(p(&f.build_latencies, 1.0)),
        ms(p(&f.serialize_latencies, 0.5)),
        ms(p(&f.serialize_latencies, 0.99)),
        ms(p(&f.serialize_latencies, 1.0))
    );
    println!(
        "  GET /status/runs ({} KiB, {} polls): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        f.recent_bytes / 1024,
        f.recent_latencies.len(),
        ms(p(&f.recent_latencies, 0.5)),
        ms(p(&f.recent_latencies, 0.99)),
        ms(p(&f.recent_latencies, 1.0))
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn memory() {
    let peak = |n: u64| crawlpipe_benches::child_rss::child_peak_kib(&["memory-child", &n.to_string()]);
    let small = peak(10_000);
    let large = peak(1_000_000);
    println!("peak RSS with a slow sink (1 ms per batch of 1000):");
    println!("  10^4 items: {:.1} MiB", small as f64 / 1024.0);
    println!("  10^6 items: {:.1} MiB", large as f64 / 1024.0);
    println!(
        "  difference: {:+.1} MiB (goal <= +10 MiB)",
        (large as f64 - small as f64) / 1024.0
    );
    // The raw-JSON path end to end: mock server here, the crawl in a child.
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let crawl_peak = |n: usize| -> u64 {
        let server = rt
            .block_on(MockServer::start(MockConfig::new(n, crawl_workload::PER_PAGE)))
            .expect("mock server");
        let db = dir.path().join(format!("raw-{n}.db"));
        let line = child_stdout(&["crawl-child", "raw", &server.url(""), &db.display().to_string()]);
        rt.block_on(server.shutdown());
        line.split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .expect("child prints items and peak RSS")
    };
    let small = crawl_peak(10_000);
    let large = crawl_peak(1_000_000);
    println!("peak RSS of a raw-JSON crawl of the mock into SQLite (library path, 100 per page):");
    println!("  10^4 items: {:.1} MiB", small as f64 / 1024.0);
    println!("  10^6 items: {:.1} MiB", large as f64 / 1024.0);
    println!(
        "  difference: {:+.1} MiB (goal <= +10 MiB)",
        (large as f64 - small as f64) / 1024.0
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn memory_child(n: u64) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let written = rt.block_on(slow_sink_run(n, Duration::from_millis(1)));
    assert_eq!(written, n);
    println!("{}", peak_rss_kib());
}

/// A worker process of `compare cluster`.
fn cluster_worker(args: &[String]) {
    let [pg, prefix, base, collections, delay] = args else {
        eprintln!("cluster-worker PG PREFIX BASE COLLECTIONS MIN_DELAY_MS");
        std::process::exit(2);
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(crawlpipe_benches::cluster_workload::worker(
        pg,
        prefix,
        base,
        collections.parse().unwrap_or(1),
        delay.parse().unwrap_or(0),
    ));
}
