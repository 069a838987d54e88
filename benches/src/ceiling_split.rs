//! Where one `compare ceiling` run's wall time and CPU go: the split of a
//! variant's wall time read from the mock server's request log, and the CPU
//! of the client (the child process) and of the server (this process) per
//! request.
//!
//! - start-up: from spawning the child to the first request's arrival
//!   (process start, runtime, config, database and tables);
//! - steady state: from the first arrival to the last (its mean gap is the
//!   whole cycle of a request as the server sees it);
//! - tail: from the last arrival to the child's exit (the last answer, the
//!   last commits, shutdown).
#![allow(clippy::print_stdout)]

use std::time::Duration;

use nix::sys::resource::{UsageWho, getrusage};

use crate::crawl_workload::Measured;

/// One variant's run, split.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunSplit {
    pub wall: Duration,
    pub startup: Duration,
    pub steady: Duration,
    pub tail: Duration,
    pub requests: usize,
    /// Mean gap between two arrivals in the steady state.
    pub mean_gap: Duration,
    /// The client's CPU (user + system of the child process).
    pub client_cpu: Duration,
    /// This process's CPU over the run: the mock server's work.
    pub server_cpu: Duration,
}

/// User + system CPU of this process so far.
///
/// # Panics
///
/// When `getrusage` fails.
pub fn self_cpu() -> Duration {
    let usage = getrusage(UsageWho::RUSAGE_SELF).expect("getrusage");
    let tv = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
    };
    tv(usage.user_time()) + tv(usage.system_time())
}

/// Splits a run spawned at `spawned` and ended at `ended` (both since the
/// server started, as `arrivals` are) whose requests arrived at `arrivals`.
pub fn split(
    spawned: Duration,
    ended: Duration,
    arrivals: &[Duration],
    measured: Measured,
    server_cpu: Duration,
) -> RunSplit {
    let (first, last) = match (arrivals.first(), arrivals.last()) {
        (Some(f), Some(l)) => (*f, *l),
        _ => (ended, ended),
    };
    let steady = last.saturating_sub(first);
    let gaps = u32::try_from(arrivals.len().saturating_sub(1))
        .unwrap_or(u32::MAX)
        .max(1);
    RunSplit {
        wall: measured.wall,
        startup: first.saturating_sub(spawned),
        steady,
        tail: ended.saturating_sub(last),
        requests: arrivals.len(),
        mean_gap: steady / gaps,
        client_cpu: measured.cpu,
        server_cpu,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Medians over runs: (start-up ms, steady ms, tail ms, mean gap µs,
/// client CPU µs per request, server CPU µs per request).
pub fn medians(splits: &[RunSplit]) -> [f64; 6] {
    let per_request = |d: Duration, s: &RunSplit| d.as_secs_f64() * 1e6 / s.requests.max(1) as f64;
    [
        median(splits.iter().map(|s| s.startup.as_secs_f64() * 1e3).collect()),
        median(splits.iter().map(|s| s.steady.as_secs_f64() * 1e3).collect()),
        median(splits.iter().map(|s| s.tail.as_secs_f64() * 1e3).collect()),
        median(splits.iter().map(|s| s.mean_gap.as_secs_f64() * 1e6).collect()),
        median(splits.iter().map(|s| per_request(s.client_cpu, s)).collect()),
        median(splits.iter().map(|s| per_request(s.server_cpu, s)).collect()),
    ]
}

/// Prints one variant's split (medians over its runs).
pub fn print_split(name: &str, splits: &[RunSplit]) {
    if splits.is_empty() {
        return;
    }
    let [startup, steady, tail, gap, client, server] = medians(splits);
    println!(
        "    {name}: start-up {startup:.1} ms, steady {steady:.1} ms (mean gap {gap:.1} µs), tail {tail:.1} ms; \
         CPU per request: client {client:.1} µs, server {server:.1} µs"
    );
}

/// Prints whether the crawl's goal is bounded by the machine's CPU: at
/// 0.9× the ceiling a request may take `W / 0.9` of wall time (`W` the
/// ceiling's wall time per request), so `cores` cores offer `cores × W / 0.9`
/// of CPU per request for the crawl and the server together.
pub fn print_cpu_bound(crawl: &[RunSplit], ceiling_wall_per_request: Duration, cores: usize) {
    if crawl.is_empty() {
        return;
    }
    let [.., client, server] = medians(crawl);
    let wall = ceiling_wall_per_request.as_secs_f64() * 1e6;
    let budget = cores as f64 * wall / 0.9;
    println!(
        "    CPU per request: crawl {client:.1} + server {server:.1} = {:.1} µs; ceiling wall {wall:.1} µs per request, \
         {cores} x that = {:.1} µs, at 0.9x: {budget:.1} µs -> {}",
        client + server,
        cores as f64 * wall,
        if client + server > budget {
            "0.9x is bounded by CPU on this machine"
        } else {
            "CPU allows 0.9x; the serial critical path bounds it"
        }
    );
}

/// Runs `command` (a client of `server`) to its end with
/// [`measure`](crate::crawl_workload::measure), and splits its run.
///
/// # Panics
///
/// As [`measure`](crate::crawl_workload::measure).
pub fn measure_split(
    server: &crawlpipe_sources::mock::MockServer,
    command: &mut std::process::Command,
) -> (Measured, RunSplit) {
    let from = server.request_count() as usize;
    // The request log's times are on the monotonic clock, so are these: the
    // wall clock may be stepped while a run lasts.
    let cpu = self_cpu();
    let spawned = server.elapsed();
    let m = crate::crawl_workload::measure(command);
    let ended = server.elapsed();
    let server_cpu = self_cpu().saturating_sub(cpu);
    let arrivals: Vec<Duration> = server.request_times()[from..].iter().map(|(t, _)| *t).collect();
    (m, split(spawned, ended, &arrivals, m, server_cpu))
}
