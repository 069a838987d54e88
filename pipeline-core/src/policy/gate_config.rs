//! The settings of a [`HostGate`](super::HostGate): spacing, jitter, in-flight
//! cap, and the optional AutoThrottle-style adaptive delay.

use std::time::Duration;

use serde::Deserialize;

/// AutoThrottle-style adaptive delay: aim for `target_concurrency` requests
/// in flight on the host given the observed latency.
///
/// After each response the delay moves halfway towards `latency / target_concurrency`,
/// clamped to `[min_delay, max_delay]`; a failed response never lowers it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoThrottle {
    /// Requests the host should be serving at once on average (default 1.0).
    #[serde(default = "default_target")]
    pub target_concurrency: f64,
    /// The smallest adaptive delay in milliseconds (default 0).
    #[serde(default)]
    pub min_delay_ms: u64,
    /// The largest adaptive delay in milliseconds (default 60 000).
    #[serde(default = "default_max_delay")]
    pub max_delay_ms: u64,
}

fn default_target() -> f64 {
    1.0
}

fn default_max_delay() -> u64 {
    60_000
}

impl Default for AutoThrottle {
    fn default() -> Self {
        Self {
            target_concurrency: default_target(),
            min_delay_ms: 0,
            max_delay_ms: default_max_delay(),
        }
    }
}

/// Settings of one [`HostGate`](super::HostGate).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use crawlpipe_core::policy::GateConfig;
///
/// let config = GateConfig::default()
///     .min_interval(Duration::from_millis(250))
///     .jitter(Duration::from_millis(50))
///     .max_in_flight(2);
/// assert_eq!(config.max_in_flight_value(), 2);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct GateConfig {
    pub(super) min_interval: Duration,
    pub(super) jitter: Duration,
    pub(super) max_in_flight: usize,
    pub(super) adaptive: Option<AutoThrottle>,
}

impl Default for GateConfig {
    /// No interval, no jitter, 1 request in flight (polite by default, as the
    /// HTTP sources), no adaptive delay.
    fn default() -> Self {
        Self {
            min_interval: Duration::ZERO,
            jitter: Duration::ZERO,
            max_in_flight: 1,
            adaptive: None,
        }
    }
}

impl GateConfig {
    /// The minimum time between two request starts on the host.
    #[must_use]
    pub fn min_interval(mut self, d: Duration) -> Self {
        self.min_interval = d;
        self
    }

    /// A random extra wait in `[0, jitter]` added to each interval.
    #[must_use]
    pub fn jitter(mut self, d: Duration) -> Self {
        self.jitter = d;
        self
    }

    /// Requests in flight on the host at most (0 is treated as 1, and more
    /// than [`Semaphore::MAX_PERMITS`](tokio::sync::Semaphore::MAX_PERMITS) as that).
    #[must_use]
    pub fn max_in_flight(mut self, n: usize) -> Self {
        // No host takes more than a semaphore can count (2^61 permits).
        self.max_in_flight = n.clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
        self
    }

    /// Enables the adaptive delay.
    #[must_use]
    pub fn adaptive(mut self, throttle: Option<AutoThrottle>) -> Self {
        self.adaptive = throttle;
        self
    }

    /// The configured minimum interval.
    pub fn min_interval_value(&self) -> Duration {
        self.min_interval
    }

    /// The configured cap on requests in flight.
    pub fn max_in_flight_value(&self) -> usize {
        self.max_in_flight
    }
}
