//! Failed run-now attempts per client address: after
//! [`MAX_FAILURES`] wrong or missing tokens within [`WINDOW`], an address
//! gets 429 with `Retry-After` (even with the right token) until the
//! window ends, so a token cannot be guessed at network speed.
//!
//! Written by hand rather than with `governor`: what is limited here is
//! failures, known only after the token was checked, and a limited address
//! must be refused before it is checked; a keyed rate limiter counts every
//! request it is asked about instead.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// Failed attempts an address may make per window.
pub(super) const MAX_FAILURES: u32 = 10;
/// The window failures are counted in, and the lockout after too many.
pub(super) const WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered at most: a flood from many addresses cannot grow
/// the map without bound (the oldest window is forgotten first).
const MAX_ADDRESSES: usize = 4096;

/// One address's failures in its current window.
#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

/// The failed attempts of every address; cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub(super) struct FailedAttempts {
    windows: Arc<Mutex<HashMap<IpAddr, Window>>>,
}

impl FailedAttempts {
    fn windows(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Window>> {
        self.windows.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Some(wait)` while `addr` is locked out: it failed too often in its window.
    pub(super) fn locked_out(&self, addr: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let windows = self.windows();
        let w = windows.get(&addr)?;
        let ends = w.started + WINDOW;
        (w.failures >= MAX_FAILURES && ends > now).then(|| ends - now)
    }

    /// Counts a failed attempt of `addr`.
    pub(super) fn failed(&self, addr: IpAddr) {
        let now = Instant::now();
        let mut windows = self.windows();
        if windows.len() >= MAX_ADDRESSES && !windows.contains_key(&addr) {
            windows.retain(|_, w| w.started + WINDOW > now);
            if windows.len() >= MAX_ADDRESSES
                && let Some(oldest) = windows.iter().min_by_key(|(_, w)| w.started).map(|(a, _)| *a)
            {
                windows.remove(&oldest);
            }
        }
        let w = windows.entry(addr).or_insert(Window {
            started: now,
            failures: 0,
        });
        if w.started + WINDOW <= now {
            *w = Window {
                started: now,
                failures: 0,
            };
        }
        w.failures = w.failures.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_address_is_locked_out_after_too_many_failures_until_its_window_ends() {
        let attempts = FailedAttempts::default();
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap());
        for _ in 0..MAX_FAILURES {
            assert_eq!(attempts.locked_out(a), None);
            attempts.failed(a);
        }
        assert_eq!(attempts.locked_out(a), Some(WINDOW));
        assert_eq!(attempts.locked_out(b), None, "per address");
        tokio::time::advance(WINDOW).await;
        assert_eq!(attempts.locked_out(a), None, "the lockout ends with the window");
        attempts.failed(a);
        assert_eq!(attempts.locked_out(a), None, "a new window counts afresh");
    }
}
