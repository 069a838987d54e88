//! Per-host circuit breaker: N consecutive failures open it for a cooldown,
//! then one half-open probe decides whether it closes again.
//!
//! An open breaker fails fast (with the instant a probe will be let through)
//! instead of sleeping, so a runner can resume other collections meanwhile.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use super::HostSlots;
use crate::coordination::shared_breaker::SharedBreaker;

/// Settings of a [`CircuitBreaker`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker (0 is treated as 1).
    pub failures: u32,
    /// How long the breaker stays open before letting one probe through.
    pub cooldown: Duration,
}

impl Default for BreakerConfig {
    /// 5 consecutive failures, 30 s cooldown.
    fn default() -> Self {
        Self {
            failures: 5,
            cooldown: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        consecutive: u32,
    },
    Open {
        until: Instant,
    },
    /// One probe is in flight; others wait for its verdict.
    HalfOpen {
        probe_started: Instant,
    },
}

/// What a breaker says about a host right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BreakerState {
    /// Requests flow.
    Closed,
    /// Requests fail fast until this instant.
    Open(Instant),
    /// One probe is in flight.
    HalfOpen,
}

#[derive(Debug)]
struct Inner {
    host: String,
    config: BreakerConfig,
    state: Mutex<State>,
    /// The cluster's view of this host's breaker, in a cluster.
    shared: Option<SharedBreaker>,
}

/// The circuit breaker of one host. Cloning shares it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use crawlpipe_core::policy::{BreakerConfig, CircuitBreaker};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let breaker = CircuitBreaker::new("api.example.com", BreakerConfig { failures: 3, cooldown: Duration::from_secs(10) });
/// match breaker.check() {
///     Ok(call) => call.success(), // ... after the request worked
///     Err(retry_at) => { let _ = retry_at; } // fail fast
/// }
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    inner: Arc<Inner>,
}

impl CircuitBreaker {
    /// A breaker for `host` on its own (use [`Breakers`] to share it).
    pub fn new(host: impl Into<String>, config: BreakerConfig) -> Self {
        Self::with_shared(&host.into(), config, None)
    }

    fn with_shared(host: &str, config: BreakerConfig, store: Option<Arc<dyn HostSlots>>) -> Self {
        Self {
            inner: Arc::new(Inner {
                host: host.to_owned(),
                config: BreakerConfig {
                    failures: config.failures.max(1),
                    ..config
                },
                state: Mutex::new(State::Closed { consecutive: 0 }),
                shared: store.map(|store| SharedBreaker::new(store, host)),
            }),
        }
    }

    /// In a cluster ([`Breakers::shared`]), opens this breaker if another
    /// process published the host's breaker as open; reads the shared state
    /// at most once a second, so call it before each request. Does nothing
    /// for a breaker of one process.
    pub async fn refresh(&self) {
        let Some(shared) = &self.inner.shared else {
            return;
        };
        let Some(until) = shared.read().await else {
            return;
        };
        let mut state = self.lock();
        if matches!(*state, State::Closed { .. }) && until > Instant::now() {
            *state = State::Open { until };
            tracing::warn!(host = %self.inner.host, "circuit opened by another process of the cluster");
            metrics::gauge!("pipeline_circuit_open", "host" => self.inner.host.clone()).set(1.0);
        }
    }

