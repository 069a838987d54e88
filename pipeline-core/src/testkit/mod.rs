//! Scripted sources and a collecting sink for tests (feature `test-util`).
//!
//! Use them to test your own transforms and sinks without a network:
//! [`ScriptedPaged`] serves pages with scripted faults and delays and logs
//! every cursor it was asked for; [`CollectSink`] keeps what it was given.

mod collect;
mod scripted;

pub use self::collect::{CollectHandle, CollectSink, Collected};
pub use self::scripted::{Fault, FetchLog, ScriptedPaged};
