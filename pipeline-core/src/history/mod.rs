//! Run history, freshness and alerts: what a service remembers of its
//! collections' runs once they have ended.
//!
//! When a run of a top-level collection ends, the runner writes a
//! [`RunRecord`] to its [`RunHistory`] (by default a
//! [`MemoryRunHistory`]; `crawlpipe_sinks::SqlRunHistory` keeps them in
//! the table `pipeline_runs` next to the data, shared by the processes of a
//! cluster), keeping the newest `history` runs per collection. A child
//! collection gets one record per run of its feeder, its children summed.
//!
//! The runner's board keeps each collection's last success, last run and
//! twenty most recent runs, so `GET /status` never queries the history; a
//! collection whose last success is older than its `stale_after` is
//! *stale* (`/status`, `pipeline_collection_stale`).
//!
//! [`Alerts`] send an [`AlertEvent`] through an [`AlertSender`] (a webhook:
//! `crawlpipe_sources::WebhookSender`) when a collection fails, recovers or
//! becomes stale.

mod alert;
mod alerts;
mod memory;
mod record;
mod store;

pub use self::alert::{AlertEvent, AlertKind, AlertSender};
pub use self::alerts::{Alerts, DEFAULT_QUEUE, DEFAULT_QUIET_PERIOD};
pub use self::memory::MemoryRunHistory;
pub(crate) use self::record::optional_rfc3339;
pub use self::record::{LastRun, RecentRun, RunOutcome, RunRecord, format_time, parse_time};
pub use self::store::RunHistory;

/// Runs each collection keeps in the history by default.
pub const DEFAULT_KEEP: usize = 100;
/// Runs each collection keeps on the runner's board for `/status`.
pub const RECENT_RUNS: usize = 20;
