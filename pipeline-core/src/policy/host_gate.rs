//! Per-host politeness: spacing between request starts, a cap on requests in
//! flight, and push-back from `Retry-After`, shared by every pipeline on a host.
//!
//! Written by hand rather than with `governor`: a GCRA limiter spaces requests
//! but cannot be pushed back to a later instant by a server's `Retry-After`, cap
//! requests in flight, or adapt its interval from observed latency.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::{GateConfig, GatePermit};
use crate::coordination::HostSlots;
use crate::coordination::host_slots::SlotBook;
use crate::coordination::shared_in_flight::SharedInFlight;
use tokio::sync::Semaphore;
use tokio::time::Instant;

#[derive(Debug)]
struct GateState {
    /// The earliest instant the next request may start (the last actual
    /// start plus its spacing).
    next_start: Instant,
    /// Until when a `Retry-After` holds every request back.
    paused_until: Option<Instant>,
    /// The adaptive delay (zero without AutoThrottle).
    adaptive_delay: Duration,
    /// A floor under the minimum interval the host itself asked for (a
    /// robots.txt `Crawl-delay`), zero until then.
    floor: Duration,
}

#[derive(Debug)]
struct GateInner {
    host: String,
    config: GateConfig,
    in_flight: Arc<Semaphore>,
    /// Serialises the waiters (tokio's mutex is fair: FIFO).
    turn: tokio::sync::Mutex<()>,
    state: Mutex<GateState>,
    /// Start slots reserved with the other processes, in a cluster.
    shared: Option<Arc<SlotBook>>,
    /// The in-flight cap's tokens shared with the other processes, in a cluster.
    shared_in_flight: Option<Arc<SharedInFlight>>,
}

/// The politeness gate of one host. Cloning shares the gate.
///
/// Every request on the host first [`acquire`](Self::acquire)s a [`GatePermit`]:
/// that waits for a free in-flight slot, then for the request's start slot
/// (slots are handed out at least the minimum interval plus jitter apart, and
/// never before a pushed-back instant). Hold the permit while the request
/// runs and tell it how the request went.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use crawlpipe_core::policy::{GateConfig, HostGates};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let gates = HostGates::new();
/// let gate = gates.gate("api.example.com", GateConfig::default().min_interval(Duration::from_millis(1)));
/// let permit = gate.acquire().await;
/// // ... send the request ...
/// permit.success();
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct HostGate {
    inner: Arc<GateInner>,
}

impl HostGate {
    /// A gate for `host` on its own (use [`HostGates`](super::HostGates) to share it).
    pub fn new(host: impl Into<String>, config: GateConfig) -> Self {
        Self::with_slots(&host.into(), config, None)
    }

    pub(super) fn with_slots(host: &str, config: GateConfig, slots: Option<Arc<dyn HostSlots>>) -> Self {
        let adaptive_delay = config
            .adaptive
            .as_ref()
            .map(|a| Duration::from_millis(a.min_delay_ms))
            .unwrap_or_default();
        let shared_in_flight = slots
            .clone()
            .map(|store| SharedInFlight::new(store, host, config.max_in_flight));
        let shared = slots.map(|store| SlotBook::new(store, host, config.min_interval));
        Self {
            inner: Arc::new(GateInner {
                host: host.to_owned(),
                in_flight: Arc::new(Semaphore::new(config.max_in_flight.max(1))),
                turn: tokio::sync::Mutex::new(()),
                config,
                state: Mutex::new(GateState {
                    next_start: Instant::now(),
                    paused_until: None,
                    adaptive_delay,
                    floor: Duration::ZERO,
                }),
                shared_in_flight,
                shared,
            }),
        }
    }

    /// The host this gate guards.
    pub fn host(&self) -> &str {
        &self.inner.host
    }

    /// The gate's settings.
    pub fn config(&self) -> &GateConfig {
        &self.inner.config
    }

    /// Whether every in-flight slot is taken: by requests running, or by a
    /// waiter a released slot was just handed to. A task that released its
    /// slot and has other work to do should then let that waiter run first
    /// (`tokio::task::yield_now`): the waiter was woken on this thread, and
    /// tokio runs it only when this task yields, so the host would idle
    /// meanwhile.
    pub fn is_full(&self) -> bool {
        self.inner.in_flight.available_permits() == 0
    }

    fn state(&self) -> MutexGuard<'_, GateState> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current adaptive delay (zero without AutoThrottle).
    pub fn adaptive_delay(&self) -> Duration {
        self.state().adaptive_delay
    }

    /// Raises the minimum interval between starts to at least `floor` (a
    /// robots.txt `Crawl-delay`); never lowers it. The next start is at
    /// least `floor` from now (when the host's request was answered).
    ///
    /// In a cluster the floor spaces this process's starts; the slots shared
    /// with the other processes keep the configured interval.
    pub fn raise_min_interval(&self, floor: Duration) {
        let mut state = self.state();
        if floor <= state.floor {
            return;
        }
        state.floor = floor;
        state.next_start = state.next_start.max(Instant::now() + floor);
        tracing::debug!(host = %self.inner.host, ?floor, "minimum interval raised by the host's crawl delay");
    }

    /// The floor under the minimum interval ([`raise_min_interval`](Self::raise_min_interval)).
    pub fn min_interval_floor(&self) -> Duration {
        self.state().floor
    }

