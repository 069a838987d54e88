//! Example programs and, soon, the `crawl` binary.
