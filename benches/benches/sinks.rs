//! sinks benchmarks.

fn main() {}
