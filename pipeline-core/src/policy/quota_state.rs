//! The pacing arithmetic of a request quota: what a server announced
//! ([`QuotaWindow`]), what is known of it ([`QuotaState`]), and when the
//! next request may start ([`Take`]). Pure functions of the state and the
//! wall clock, so the in-process budget and a shared store (PostgreSQL, in
//! the `sinks` crate) pace alike.
//!
//! # The rule
//!
//! A budget keeps a reserve of `max(1, ⌈2% of the limit⌉)` requests it never
//! spends, so a few requests that another client (or a process that has not
//! seen the latest answer) sends still fit. The rest of the remaining budget
//! is spread evenly until the reset: with `usable = remaining − reserve`
//! requests left, the next start is `(reset − now) / (usable + 1)` after
//! this one (the `+ 1` is the gap to the first request after the reset, so
//! the last usable request goes one gap before it). At the reserve, requests
//! wait for the reset; the first request after it probes the new window
//! alone, and the others wait for its answer.

use std::time::{Duration, SystemTime};

/// How long the others wait for a probe's answer before probing again (a
/// probe whose request failed has no answer).
pub const PROBE_WAIT: Duration = Duration::from_secs(10);

/// Resets closer than this are taken for the same window: servers give
/// resets in whole seconds.
const SAME_WINDOW: Duration = Duration::from_secs(1);

/// One rate-limit window a server announced in an answer's headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaWindow {
    /// Requests the window allows in all (the remaining count when the
    /// server did not say).
    pub limit: u64,
    /// Requests left in the window.
    pub remaining: u64,
    /// When the window resets (wall clock).
    pub reset_at: SystemTime,
}

impl QuotaWindow {
    /// How long this window alone holds the next request back at `now`: the
    /// even spacing of the usable remainder, or the time to the reset at
    /// the reserve. The most restrictive of several windows is the one with
    /// the longest.
    pub fn pressure(&self, now: SystemTime) -> Duration {
        let to_reset = self.reset_at.duration_since(now).unwrap_or_default();
        let reserve = reserve(self.limit);
        if self.remaining <= reserve {
            return to_reset;
        }
        divide(to_reset, self.remaining - reserve + 1)
    }
}

/// The requests a budget of `limit` keeps back: `max(1, ⌈2% of limit⌉)`.
pub fn reserve(limit: u64) -> u64 {
    limit.div_ceil(50).max(1)
}

fn divide(d: Duration, n: u64) -> Duration {
    let n = n.max(1);
    Duration::from_nanos(u64::try_from(d.as_nanos() / u128::from(n)).unwrap_or(u64::MAX))
}

/// What is known of one budget, as kept in process or in a shared store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaState {
    /// The window's limit.
    pub limit: u64,
    /// Requests left: the latest answer's count, less the requests started
    /// since (an answer never raises it within a window).
    pub remaining: u64,
    /// When the window resets (the earliest of the answers of the window).
    pub reset_at: SystemTime,
    /// The earliest start of the next request (the pacing).
    pub next_at: SystemTime,
    /// Set while a request probes the window after a reset.
    pub probe_until: Option<SystemTime>,
}

/// Whether a request may start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Start now (the budget counted the request).
    Go,
    /// Ask again at this instant (or when a new answer is seen).
    Wait(SystemTime),
}

impl QuotaState {
    /// The state that one window's announcement starts.
    /// The next request waits one gap after this answer.
    pub fn new(window: QuotaWindow, now: SystemTime) -> Self {
        Self {
            limit: window.limit.max(window.remaining),
            remaining: window.remaining,
            reset_at: window.reset_at,
            next_at: now + window.pressure(now),
            probe_until: None,
        }
    }

    /// Merges an answer's window into what is known (`state`: `None` when
    /// nothing is). An answer about a window that has already reset is
    /// stale and ignored; one about the same window (resets within a
    /// second) can only lower the count and bring the reset earlier; one
    /// about another window replaces it.
    pub fn observe(state: &mut Option<Self>, window: QuotaWindow, now: SystemTime) {
        if window.reset_at <= now {
            return;
        }
        let Some(s) = state else {
            *state = Some(Self::new(window, now));
            return;
        };
        let apart = match window.reset_at.duration_since(s.reset_at) {
            Ok(d) => d,
            Err(e) => e.duration(),
        };
        if apart < SAME_WINDOW && s.probe_until.is_none() {
            s.limit = s.limit.max(window.limit);
            s.remaining = s.remaining.min(window.remaining);
            s.reset_at = s.reset_at.min(window.reset_at);
        } else {
            let next_at = s.next_at;
            *s = Self::new(window, now);
            s.next_at = s.next_at.max(next_at);
        }
    }

