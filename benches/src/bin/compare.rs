//! Prints side-by-side ratios measured in one run.
//!
//! `compare core [N]`: framework vs per-item mpsc chain vs plain loop, N items (default 10^7).
//! `compare memory`: peak RSS of a 10^6-item and a 10^4-item run with a slow sink,
//! each in a fresh child process.
#![allow(clippy::print_stdout)]

use std::process::Command;
use std::time::{Duration, Instant};

use benches::core_workload::{mpsc_chain, pipeline, plain_loop, slow_sink_run};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("core") | None => core(args.get(1).and_then(|n| n.parse().ok()).unwrap_or(10_000_000)),
        Some("memory") => memory(),
        Some("memory-child") => memory_child(args.get(1).and_then(|n| n.parse().ok()).unwrap_or(10_000)),
        Some(other) => {
            eprintln!("unknown workload {other:?}; use `core [N]` or `memory`");
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
    println!(
        "  pipeline (chunked edges): {:>8.1} ms  {:>7.1} M items/s",
        ms(best[0]),
        rate(best[0])
    );
    println!(
        "  per-item mpsc chain:      {:>8.1} ms  {:>7.1} M items/s",
        ms(best[1]),
        rate(best[1])
    );
    println!(
        "  plain loop (the limit):   {:>8.1} ms  {:>7.1} M items/s",
        ms(best[2]),
        rate(best[2])
    );
    println!(
        "  ratio pipeline / mpsc chain: {:.2}x (goal >= 1.5x)",
        best[1].as_secs_f64() / best[0].as_secs_f64()
    );
    println!(
        "  ratio pipeline / plain loop: {:.2}x",
        best[2].as_secs_f64() / best[0].as_secs_f64()
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn memory() {
    let exe = std::env::current_exe().expect("own path");
    let peak = |n: u64| -> u64 {
        let out = Command::new(&exe)
            .args(["memory-child", &n.to_string()])
            .output()
            .expect("child runs");
        assert!(
            out.status.success(),
            "child failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("child prints its peak RSS in KiB")
    };
    let small = peak(10_000);
    let large = peak(1_000_000);
    println!("peak RSS with a slow sink (1 ms per batch of 1000):");
    println!("  10^4 items: {:.1} MiB", small as f64 / 1024.0);
    println!("  10^6 items: {:.1} MiB", large as f64 / 1024.0);
    println!(
        "  difference: {:+.1} MiB (goal <= +10 MiB)",
        (large as f64 - small as f64) / 1024.0
    );
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

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
