//! `X-RateLimit-Limit` / `-Remaining` / `-Reset`, and the per-window
//! variants (`X-RateLimit-Limit-Minute`, `X-RateLimit-Remaining-Hour`, …).
//!
//! `X-RateLimit-Reset` is a time in seconds since the Unix epoch (GitHub)
//! when it is at least 1 000 000 000 (September 2001), in milliseconds
//! since the epoch when at least 1 000 000 000 000, and otherwise seconds
//! from now (servers that send the time left in the window). A per-window
//! variant has no reset of its own: its window's length from now is taken,
//! the latest it can be.

use std::time::{Duration, SystemTime};

use crawlpipe_core::policy::QuotaWindow;
use reqwest::header::HeaderMap;

use super::{count, text, window};

/// At least this, `X-RateLimit-Reset` is seconds since the epoch.
const EPOCH_SECONDS: f64 = 1e9;
/// At least this, milliseconds since the epoch.
const EPOCH_MILLIS: f64 = 1e12;

/// The windows per name suffix, and their lengths.
const WINDOWS: [(&str, u64); 6] = [
    ("second", 1),
    ("minute", 60),
    ("hour", 3_600),
    ("day", 86_400),
    ("month", 30 * 86_400),
    ("year", 365 * 86_400),
];

/// Every window the `X-RateLimit-*` headers announce.
pub(super) fn windows(headers: &HeaderMap, now: SystemTime) -> Vec<QuotaWindow> {
    let mut found = Vec::new();
    let reset = text(headers, "x-ratelimit-reset").and_then(|t| reset_at(t, now));
    let limit = text(headers, "x-ratelimit-limit").and_then(count);
    let remaining = text(headers, "x-ratelimit-remaining").and_then(count);
    found.extend(window(limit, remaining, reset));
    for (suffix, secs) in WINDOWS {
        let remaining = text(headers, &format!("x-ratelimit-remaining-{suffix}")).and_then(count);
        let limit = text(headers, &format!("x-ratelimit-limit-{suffix}")).and_then(count);
        found.extend(window(limit, remaining, Some(now + Duration::from_secs(secs))));
    }
    found
}

/// `X-RateLimit-Reset`'s time (see the module docs for the rule).
fn reset_at(text: &str, now: SystemTime) -> Option<SystemTime> {
    let value: f64 = text.parse().ok()?;
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    let since_epoch = |secs: f64| SystemTime::UNIX_EPOCH.checked_add(Duration::try_from_secs_f64(secs).ok()?);
    if value >= EPOCH_MILLIS {
        since_epoch(value / 1000.0)
    } else if value >= EPOCH_SECONDS {
        since_epoch(value)
    } else {
        now.checked_add(Duration::try_from_secs_f64(value).ok()?)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{headers, now};
    use super::*;

    #[test]
    fn github_s_reset_is_epoch_seconds() {
        let h = headers(&[
            ("x-ratelimit-limit", "5000"),
            ("x-ratelimit-remaining", "4987"),
            ("x-ratelimit-reset", "1700001800"),
        ]);
        let w = windows(&h, now());
        assert_eq!(
            w,
            vec![QuotaWindow {
                limit: 5000,
                remaining: 4987,
                reset_at: now() + Duration::from_secs(1800)
            }]
        );
    }

    #[test]
    fn a_small_reset_is_seconds_from_now_and_a_huge_one_milliseconds() {
        assert_eq!(reset_at("42", now()), Some(now() + Duration::from_secs(42)));
        assert_eq!(reset_at("1.5", now()), Some(now() + Duration::from_millis(1500)));
        assert_eq!(
            reset_at("1700000060000", now()),
            Some(now() + Duration::from_secs(60))
        );
        assert_eq!(reset_at("-1", now()), None);
        assert_eq!(reset_at("soon", now()), None);
    }

    #[test]
    fn per_window_variants_are_windows_of_their_own() {
        let h = headers(&[
            ("x-ratelimit-limit-minute", "60"),
            ("x-ratelimit-remaining-minute", "59"),
            ("x-ratelimit-limit-hour", "1000"),
            ("x-ratelimit-remaining-hour", "3"),
        ]);
        let w = windows(&h, now());
        assert_eq!(w.len(), 2);
        assert_eq!(w[1].reset_at, now() + Duration::from_secs(3600));
        let worst = super::super::announced(&h, now()).unwrap();
        assert_eq!((worst.limit, worst.remaining), (1000, 3));
    }

    #[test]
    fn a_window_without_a_reset_is_no_window() {
        let h = headers(&[("x-ratelimit-limit", "10"), ("x-ratelimit-remaining", "3")]);
        assert!(windows(&h, now()).is_empty());
    }
}
