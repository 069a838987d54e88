//! A fencing token: proof that a collection's lease is still held, for a
//! sink to check in the same transaction as the page it writes.

use std::sync::Arc;
use std::time::Duration;

/// A lease's fencing token, handed to the sink through
/// [`SinkContext::fence`](crate::SinkContext::fence) when a runner in a
/// cluster runs the collection.
///
/// Every claim of a collection's lease gets a larger token. A sink with
/// transactions checks, in the transaction that writes a batch and its
/// cursor, that the token is still the current one, and commits nothing
/// when it is not ([`SinkError::Fenced`](crate::SinkError::Fenced)): a
/// process that lost its lease while paused can never write over the new
/// owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    token: i64,
    leases: Arc<str>,
    lease: Option<Duration>,
}

impl Fence {
    /// A token issued by a coordinator keeping its leases in `leases` (for
    /// the PostgreSQL coordinator, the lease table's name), so a sink on the
    /// same database knows where to check it.
    pub fn new(token: i64, leases: impl Into<Arc<str>>) -> Self {
        Self {
            token,
            leases: leases.into(),
            lease: None,
        }
    }

    /// The same token, for a lease of `duration`: a sink may bound how long
    /// a transaction of it stays open (a paused process must not keep
    /// holding locks the next owner needs).
    #[must_use]
    pub fn with_lease(mut self, duration: Duration) -> Self {
        self.lease = Some(duration);
        self
    }

    /// The lease's duration, when the coordinator gave it.
    pub fn lease(&self) -> Option<Duration> {
        self.lease
    }

    /// The token: larger for every new claim of the collection.
    pub fn token(&self) -> i64 {
        self.token
    }

    /// Where the coordinator keeps its leases.
    pub fn leases(&self) -> &str {
        &self.leases
    }
}
