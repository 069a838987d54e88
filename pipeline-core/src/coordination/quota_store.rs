//! Request quotas across processes: every process that sends the same
//! credential to a host paces on one budget kept in a shared store (a
//! PostgreSQL row, in the `sinks` crate).
//!
//! A [`QuotaBudget`](crate::policy::QuotaBudget) made by
//! [`QuotaBudgets::shared`](crate::policy::QuotaBudgets::shared) asks the
//! store whether each request may start, once it has seen the server
//! announce a budget: the store applies [`QuotaState::take`] to the row
//! under a lock, so the pacing and the count of requests started hold for
//! every process together, and each answer's window is merged into the row
//! with [`QuotaState::observe`]. Times are wall-clock: servers announce
//! resets in wall-clock time too.

use std::time::SystemTime;

use async_trait::async_trait;

use crate::BoxError;
use crate::policy::{QuotaState, QuotaWindow, Take};

/// A store of request budgets shared by processes, one per host and budget
/// key (a digest of the credential, never the credential).
#[async_trait]
pub trait QuotaStore: std::fmt::Debug + Send + Sync + 'static {
    /// Applies [`QuotaState::take`] at `now` to the budget's stored state
    /// (a budget not stored yet lets the request go), atomically.
    ///
    /// # Errors
    ///
    /// The store could not be reached; the budget then paces this
    /// process's requests alone.
    async fn take(&self, host: &str, budget: &str, now: SystemTime) -> Result<Take, BoxError>;

    /// Merges `window` into the budget's stored state with
    /// [`QuotaState::observe`] at `now`.
    ///
    /// # Errors
    ///
    /// The store could not be reached.
    async fn observe(
        &self,
        host: &str,
        budget: &str,
        window: QuotaWindow,
        now: SystemTime,
    ) -> Result<(), BoxError>;

    /// The budget's stored state, if any.
    ///
    /// # Errors
    ///
    /// The store could not be reached.
    async fn state(&self, host: &str, budget: &str) -> Result<Option<QuotaState>, BoxError>;
}
