//! The `crawl` binary's parts: config file, runner wiring, progress, demo,
//! and stderr output that never blocks.

pub mod app;
mod app_error;
pub mod collections;
pub mod config;
#[cfg(feature = "demo")]
pub mod demo;
mod fanout;
pub mod import;
pub mod log_fields;
pub mod progress;
pub mod replay;
pub mod service;
pub mod stderr;
mod tree;