    /// Whether a request may start at `now`, counting it when it may (see
    /// the [module docs](self)).
    pub fn take(&mut self, now: SystemTime) -> Take {
        if let Some(until) = self.probe_until
            && until > now
        {
            return Take::Wait(until);
        }
        if now >= self.reset_at {
            // A new window whose size nobody knows yet: one request finds out.
            self.probe_until = Some(now + PROBE_WAIT);
            return Take::Go;
        }
        let reserve = reserve(self.limit);
        if self.remaining <= reserve {
            return Take::Wait(self.reset_at);
        }
        if self.next_at > now {
            return Take::Wait(self.next_at);
        }
        let usable = self.remaining - reserve;
        let to_reset = self.reset_at.duration_since(now).unwrap_or_default();
        self.next_at = now + divide(to_reset, usable + 1);
        self.remaining -= 1;
        Take::Go
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(1_000_000 + ms)
    }

    fn window(limit: u64, remaining: u64, reset_ms: u64) -> QuotaWindow {
        QuotaWindow {
            limit,
            remaining,
            reset_at: at(reset_ms),
        }
    }

    #[test]
    fn the_reserve_is_two_percent_and_at_least_one() {
        assert_eq!(reserve(0), 1);
        assert_eq!(reserve(20), 1);
        assert_eq!(reserve(50), 1);
        assert_eq!(reserve(51), 2);
        assert_eq!(reserve(5000), 100);
    }

    /// Simulates a server of `limit` per `window_ms` windows answering at
    /// once, and returns the starts of `n` requests and the server's 429s.
    fn crawl(limit: u64, window_ms: u64, n: usize) -> (Vec<u64>, usize) {
        let mut state = None;
        let (mut now, mut starts, mut refused) = (0u64, Vec::new(), 0);
        let mut used = 0u64;
        let mut window_end = window_ms;
        while starts.len() < n {
            let go = match state.as_mut() {
                None => Take::Go,
                Some(s) => QuotaState::take(s, at(now)),
            };
            match go {
                Take::Wait(t) => {
                    // Whole milliseconds, rounded up: never before `t`.
                    now = t.duration_since(at(0)).unwrap().as_micros().div_ceil(1000) as u64;
                    continue;
                }
                Take::Go => {}
            }
            while now >= window_end {
                window_end += window_ms;
                used = 0;
            }
            if used == limit {
                refused += 1;
            } else {
                used += 1;
                starts.push(now);
            }
            QuotaState::observe(&mut state, window(limit, limit - used, window_end), at(now));
        }
        (starts, refused)
    }

    #[test]
    fn pacing_spends_the_window_evenly_and_never_reaches_zero() {
        let (starts, refused) = crawl(20, 2000, 100);
        assert_eq!(refused, 0);
        // 19 a window (the reserve is 1): the 100th start is in the 6th window.
        let last = *starts.last().unwrap();
        assert!((10_000..10_600).contains(&last), "{last}");
        // Evenly: a gap of 2000 / 19 ms, and two at the end of a window
        // (the reserve's request is not sent).
        let gaps: Vec<u64> = starts.windows(2).map(|p| p[1] - p[0]).collect();
        assert!(
            gaps.iter()
                .all(|g| (99..=106).contains(g) || (190..=212).contains(g)),
            "{gaps:?}"
        );
        assert_eq!(gaps.iter().filter(|g| **g > 106).count(), 5, "{gaps:?}");
    }

    #[test]
    fn a_later_window_replaces_and_the_same_window_only_lowers() {
        let mut state = None;
        QuotaState::observe(&mut state, window(10, 8, 5_000), at(0));
        QuotaState::observe(&mut state, window(10, 9, 5_400), at(10));
        let s = state.unwrap();
        assert_eq!((s.remaining, s.reset_at), (8, at(5_000)));
        QuotaState::observe(&mut state, window(10, 9, 9_000), at(20));
        assert_eq!(state.unwrap().remaining, 9);
        // An answer about a window already reset says nothing.
        QuotaState::observe(&mut state, window(10, 0, 15), at(20));
        assert_eq!(state.unwrap().remaining, 9);
    }

    #[test]
    fn after_the_reset_one_request_probes_the_new_window() {
        let mut state = Some(QuotaState::new(window(10, 1, 1_000), at(0)));
        let s = state.as_mut().unwrap();
        assert_eq!(s.take(at(0)), Take::Wait(at(1_000)));
        assert_eq!(s.take(at(1_000)), Take::Go);
        assert_eq!(s.take(at(1_001)), Take::Wait(at(1_000) + PROBE_WAIT));
        QuotaState::observe(&mut state, window(10, 9, 3_000), at(1_002));
        // The new window's first gap: 1998 ms over 8 usable requests and the reset.
        let mut s = state.unwrap();
        assert_eq!(s.take(at(1_002)), Take::Wait(at(1_224)));
        assert_eq!(s.take(at(1_224)), Take::Go);
    }

    #[test]
    fn the_most_restrictive_window_holds_longest() {
        let minute = window(100, 50, 60_000);
        let hour = window(1000, 20, 3_600_000);
        assert!(hour.pressure(at(0)) > minute.pressure(at(0)));
        assert_eq!(window(10, 1, 500).pressure(at(0)), Duration::from_millis(500));
    }
}