    /// The host this breaker guards.
    pub fn host(&self) -> &str {
        &self.inner.host
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The breaker's state now.
    pub fn state(&self) -> BreakerState {
        match *self.lock() {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { until } => BreakerState::Open(until),
            State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Asks to make a request.
    ///
    /// # Errors
    ///
    /// When the breaker is open (or its one probe is in flight), the instant
    /// at which asking again makes sense.
    pub fn check(&self) -> Result<BreakerCall, Instant> {
        let mut state = self.lock();
        let now = Instant::now();
        match *state {
            State::Closed { .. } => Ok(self.call(false)),
            State::Open { until } if now < until => Err(until),
            State::Open { .. } => {
                *state = State::HalfOpen { probe_started: now };
                tracing::info!(host = %self.inner.host, "circuit half-open: probing");
                Ok(self.call(true))
            }
            State::HalfOpen { probe_started } => Err(probe_started + self.inner.config.cooldown),
        }
    }

    fn call(&self, probe: bool) -> BreakerCall {
        BreakerCall {
            breaker: self.clone(),
            probe,
            done: false,
        }
    }

    fn record(&self, probe: bool, ok: bool) {
        let mut state = self.lock();
        let cfg = self.inner.config;
        let was_closed = matches!(*state, State::Closed { .. });
        *state = match (*state, ok) {
            (_, true) => State::Closed { consecutive: 0 },
            (State::Closed { consecutive }, false) if consecutive + 1 < cfg.failures => State::Closed {
                consecutive: consecutive + 1,
            },
            (State::HalfOpen { .. }, false) if !probe => return,
            (State::Open { .. }, false) => return,
            (_, false) => {
                tracing::warn!(host = %self.inner.host, cooldown = ?cfg.cooldown, "circuit opened");
                State::Open {
                    until: Instant::now() + cfg.cooldown,
                }
            }
        };
        let closed = matches!(*state, State::Closed { .. });
        if closed != was_closed {
            let open = if closed { 0.0 } else { 1.0 };
            metrics::gauge!("pipeline_circuit_open", "host" => self.inner.host.clone()).set(open);
        }
        if let Some(shared) = &self.inner.shared {
            match *state {
                State::Open { .. } => shared.publish_open(cfg.cooldown),
                State::Closed { .. } if !was_closed => shared.publish_closed(),
                _ => {}
            }
        }
    }

    fn abandon(&self, probe: bool) {
        let mut state = self.lock();
        // An abandoned probe must not leave the breaker half-open for ever.
        if probe && matches!(*state, State::HalfOpen { .. }) {
            *state = State::Open {
                until: Instant::now(),
            };
        }
    }
}

/// One request allowed by a [`CircuitBreaker`]: report how it went.
/// Dropping it unreported counts as neither (a half-open probe is given up).
#[derive(Debug)]
#[must_use = "report the request's outcome with success() or failure()"]
pub struct BreakerCall {
    breaker: CircuitBreaker,
    probe: bool,
    done: bool,
}

impl BreakerCall {
    /// Whether this request is the half-open probe.
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    /// The host answered (any answer that is not the host's fault counts).
    pub fn success(mut self) {
        self.done = true;
        self.breaker.record(self.probe, true);
    }

    /// The host failed: a connect error, a timeout, a 5xx.
    pub fn failure(mut self) {
        self.done = true;
        self.breaker.record(self.probe, false);
    }
}

impl Drop for BreakerCall {
    fn drop(&mut self) {
        if !self.done {
            self.breaker.abandon(self.probe);
        }
    }
}

/// The process-wide registry of circuit breakers, one per host. Cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct Breakers {
    breakers: Arc<Mutex<HashMap<String, CircuitBreaker>>>,
    shared: Option<Arc<dyn HostSlots>>,
}

impl Breakers {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty registry whose breakers also hold for the other processes
    /// sharing `store` (see [`HostSlots`]): a breaker that opens here is
    /// published, and one another process opened is read by
    /// [`CircuitBreaker::refresh`].
    pub fn shared(store: Arc<dyn HostSlots>) -> Self {
        Self {
            breakers: Arc::default(),
            shared: Some(store),
        }
    }

    /// The breaker of `host`, created with `config` if it does not exist yet.
    pub fn breaker(&self, host: &str, config: BreakerConfig) -> CircuitBreaker {
        self.breakers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(host.to_owned())
            .or_insert_with(|| CircuitBreaker::with_shared(host, config, self.shared.clone()))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new(
            "h",
            BreakerConfig {
                failures: 3,
                cooldown: Duration::from_secs(10),
            },
        )
    }

    #[tokio::test(start_paused = true)]
    async fn consecutive_failures_open_the_breaker() {
        let b = breaker();
        b.check().unwrap().failure();
        b.check().unwrap().failure();
        assert_eq!(b.state(), BreakerState::Closed);
        let t0 = Instant::now();
        b.check().unwrap().failure();
        assert_eq!(b.check().unwrap_err(), t0 + Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_success_resets_the_count() {
        let b = breaker();
        b.check().unwrap().failure();
        b.check().unwrap().failure();
        b.check().unwrap().success();
        b.check().unwrap().failure();
        b.check().unwrap().failure();
        assert!(b.check().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn after_the_cooldown_one_probe_goes_through() {
        let b = breaker();
        for _ in 0..3 {
            b.check().unwrap().failure();
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
        let probe = b.check().unwrap();
        assert!(probe.is_probe());
        assert!(
            b.check().is_err(),
            "a second request got past a half-open breaker"
        );
        probe.success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.check().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_reopens_for_another_cooldown() {
        let b = breaker();
        for _ in 0..3 {
            b.check().unwrap().failure();
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
        b.check().unwrap().failure();
        let t = Instant::now();
        assert_eq!(b.check().unwrap_err(), t + Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn an_abandoned_probe_lets_another_probe_through() {
        let b = breaker();
        for _ in 0..3 {
            b.check().unwrap().failure();
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
        drop(b.check().unwrap());
        assert!(b.check().unwrap().is_probe());
    }

    #[tokio::test(start_paused = true)]
    async fn registry_shares_one_breaker_per_host() {
        let reg = Breakers::new();
        let cfg = BreakerConfig {
            failures: 1,
            cooldown: Duration::from_secs(1),
        };
        reg.breaker("h", cfg).check().unwrap().failure();
        assert!(reg.breaker("h", cfg).check().is_err());
        assert!(reg.breaker("other", cfg).check().is_ok());
    }
}
