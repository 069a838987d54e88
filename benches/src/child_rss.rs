//! Peak memory measured in a fresh child process: the `compare` binary runs
//! itself with a `*-child` workload that prints its peak RSS in KiB
//! ([`peak_rss_kib`]).

use std::process::Command;

/// Runs this executable with `args` and returns the peak RSS (KiB) it prints.
///
/// # Panics
///
/// When the child cannot start, fails, or prints no number (a benchmark
/// setup error, reported loudly).
pub fn child_peak_kib(args: &[&str]) -> u64 {
    child_stdout(args)
        .trim()
        .parse()
        .expect("child prints its peak RSS in KiB")
}

/// Runs this executable with `args` and returns what it printed.
///
/// # Panics
///
/// When the child cannot start or fails.
pub fn child_stdout(args: &[&str]) -> String {
    let exe = std::env::current_exe().expect("own path");
    let out = Command::new(&exe).args(args).output().expect("child runs");
    assert!(
        out.status.success(),
        "child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// This process's peak resident set (VmHWM), in KiB (0 where unknown).
pub fn peak_rss_kib() -> u64 {
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
