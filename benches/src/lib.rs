//! Shared workloads for the criterion benches and the `compare` binary.
//!
//! Each workload runs the same work through the framework and through a
//! hand-written baseline, so their ratio can be measured side by side in one run.
#![allow(missing_docs)]

pub mod child_rss;
pub mod cluster_workload;
pub mod core_workload;
pub mod crawl_workload;
pub mod fanout_workload;
pub mod html_corpus;
pub mod minimal_crawl;
pub mod paged_crawl;
pub mod pg_workload;
pub mod runner_workload;
pub mod service_workload;
