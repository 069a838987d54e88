//! [`GatePermit`]: one request's permission to run on a host, which reports
//! how the request went back to its [`HostGate`].

use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use super::HostGate;
use crate::coordination::shared_in_flight::Token;

/// Permission to run one request on a host; keeps an in-flight slot until dropped.
#[derive(Debug)]
#[must_use = "the permit's in-flight slot is released when it is dropped"]
pub struct GatePermit {
    pub(super) gate: HostGate,
    pub(super) _slot: Option<OwnedSemaphorePermit>,
    /// The cluster-wide in-flight token, in a cluster.
    pub(super) _token: Option<Token>,
    pub(super) started: Instant,
}

impl GatePermit {
    /// When the request started (the permit was granted).
    pub fn started(&self) -> Instant {
        self.started
    }

    /// The request succeeded: feeds its latency to the adaptive delay.
    pub fn success(self) {
        self.gate.observe(self.started.elapsed(), true);
    }

    /// The request failed (an error response or a transport error).
    pub fn failure(self) {
        self.gate.observe(self.started.elapsed(), false);
    }

    /// The server pushed back with `Retry-After` (see [`HostGate::push_back`]).
    pub fn push_back(self, retry_after: Duration) {
        self.gate.push_back(retry_after);
        self.gate.observe(self.started.elapsed(), false);
    }
}
