//! What `compare` prints with its figures so that runs can be compared
//! honestly: the commit the binary was built from and the machine's load
//! average at the start and the end.

/// The commit the bench binaries were built from (`+dirty` when tracked
/// files had uncommitted changes), or `unknown` outside a git checkout.
pub const COMMIT: &str = env!("CRAWLPIPE_BENCH_COMMIT");

/// The 1, 5 and 15 minute load averages from `/proc/loadavg`, as written
/// there (`?` where it cannot be read).
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "?".to_owned())
}

/// The line printed before a workload's figures.
pub fn start_line(workload: &str) -> String {
    format!(
        "compare {workload}: commit {COMMIT}, {} cores, load average {} at start",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    )
}

/// The line printed after a workload's figures.
pub fn end_line(workload: &str) -> String {
    format!("compare {workload}: load average {} at end", load_average())
}
