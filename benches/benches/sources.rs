//! sources benchmarks.

fn main() {}
