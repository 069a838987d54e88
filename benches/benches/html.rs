//! Scraping real HTML: the Python documentation of Debian's `python3-doc`
//! (run `benches/setup-html-corpus.sh` once; skipped when it is missing),
//! about 470 pages followed by `<link rel="next">`, served on loopback.
//!
//! Variants, interleaved in each round so that machine noise hits them alike:
//! - `parallel`: the scrape source as configured by default (the next link
//!   predicted by a streaming scan, pages parsed on one worker per core);
//! - `one_ahead`: the same with `workers = 1` (one page worked on ahead);
//! - `sequential`: `overlap = false`, one page fetched, parsed and extracted
//!   after the other, which measured the same as the previous overlap
//!   (316 vs 313 pages/s on the 40-page bench);
//! - `reference`: a hand-written loop (reqwest, `scraper`, same selectors).
//!
//! Every variant's items must equal the reference's, or the bench fails.
//! `HTML_BENCH_ROUNDS` (default 3) sets the rounds; medians are printed.
#![allow(clippy::print_stdout)]

use std::time::Duration;

use crawlpipe_benches::html_corpus::{
    CorpusServer, START, corpus_dir, crawl, reference_crawl, scrape_config,
};
use crawlpipe_benches::service_workload::cpu_seconds;
use crawlpipe_sources::HttpContext;

fn main() {
    let Some(dir) = corpus_dir() else {
        println!("html: skipped, the corpus is missing: run benches/setup-html-corpus.sh");
        return;
    };
    let rounds: usize = std::env::var("HTML_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt.block_on(CorpusServer::start(dir));
    let ctx = HttpContext::new().expect("client");
    let client = reqwest::Client::new();
    let base = scrape_config(&server);
    let with = |f: fn(crawlpipe_sources::ScrapeConfig) -> crawlpipe_sources::ScrapeConfig| {
        let mut c = base.clone();
        c.scrape = c.scrape.map(f);
        c
    };
    let variants = [
        ("parallel", base.clone()),
        ("one_ahead", with(|s| s.workers(1))),
        ("sequential", with(|s| s.overlap(false))),
    ];
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); variants.len() + 1];
    // CPU seconds of the whole process (server included), per variant.
    let mut cpu = vec![0.0f64; variants.len() + 1];
    let mut pages = 0;
    for round in 0..rounds {
        let before = cpu_seconds();
        let (t, n, want) = rt.block_on(reference_crawl(&client, &server.url(START)));
        cpu[variants.len()] += cpu_seconds() - before;
        times[variants.len()].push(t);
        pages = n;
        for (i, (name, config)) in variants.iter().enumerate() {
            let before = cpu_seconds();
            let (t, n, items) = rt.block_on(crawl(config, &ctx));
            cpu[i] += cpu_seconds() - before;
            assert_eq!(n, pages, "{name}: pages");
            assert!(items == want, "{name}: items differ from the reference's");
            times[i].push(t);
        }
        let pps = |t: Duration| pages as f64 / t.as_secs_f64();
        println!(
            "round {round}: {pages} pages, {} items: parallel {:.1} pages/s, one_ahead {:.1}, sequential {:.1}, reference {:.1}",
            want.len(),
            pps(times[0][round]),
            pps(times[1][round]),
            pps(times[2][round]),
            pps(times[3][round]),
        );
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let total: Vec<f64> = times
        .iter()
        .map(|v| v.iter().map(Duration::as_secs_f64).sum())
        .collect();
    let m: Vec<Duration> = times.iter_mut().map(median).collect();
    let names = ["parallel", "one_ahead", "sequential", "reference"];
    for (i, name) in names.iter().enumerate() {
        println!(
            "cpu {name}: {:.2} ms per page, {:.2} cores busy on average",
            cpu[i] * 1000.0 / (pages as f64 * rounds as f64),
            cpu[i] / total[i]
        );
    }
    let pps = |t: Duration| pages as f64 / t.as_secs_f64();
    println!(
        "RESULT html: {pages} pages of the Python docs, {cores} cores, median of {rounds}: \
         parallel {:.1} pages/s = {:.2}x sequential ({:.1}), {:.2}x one_ahead ({:.1}), \
         {:.2}x the hand-written reference loop ({:.1}); items identical",
        pps(m[0]),
        m[2].as_secs_f64() / m[0].as_secs_f64(),
        pps(m[2]),
        m[1].as_secs_f64() / m[0].as_secs_f64(),
        pps(m[1]),
        m[3].as_secs_f64() / m[0].as_secs_f64(),
        pps(m[3]),
    );
}
