//! Politeness, retry and circuit-breaker policies, shared by every pipeline.
//!
//! These are plain values and shared objects that any source can use; the
//! paged driver applies the [`RetryPolicy`] around every `fetch`. Sources
//! that talk to a host wait at its [`HostGate`] (from a process-wide
//! [`HostGates`] registry) and ask its [`CircuitBreaker`] (from [`Breakers`]).
//! Requests also wait for the [`QuotaBudget`] of their credential (from
//! [`QuotaBudgets`]): the budget the server announces in its rate-limit
//! headers, paced to last until its reset ([`quota_state`] has the rule).

mod breaker;
mod gate_config;
mod gate_permit;
mod host_gate;
mod host_gates;
mod quota_budget;
mod quota_budgets;
pub mod quota_state;
mod retry;

pub use self::breaker::{BreakerCall, BreakerConfig, BreakerState, Breakers, CircuitBreaker};
pub use self::gate_config::{AutoThrottle, GateConfig};
pub use self::gate_permit::GatePermit;
pub use self::host_gate::HostGate;
pub use self::host_gates::HostGates;
pub use self::quota_budget::{QuotaBudget, QuotaStatus};
pub use self::quota_budgets::QuotaBudgets;
pub use self::quota_state::{QuotaState, QuotaWindow, Take};
pub use self::retry::{Jitter, RetryPolicy};
/// Re-exported from [`coordination`](crate::coordination), where the shared forms live.
pub use crate::coordination::{HostSlots, QuotaStore};
