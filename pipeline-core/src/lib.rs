//! The engine of a backpressured pipeline framework for remote collections.
//!
//! A pipeline is a source ([`Paged`] or [`PushSource`]), per-item transforms, and a
//! [`Sink`], joined by bounded edges counted in items. Failures travel in-band
//! as [`Control::Failed`]: everything sent before a failure is still written,
//! and the [`Report`] says where to resume. See [`Pipeline`] to start.
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

mod checkpoint;
mod cursor;
mod driver;
mod edge;
mod error;
mod event;
mod fence;
mod handle;
mod meters;
mod outcome;
mod outside_text;
mod paged;
mod pipeline;
mod pipeline_config;
pub mod policy;
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

pub use self::checkpoint::{Checkpoint, CheckpointStore, MemoryCheckpointStore};
pub use self::cursor::Cursor;
pub use self::error::{
    BoxError, BuildError, CheckpointError, FetchError, FetchErrorKind, SharedError, SinkError, StageError,
};
pub use self::event::{Control, Event, Failure};
pub use self::fence::Fence;
pub use self::handle::PipelineHandle;
pub use self::outcome::{Outcome, Report};
pub use self::outside_text::{OutsideText, escape_outside, is_control};
pub use self::paged::{Page, Paged};
pub use self::pipeline::Pipeline;
pub use self::push_source::{Disconnected, Emitter, PushSource};
pub use self::raw_item::RawItem;
pub use self::runnable::Runnable;
pub use self::sink::{Sink, SinkContext};
pub use self::status::{State, Status};
pub use self::stream::PipelineStream;
pub use self::transform::{ItemErrorPolicy, Transform};
pub use tokio_util::sync::CancellationToken;
