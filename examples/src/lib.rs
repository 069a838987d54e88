//! The `crawl` binary's library and the example programs' shared parts.
//!
//! `crawl CONFIG.toml` crawls every collection of a TOML file into a
//! database; `crawl --demo` runs the built-in demo against a local mock API.
//! See `docs/configuration.md` for the configuration reference.
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

pub mod crawl;

/// The README's Rust examples, compiled as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// The Rust guide's examples, compiled as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../docs/rust-guide.md")]
pub struct RustGuideDoctests;
