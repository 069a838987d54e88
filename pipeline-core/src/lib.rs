//! The engine of a backpressured pipeline framework for remote collections.
//!
//! A *collection* is one remote list of items (a paginated API, a scraped
//! site). Crawling it is one [`Pipeline`]: a source ([`Paged`], driven page by
//! page by the framework, or a free-running [`PushSource`]), per-item
//! transforms (`map`, `filter`, `try_map`, `then`, [`Transform`]), and a
//! [`Sink`], joined by bounded edges whose capacity is counted in items, so a
//! slow sink slows the source instead of filling memory.
//!
//! - **Failures are in-band**: a source that cannot go on sends
//!   [`Control::Failed`]; everything sent before it is still written, and the
//!   [`Report`] says where to resume. [`PipelineHandle::join`] never panics on
//!   a stage's error.
//! - **Resume is exact**: a [`Control::Checkpoint`] follows the items it
//!   covers; a sink commits the cursor with them and hands it back in
//!   [`Sink::open`], so the next run starts right after what is durable.
//! - **Politeness is shared**: [`policy`] has the per-host gate (spacing,
//!   in-flight cap, `Retry-After`), the retry backoff and the circuit breaker
//!   every pipeline of a process shares.
//! - **Many collections**: the [`runner`] runs them a few at a time, resumes
//!   failed ones, re-runs them on a schedule, and with a
//!   [`Coordinator`](runner::Coordinator) shares them between processes.
//!
//! # Examples
//!
//! A `Paged` source of your own, a transform, and a sink:
//!
//! ```
//! use crawlpipe_core::{async_trait, Cursor, FetchError, Page, Paged, Pipeline};
//! use crawlpipe_core::testkit::CollectSink;
//!
//! /// Numbers 0..30, ten a page; the cursor is the next number.
//! struct Numbers;
//!
//! #[async_trait]
//! impl Paged for Numbers {
//!     type Item = u64;
//!     async fn fetch(&mut self, cursor: Option<&Cursor>) -> Result<Page<u64>, FetchError> {
//!         let start: u64 = match cursor {
//!             Some(c) => c.as_str().parse().map_err(|_| FetchError::invalid("bad cursor"))?,
//!             None => 0,
//!         };
//!         let next = (start + 10 < 30).then(|| Cursor::new((start + 10).to_string()));
//!         Ok(Page::new((start..start + 10).collect(), next))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sink = CollectSink::new();
//! let collected = sink.handle();
//! let report = Pipeline::paged("numbers", Numbers) // the name is the collection
//!     .filter(|n| n % 2 == 0)
//!     .map(|n| n * 10)
//!     .capacity(64) // items in flight per edge
//!     .sink(sink)
//!     .spawn()?
//!     .join()
//!     .await;
//! assert!(report.outcome.is_completed());
//! assert_eq!(report.progress.pages, 3);
//! assert_eq!(collected.items().len(), 15);
//! # Ok(())
//! # }
//! ```
//!
//! The `sources` crate has HTTP JSON and HTML sources, the `sinks` crate
//! SQLite, PostgreSQL and JSON Lines sinks.
//!
//! # Layout
//!
//! - events and data: [`Event`], [`Control`], [`Cursor`], [`Failure`],
//!   [`Outcome`], [`Report`], [`Status`], [`RawItem`];
//! - stages: [`Paged`], [`PushSource`] with its [`Emitter`], [`Sink`],
//!   [`Transform`];
//! - building and running: [`Pipeline`], [`Runnable`], [`PipelineHandle`],
//!   [`PipelineStream`];
//! - [`policy`]: retry, per-host gates, circuit breakers, and their shared
//!   (cluster) forms; [`runner`]: many collections, schedules, coordination;
//!   [`history`]: run records, freshness and alerts;
//! - `serve` (feature `serve`): `/metrics`, `/status` and the status page;
//!   `testkit` (feature `test-util`): scripted sources and collecting sinks.
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

mod attempt_start;
mod checkpoint;
pub mod coordination;
mod cursor;
mod driver;
mod edge;
mod error;
mod error_detail;
mod event;
mod handle;
pub mod history;
mod meters;
mod outcome;
mod outside_text;
mod paged;
mod pipeline;
mod pipeline_config;
pub mod policy;
mod progress;
mod push_source;
mod raw_item;
mod runnable;
pub mod runner;
#[cfg(feature = "serve")]
pub mod serve;
mod shared;
mod sink;
mod stage;
mod status;
mod stream;
#[cfg(feature = "test-util")]
pub mod testkit;
mod transform;
mod validators;

pub use self::checkpoint::{Checkpoint, CheckpointStore, MemoryCheckpointStore, StateRecord};
pub use self::coordination::Fence;
pub use self::cursor::Cursor;
pub use self::error::{
    BoxError, BuildError, CheckpointError, FetchError, FetchErrorKind, SharedError, SinkError, StageError,
};
pub use self::error_detail::ErrorDetail;
pub use self::event::{Control, Event, Failure};
pub use self::handle::PipelineHandle;
pub use self::outcome::{Outcome, Report};
pub use self::outside_text::{OutsideText, escape_outside, is_control};
pub use self::paged::{Page, Paged};
pub use self::pipeline::Pipeline;
pub use self::progress::Progress;
pub use self::push_source::{Disconnected, Emitter, PushSource};
pub use self::raw_item::RawItem;
pub use self::runnable::Runnable;
pub use self::sink::{Sink, SinkContext};
pub use self::status::{State, Status};
pub use self::stream::PipelineStream;
pub use self::transform::{ItemErrorPolicy, Transform};
pub use self::validators::{PageEnd, PageValidator, Validation, Validators};
pub use async_trait::async_trait;
pub use tokio_util::sync::CancellationToken;
