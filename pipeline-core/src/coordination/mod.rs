//! Coordination between processes that crawl one set of collections: the
//! [`Coordinator`] trait (leases on collections, each claim with a larger
//! [`Fence`] token that the sink checks in its own transaction), and the
//! shared politeness state a store such as PostgreSQL holds for every
//! process: [`HostSlots`] (request starts reserved ahead, in-flight tokens,
//! `Retry-After` pauses, open breakers) and [`QuotaStore`] (request budgets
//! per credential).
//!
//! Without a coordinator a runner decides alone, and the politeness state
//! is the process's own ([`policy`](crate::policy)). The `sinks` crate has
//! the PostgreSQL implementations of both traits.

mod coordinator;
mod fence;
pub(crate) mod host_slots;
mod quota_store;
pub(crate) mod shared_breaker;
pub(crate) mod shared_in_flight;
#[cfg(test)]
mod shared_tests;

pub use self::coordinator::{Claim, Coordinator, Due, Lease, LeaseInfo, RunEnd};
pub use self::fence::Fence;
pub use self::host_slots::HostSlots;
pub use self::quota_store::QuotaStore;
