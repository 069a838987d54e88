//! Politeness, retry and circuit-breaker policies, shared by every pipeline.
//!
//! These are plain values and shared objects that any source can use; the
//! paged driver applies the [`RetryPolicy`] around every `fetch`. Sources
//! that talk to a host wait at its [`HostGate`] (from a process-wide
//! [`HostGates`] registry) and ask its [`CircuitBreaker`] (from [`Breakers`]).

mod breaker;
mod gate_config;
mod host_gate;
mod host_slots;
mod retry;

pub use self::breaker::{BreakerCall, BreakerConfig, BreakerState, Breakers, CircuitBreaker};
pub use self::gate_config::{AutoThrottle, GateConfig};
pub use self::host_gate::{GatePermit, HostGate, HostGates};
pub use self::host_slots::HostSlots;
pub use self::retry::{Jitter, RetryPolicy};