    /// The spacing to the next start: the larger of the minimum interval (or
    /// its floor) and the adaptive delay, plus jitter.
    fn spacing(&self, state: &GateState) -> Duration {
        let c = &self.inner.config;
        let base = c.min_interval.max(state.floor).max(state.adaptive_delay);
        if c.jitter.is_zero() {
            base
        } else {
            base + c.jitter.mul_f64(fastrand::f64())
        }
    }

    /// Waits for an in-flight slot and for this request's turn to start.
    ///
    /// Waiters take turns in FIFO order; each start is at least the spacing
    /// after the previous *actual* start (not a planned one), so a waiter
    /// that wakes late never lets the next one start early.
    ///
    /// Cancel-safe: dropping the future gives its place up.
    pub async fn acquire(&self) -> GatePermit {
        // The semaphore is never closed, so acquiring cannot fail.
        let slot = self.inner.in_flight.clone().acquire_owned().await.ok();
        let token = match &self.inner.shared_in_flight {
            Some(shared) => Some(shared.take().await),
            None => None,
        };
        let interval = self.inner.config.min_interval;
        // A shared gate reserves this request's start now, while the
        // requests before it wait for theirs.
        let demand = match &self.inner.shared {
            Some(shared) if !interval.is_zero() => Some(shared.want()),
            _ => None,
        };
        let _turn = self.inner.turn.lock().await;
        let mut reserved = match &demand {
            Some(demand) => demand.next().await,
            None => None,
        };
        loop {
            if let (Some(at), Some(demand)) = (reserved, &demand)
                && Instant::now() > at + SlotBook::tolerance(interval)
                && !demand.may_start_late(at).await
            {
                // Too late for this slot: the next process's may be near.
                reserved = demand.next().await;
            }
            let earliest = {
                let mut state = self.state();
                let now = Instant::now();
                let mut earliest = state.next_start.max(reserved.unwrap_or(now));
                if let Some(until) = state.paused_until {
                    if until > now {
                        earliest = earliest.max(until);
                    } else {
                        state.paused_until = None;
                    }
                }
                if earliest <= now {
                    // A shared slot already keeps the interval to the next
                    // start: the local spacing gives way by the slot's
                    // tolerance, so a start a little late on this slot does
                    // not miss the next one.
                    let spacing = self.spacing(&state);
                    state.next_start = match reserved {
                        Some(_) => now + spacing.saturating_sub(SlotBook::tolerance(interval)),
                        None => now + spacing,
                    };
                    tracing::trace!(target: "crawlpipe::critical_path", host = %self.inner.host, "gate granted");
                    return GatePermit {
                        gate: self.clone(),
                        _slot: slot,
                        _token: token,
                        started: now,
                    };
                }
                earliest
            };
            // A push-back that arrives meanwhile is seen on the next round.
            wait_until(earliest).await;
        }
    }

    /// Holds every request on the host back for `retry_after` from now (a
    /// server's `Retry-After`). Zero means the minimum interval, never "now".
    /// A shared gate pauses the host for every process of the cluster too.
    pub fn push_back(&self, retry_after: Duration) {
        let wait = retry_after.max(self.inner.config.min_interval);
        self.pause_until(Instant::now() + wait);
        if let Some(shared) = &self.inner.shared {
            shared.pause(wait);
        }
    }

    /// Holds every request on the host back until `until`.
    pub fn pause_until(&self, until: Instant) {
        let mut state = self.state();
        state.paused_until = Some(state.paused_until.map_or(until, |u| u.max(until)));
        if state.next_start < until {
            state.next_start = until;
        }
        tracing::debug!(host = %self.inner.host, "host paused by Retry-After");
    }

    /// Until when a push-back holds the host, if it does.
    pub fn paused_until(&self) -> Option<Instant> {
        self.state().paused_until.filter(|u| *u > Instant::now())
    }

    pub(super) fn observe(&self, latency: Duration, ok: bool) {
        let Some(throttle) = &self.inner.config.adaptive else {
            return;
        };
        let target = throttle.target_concurrency.max(0.01);
        let wanted = latency.div_f64(target);
        let min = Duration::from_millis(throttle.min_delay_ms);
        let max = Duration::from_millis(throttle.max_delay_ms).max(min);
        let mut state = self.state();
        let old = state.adaptive_delay;
        let mut new = (old + wanted) / 2;
        // An error response is often fast; it must never speed us up.
        if !ok && new < old {
            new = old;
        }
        state.adaptive_delay = new.clamp(min, max);
    }
}

/// Sleeps until `deadline`, precisely.
///
/// Tokio's timer fires up to a millisecond late, which over many spaced
/// requests adds up to ~5% of a 20 ms interval; so the timer sleeps to a
/// millisecond before the deadline and the rest is yielded through.
async fn wait_until(deadline: Instant) {
    const SLACK: Duration = Duration::from_millis(1);
    if let Some(early) = deadline.checked_sub(SLACK)
        && early > Instant::now()
    {
        tokio::time::sleep_until(early).await;
    }
    loop {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        tokio::task::yield_now().await;
        if Instant::now() == now {
            // A paused test clock only moves when the runtime idles: sleep.
            tokio::time::sleep_until(deadline).await;
            return;
        }
    }
}

#[cfg(test)]
#[path = "host_gate_tests.rs"]
mod tests;
