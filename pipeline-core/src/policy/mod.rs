//! Politeness, retry and circuit-breaker policies, shared by every pipeline.
//!
//! These are plain values and shared objects that any source can use; the
//! paged driver applies the [`RetryPolicy`] around every `fetch`. Sources
//! that talk to a host wait at its [`HostGate`] (from a process-wide
//! [`HostGates`] registry) and ask its [`CircuitBreaker`] (from [`Breakers`]).

mod breaker;
mod gate_config;
mod gate_permit;
mod host_gate;
mod host_gates;
mod retry;

pub use self::breaker::{BreakerCall, BreakerConfig, BreakerState, Breakers, CircuitBreaker};
pub use self::gate_config::{AutoThrottle, GateConfig};
pub use self::gate_permit::GatePermit;
pub use self::host_gate::HostGate;
pub use self::host_gates::HostGates;
pub use self::retry::{Jitter, RetryPolicy};
/// Re-exported from [`coordination`](crate::coordination), where the shared forms live.
pub use crate::coordination::HostSlots;
