//! Peak memory measured in a fresh child process: the `compare` binary runs
//! itself with a `*-child` workload that prints its peak RSS in KiB.

use std::process::Command;

/// Runs this executable with `args` and returns the peak RSS (KiB) it prints.
///
/// # Panics
///
/// When the child cannot start, fails, or prints no number (a benchmark
/// setup error, reported loudly).
pub fn child_peak_kib(args: &[&str]) -> u64 {
    let exe = std::env::current_exe().expect("own path");
    let out = Command::new(&exe).args(args).output().expect("child runs");
    assert!(
        out.status.success(),
        "child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("child prints its peak RSS in KiB")
}
