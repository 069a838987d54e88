//! Sources benchmarks, against the local mock server:
//!
//! 1. a paginated crawl through the framework vs a hand-written sequential
//!    reqwest + serde_json loop, without latency and with 5 ms server latency;
//! 2. politeness accuracy: 4 pipelines, one host, a 20 ms minimum interval;
//! 3. scraping ~100 KB HTML pages with the fetch/extract overlap on and off.
//!
//! Sizes are scaled down from issue 3 (10^4 pages) to keep the whole run to a
//! few minutes on 2 cores; the ratios are printed alongside criterion's output.
//! `SOURCES_BENCH_ONLY=crawl|latency|politeness|scraping` runs one part.
// A bench binary's output is its report.
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crawlpipe_benches::paged_crawl::{CountSink, framework, page_config, sequential, source_only};
use crawlpipe_core::Pipeline;
use crawlpipe_sources::mock::{MockConfig, MockServer};
use crawlpipe_sources::{HttpContext, HttpSourceConfig, ScrapeConfig, ScrapeSource};
use criterion::{Criterion, Throughput};
use tokio::runtime::Runtime;

/// Pages of the no-latency crawl (issue 3 says 10^4; scaled down).
const PAGES: usize = 2_000;
/// Pages of the 5 ms latency crawl.
const LATENCY_PAGES: usize = 200;
const PER_PAGE: usize = 100;

/// Median of `runs` timed runs of `f`.
fn median<'a>(
    rt: &Runtime,
    runs: usize,
    mut f: impl FnMut() -> std::pin::Pin<Box<dyn Future<Output = u64> + 'a>>,
) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            rt.block_on(f());
            t.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn crawl(c: &mut Criterion, rt: &Runtime, latency: Duration, pages: usize, name: &str) {
    let server = rt
        .block_on(MockServer::start(
            MockConfig::new(pages * PER_PAGE, PER_PAGE).latency(latency),
        ))
        .expect("mock server");
    let ctx = HttpContext::new().expect("client");
    // A host's politeness is set by the first source built for it in a
    // context: the speculating variant needs its own, with two in flight.
    let spec_ctx = HttpContext::new().expect("client");
    let client = reqwest::Client::new();
    let plain = page_config(&server, false);
    let speculative = page_config(&server, true);
    let expected = (pages * PER_PAGE) as u64;
    assert_eq!(rt.block_on(sequential(&client, &server)), expected);
    assert_eq!(rt.block_on(framework(&ctx, &plain)), expected);

    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(pages as u64));
    group.sample_size(10);
    group.bench_function("framework_lookahead1", |b| {
        b.iter(|| rt.block_on(framework(&ctx, &plain)))
    });
    group.bench_function("framework_lookahead1_speculate", |b| {
        b.iter(|| rt.block_on(framework(&spec_ctx, &speculative)))
    });
    group.bench_function("sequential_reqwest_loop", |b| {
        b.iter(|| rt.block_on(sequential(&client, &server)))
    });
    group.finish();

    // Interleaved runs in the same process for the ratio.
    let runs = 5;
    let seq = median(rt, runs, || Box::pin(sequential(&client, &server)));
    let fw = median(rt, runs, || Box::pin(framework(&ctx, &plain)));
    let spec = median(rt, runs, || Box::pin(framework(&spec_ctx, &speculative)));
    let alone = median(rt, runs, || Box::pin(source_only(&ctx, &plain)));
    let ratio = |d: Duration| seq.as_secs_f64() / d.as_secs_f64();
    println!(
        "RESULT {name}: {pages} pages x {PER_PAGE} items; sequential loop {seq:?}; framework {fw:?} ({:.2}x); framework+speculate {spec:?} ({:.2}x); JsonSource::fetch loop without a pipeline {alone:?} ({:.2}x)",
        ratio(fw),
        ratio(spec),
        ratio(alone)
    );
}

fn politeness(rt: &Runtime) {
    // 4 pipelines x 125 requests (124 one-item pages + the empty last page).
    let server = rt
        .block_on(MockServer::start(MockConfig::new(124, 1)))
        .expect("mock server");
    let ctx = HttpContext::new().expect("client");
    let mut config = page_config(&server, false);
    config.min_delay_ms = 20;
    let started = Instant::now();
    rt.block_on(async {
        let runs: Vec<_> = (0..4)
            .map(|_| {
                let ctx = ctx.clone();
                let config = config.clone();
                tokio::spawn(async move { framework(&ctx, &config).await })
            })
            .collect();
        for r in runs {
            assert_eq!(r.await.expect("pipeline"), 124);
        }
    });
    let wall = started.elapsed();
    let times: Vec<Duration> = server.request_times().into_iter().map(|(t, _)| t).collect();
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1].saturating_sub(w[0])).collect();
    let min_gap = gaps.iter().min().copied().unwrap_or_default();
    let under = gaps.iter().filter(|g| **g < Duration::from_millis(20)).count();
    let span = times.last().copied().unwrap_or_default() - times.first().copied().unwrap_or_default();
    let ideal = Duration::from_millis(20) * (times.len() as u32 - 1);
    println!(
        "RESULT politeness: {} requests from 4 pipelines, min_delay 20 ms: min gap between arrivals {min_gap:?}, gaps under 20 ms: {under}, first-to-last {span:?} vs ideal {ideal:?} ({:.3}x), wall {wall:?}",
        times.len(),
        span.as_secs_f64() / ideal.as_secs_f64()
    );
}

