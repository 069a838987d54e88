//! Shared workloads for the criterion benches and the `compare` binary.
//!
//! Each workload runs the same work through the framework and through a
//! hand-written baseline, so their ratio can be measured side by side in one run.
#![allow(missing_docs)]

/// Every bench binary (the criterion benches, `compare`, `crawl_profile`)
/// allocates with mimalloc, the framework and its baseline alike: with
/// glibc's malloc, `Value` trees that outlive their page (batched for the
/// sink) made allocation dearer for the framework than for a loop that
/// drops each page at once. `--no-default-features` measures with glibc.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod ceiling_split;
pub mod ceiling_workload;
pub mod child_rss;
pub mod cluster_workload;
pub mod core_workload;
pub mod crawl_workload;
pub mod critical_path_workload;
pub mod fanout_workload;
pub mod feed_workload;
pub mod html_corpus;
pub mod minimal_crawl;
pub mod paged_crawl;
pub mod pg_workload;
pub mod run_info;
pub mod runner_workload;
pub mod scrape_workload;
pub mod service_workload;
pub mod sqlite_pool;
pub mod tables_floor;
pub mod tables_workload;
