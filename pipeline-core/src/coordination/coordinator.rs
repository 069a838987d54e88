//! Coordination between processes crawling one set of collections: who
//! runs which collection now, and when each is due again.
//!
//! A runner without a coordinator decides alone (one process owns every
//! collection it was given). A runner built with
//! [`RunnerBuilder::coordinator`](crate::runner::RunnerBuilder::coordinator) asks it
//! before every run: it [claims](Coordinator::claim) a lease on the
//! collection (at most one holder at a time, a larger [`Fence`] token per
//! claim), [renews](Coordinator::renew) it every third of its duration while
//! the run lasts, and [releases](Coordinator::release) it at the end with the
//! time of the next run. A lease that cannot be renewed before it expires is
//! lost: the local pipeline is cancelled, and its sink's fence check refuses
//! anything it still tries to commit. The `sinks` crate has the PostgreSQL
//! implementation.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::{BoxError, Fence};

/// Shares collections between processes: who runs which collection now, and
/// when each is due again.
///
/// A runner built with
/// [`RunnerBuilder::coordinator`](crate::runner::RunnerBuilder::coordinator) asks it
/// before every run: it [claims](Coordinator::claim) a lease on the
/// collection (at most one holder at a time, a larger [`Fence`] token per
/// claim), [renews](Coordinator::renew) it every third of its duration while
/// the run lasts, and [releases](Coordinator::release) it at the end with the
/// time of the next run. A lease that cannot be renewed before it expires is
/// lost: the local pipeline is cancelled, and its sink's fence check refuses
/// anything it still tries to commit. The `sinks` crate has the PostgreSQL
/// implementation.
///
/// Times are the coordinator's clock (the database's, for PostgreSQL), so
/// processes on machines whose clocks differ still agree on expiry.
#[async_trait]
pub trait Coordinator: std::fmt::Debug + Send + Sync + 'static {
    /// This process's name in the cluster (shown as a collection's owner).
    fn worker(&self) -> &str;

    /// How long a lease lasts without renewal.
    fn lease_duration(&self) -> Duration;

    /// Claims `collection` if nobody holds a live lease on it and it is due
    /// as `due` says.
    ///
    /// # Errors
    ///
    /// The coordinator could not be reached; the runner tries again later.
    async fn claim(&self, collection: &str, due: Due) -> Result<Claim, BoxError>;

    /// Extends `lease` by the lease duration from now. `Ok(false)` when the
    /// lease is no longer this process's (it expired and was claimed).
    ///
    /// # Errors
    ///
    /// The coordinator could not be reached; the lease still runs until it expires.
    async fn renew(&self, lease: &Lease) -> Result<bool, BoxError>;

    /// Ends `lease`, recording how the run ended.
    ///
    /// # Errors
    ///
    /// The coordinator could not be reached; the lease then expires by itself.
    async fn release(&self, lease: &Lease, end: RunEnd) -> Result<(), BoxError>;

    /// Every collection's lease, for status pages.
    ///
    /// # Errors
    ///
    /// The coordinator could not be reached.
    async fn leases(&self) -> Result<Vec<LeaseInfo>, BoxError>;

    /// How many processes have shown a sign of life within a lease duration.
    ///
    /// # Errors
    ///
    /// The coordinator could not be reached.
    async fn workers(&self) -> Result<u64, BoxError>;
}

/// When a collection is due, for [`Coordinator::claim`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Due {
    /// A service's run: when its next run time (set by the last release)
    /// has passed, or it has none.
    Scheduled,
    /// A one-shot run: unless a run of it ended in the current round
    /// (another process of this one-shot crawl did it). The PostgreSQL
    /// coordinator's round began when the earliest live process started.
    Once,
    /// Requested now: due whatever the schedule.
    Now,
}

/// The answer to [`Coordinator::claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Claim {
    /// This process holds the collection now.
    Claimed(Lease),
    /// Not claimed: another process holds it, or it is not due.
    Refused {
        /// The process holding it, if one does.
        owner: Option<String>,
        /// Whether a run of it ended (completed or failed) in the current
        /// one-shot round ([`Due::Once`]): a one-shot process is then done with it.
        ended_since_start: bool,
        /// When it is due next, if it is scheduled.
        next_run_at: Option<SystemTime>,
    },
}

/// A held lease on one collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The collection.
    pub collection: Arc<str>,
    /// The claim's fencing token, for the sink.
    pub fence: Fence,
}

/// How a run ended, for [`Coordinator::release`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunEnd {
    /// It completed or failed for good in a service: due again after
    /// `next_run_in` (`None`: only when requested).
    Ended {
        /// Time until the next scheduled run.
        next_run_in: Option<Duration>,
    },
    /// It completed or failed for good in a one-shot run: recorded as
    /// ended, its schedule left as it was.
    Once,
    /// It was stopped unfinished (shutdown, removal): due again at once,
    /// so another process resumes it.
    Stopped,
}

/// One collection's lease as the coordinator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeaseInfo {
    /// The collection.
    pub collection: String,
    /// The process holding a live lease, if any.
    pub owner: Option<String>,
    /// When the lease expires unless renewed.
    pub lease_until: Option<SystemTime>,
    /// When it is due next, if scheduled.
    pub next_run_at: Option<SystemTime>,
}

impl LeaseInfo {
    /// A lease row: `owner` holds `collection` until `lease_until`.
    pub fn new(
        collection: impl Into<String>,
        owner: Option<String>,
        lease_until: Option<SystemTime>,
        next_run_at: Option<SystemTime>,
    ) -> Self {
        Self {
            collection: collection.into(),
            owner,
            lease_until,
            next_run_at,
        }
    }
}