/// The gate alone: 4 tasks x 125 acquisitions, client-side start times.
fn gate_accuracy(rt: &Runtime) {
    use crawlpipe_core::policy::{GateConfig, HostGates};
    let gates = HostGates::new();
    let config = GateConfig::default().min_interval(Duration::from_millis(20));
    let started = Instant::now();
    let mut starts: Vec<tokio::time::Instant> = rt.block_on(async {
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let gate = gates.gate("bench.test", config.clone());
                tokio::spawn(async move {
                    let mut v = Vec::new();
                    for _ in 0..125 {
                        let permit = gate.acquire().await;
                        v.push(permit.started());
                        permit.success();
                    }
                    v
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("task"));
        }
        all
    });
    let wall = started.elapsed();
    starts.sort();
    let gaps: Vec<Duration> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    let min_gap = gaps.iter().min().copied().unwrap_or_default();
    let span = starts[starts.len() - 1] - starts[0];
    let ideal = Duration::from_millis(20) * (starts.len() as u32 - 1);
    println!(
        "RESULT gate: {} starts from 4 tasks, min_interval 20 ms: min gap {min_gap:?}, first-to-last {span:?} vs ideal {ideal:?} ({:.3}x), wall {wall:?}",
        starts.len(),
        span.as_secs_f64() / ideal.as_secs_f64()
    );
}

fn scraping(c: &mut Criterion, rt: &Runtime) {
    const HTML_PAGES: usize = 40;
    let server = rt
        .block_on(MockServer::start(
            MockConfig::default().html(HTML_PAGES, 20, 100_000),
        ))
        .expect("mock server");
    let ctx = HttpContext::new().expect("client");
    let config = |overlap: bool| {
        HttpSourceConfig::new(server.url("/html")).scrape(
            ScrapeConfig::new("section.item")
                .next("link[rel=next] @href")
                .field("title", "h2")
                .field("anchor", "@id")
                .field("body", "div.body")
                .overlap(overlap),
        )
    };
    let run = |overlap: bool| {
        let ctx = ctx.clone();
        let config = config(overlap);
        async move {
            let count = Arc::new(AtomicU64::new(0));
            let source = ScrapeSource::from_config(&config, &ctx).expect("source");
            let report = Pipeline::paged("scrape", source)
                .sink(CountSink(count.clone()))
                .spawn()
                .expect("spawn")
                .join()
                .await;
            assert!(report.outcome.is_completed(), "{:?}", report.outcome);
            count.load(Ordering::Relaxed)
        }
    };
    assert_eq!(rt.block_on(run(true)), (HTML_PAGES * 20) as u64);
    let mut group = c.benchmark_group("scrape_100kb_pages");
    group.throughput(Throughput::Elements(HTML_PAGES as u64));
    group.sample_size(10);
    group.bench_function("overlap_on", |b| b.iter(|| rt.block_on(run(true))));
    group.bench_function("overlap_off", |b| b.iter(|| rt.block_on(run(false))));
    group.finish();
    let on = median(rt, 5, || Box::pin(run(true)));
    let off = median(rt, 5, || Box::pin(run(false)));
    let pps = |d: Duration| HTML_PAGES as f64 / d.as_secs_f64();
    println!(
        "RESULT scraping: {HTML_PAGES} pages of ~100 KB: overlap on {:.1} pages/s, overlap off {:.1} pages/s ({:.2}x)",
        pps(on),
        pps(off),
        off.as_secs_f64() / on.as_secs_f64()
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut c = Criterion::default().configure_from_args();
    // SOURCES_BENCH_ONLY=crawl|latency|politeness|scraping runs one part.
    let only = std::env::var("SOURCES_BENCH_ONLY").ok();
    let run = |part: &str| only.as_deref().is_none_or(|o| o == part);
    if run("crawl") {
        crawl(&mut c, &rt, Duration::ZERO, PAGES, "sources_crawl_no_latency");
    }
    if run("latency") {
        crawl(
            &mut c,
            &rt,
            Duration::from_millis(5),
            LATENCY_PAGES,
            "sources_crawl_5ms_latency",
        );
    }
    if run("politeness") {
        gate_accuracy(&rt);
        politeness(&rt);
    }
    if run("scraping") {
        scraping(&mut c, &rt);
    }
    c.final_summary();
}
