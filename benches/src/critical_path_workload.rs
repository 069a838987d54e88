//! The per-request critical path of the `crawl` binary (`compare
//! critical-path`): each binary crawls the six collections of
//! [`ceiling_workload`](crate::ceiling_workload) with
//! `RUST_LOG=crawlpipe::critical_path=trace`, and the trace events
//! `response complete`, `gate granted` and `request sent` (timestamps of the
//! binary's own log lines) give, per request, the time from a response's
//! last byte to the next request's grant at the host gate and on to the
//! HTTP client.
#![allow(clippy::print_stdout)]

use std::process::Command;

use crate::ceiling_workload::{server, six_collections_toml};

/// The per-request critical path of one traced crawl: medians (and means)
/// in µs from a response's last byte being read to the next request's
/// grant at the host's gate, and from the grant to the request handed to
/// the HTTP client.
#[derive(Debug, Clone, Copy, Default)]
pub struct CriticalPath {
    pub requests: usize,
    pub complete_to_granted: (f64, f64),
    pub granted_to_sent: (f64, f64),
    pub complete_to_sent: (f64, f64),
}

/// Seconds since midnight of a tracing-subscriber timestamp
/// (`2026-12-05T16:20:01.123456Z`).
fn seconds_of(stamp: &str) -> Option<f64> {
    let time = stamp.split_once('T')?.1.trim_end_matches('Z');
    let mut parts = time.split(':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}

fn median_mean(mut v: Vec<f64>) -> (f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v.iter().sum::<f64>() / v.len() as f64)
}

/// Reads the `crawlpipe::critical_path` trace events of a crawl's log (one
/// host, one request in flight): for every request after the first, the
/// gaps from the previous response's completion to its grant and send.
pub fn critical_path(log: &str) -> CriticalPath {
    let mut events: Vec<(f64, u8)> = log
        .lines()
        .filter_map(|l| {
            let kind = if l.contains("response complete") {
                0
            } else if l.contains("gate granted") {
                1
            } else if l.contains("request sent") {
                2
            } else {
                return None;
            };
            Some((seconds_of(l.split_whitespace().next()?)?, kind))
        })
        .collect();
    events.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut complete, mut granted) = (None::<f64>, None::<f64>);
    let (mut to_granted, mut to_sent, mut whole) = (Vec::new(), Vec::new(), Vec::new());
    for (at, kind) in events {
        match kind {
            0 => complete = Some(at),
            1 => granted = Some(at),
            _ => {
                if let (Some(c), Some(g)) = (complete, granted)
                    && c <= g
                {
                    to_granted.push((g - c) * 1e6);
                    to_sent.push((at - g) * 1e6);
                    whole.push((at - c) * 1e6);
                }
                complete = None;
            }
        }
    }
    CriticalPath {
        requests: whole.len(),
        complete_to_granted: median_mean(to_granted),
        granted_to_sent: median_mean(to_sent),
        complete_to_sent: median_mean(whole),
    }
}

/// `compare critical-path [ITEMS] [CRAWL_BINARY…]`: each binary crawls the
/// six collections `rounds` times (interleaved) with
/// `RUST_LOG=crawlpipe::critical_path=trace`; prints the per-request
/// critical path read from its log (the trace's own formatting included).
///
/// # Panics
///
/// When a crawl fails.
pub fn compare_critical_path(items: usize, binaries: &[String], rounds: usize) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt.block_on(server(items));
    let base = server.url("");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut runs: Vec<Vec<CriticalPath>> = vec![Vec::new(); binaries.len()];
    for round in 0..rounds {
        for (b, binary) in binaries.iter().enumerate() {
            let db = dir.path().join(format!("traced{b}-{round}.db"));
            let config = dir.path().join(format!("traced{b}-{round}.toml"));
            std::fs::write(&config, six_collections_toml(&base, &db)).expect("config");
            let out = Command::new(binary)
                .arg(&config)
                .arg("--quiet")
                .env("RUST_LOG", "crawlpipe::critical_path=trace")
                .output()
                .expect("crawl runs");
            assert!(out.status.success(), "{binary} failed");
            runs[b].push(critical_path(&String::from_utf8_lossy(&out.stderr)));
        }
    }
    rt.block_on(server.shutdown());
    println!(
        "per-request critical path, six collections on one host, 1 in flight, {items} items each (µs, median / mean of each run):"
    );
    for (b, binary) in binaries.iter().enumerate() {
        println!("  crawl {binary}:");
        for p in &runs[b] {
            println!(
                "    {} requests: response complete -> gate granted {:.1} / {:.1}; granted -> request sent {:.1} / {:.1}; complete -> sent {:.1} / {:.1}",
                p.requests,
                p.complete_to_granted.0,
                p.complete_to_granted.1,
                p.granted_to_sent.0,
                p.granted_to_sent.1,
                p.complete_to_sent.0,
                p.complete_to_sent.1
            );
        }
    }
}
