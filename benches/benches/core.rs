//! core benchmarks.

fn main() {}
