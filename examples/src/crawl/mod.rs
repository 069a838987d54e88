//! The `crawl` binary's parts: config file, runner wiring, progress, demo.

pub mod app;
pub mod config;
pub mod demo;
pub mod progress;
