//! The tasks of a running pipeline, one file each: the [`Paged`](crate::Paged)
//! driver, the [`PushSource`](crate::PushSource) driver, the transform chain,
//! and the sink driver. Each goes through [`supervise`] to turn a panic into
//! `StageError::Panicked` and a fetch error into a failure.

mod chain;
mod paged;
mod push;
mod sink;
mod supervise;

pub(crate) use self::chain::run_chain;
pub(crate) use self::paged::{PagedConfig, run_paged};
pub(crate) use self::push::run_push;
pub(crate) use self::sink::{BatchConfig, finish_status, run_sink};
pub(crate) use self::supervise::{catch_panic, panic_message};
