//! The request budget a server announces in an answer's headers, read into
//! [`QuotaWindow`]s, and the most restrictive of them (the one that holds
//! the next request back longest, see [`QuotaWindow::pressure`]).
//!
//! - `X-RateLimit-Limit` / `-Remaining` / `-Reset` (GitHub's and many
//!   others'), and per-window variants such as `X-RateLimit-Remaining-Minute`
//!   ([`x_rate_limit`]);
//! - the IETF fields: `RateLimit-Limit` / `-Remaining` / `-Reset`,
//!   `RateLimit: limit=…, remaining=…, reset=…`, and
//!   `RateLimit: "name";r=…;t=…` with `RateLimit-Policy: "name";q=…;w=…`
//!   ([`ietf`]).
//!
//! Values that do not parse are ignored (a budget is advice, never a reason
//! to fail a page).

pub(crate) mod budget_key;
mod ietf;
mod x_rate_limit;

use std::time::{Duration, SystemTime};

use crawlpipe_core::policy::QuotaWindow;
use reqwest::header::HeaderMap;

/// The most restrictive budget window `headers` announce, if any.
pub(crate) fn announced(headers: &HeaderMap, now: SystemTime) -> Option<QuotaWindow> {
    let mut windows = x_rate_limit::windows(headers, now);
    windows.extend(ietf::windows(headers, now));
    windows.into_iter().max_by_key(|w| w.pressure(now))
}

/// A header's value as text, if it is one.
fn text<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// A count: a non-negative integer (a fraction is cut).
fn count(text: &str) -> Option<u64> {
    let value: f64 = text.trim().parse().ok()?;
    (value.is_finite() && value >= 0.0).then_some(value as u64)
}

/// Seconds as a duration: non-negative, fractions kept, at most a year
/// (a larger value is not a window).
fn seconds(text: &str) -> Option<Duration> {
    let value: f64 = text.trim().parse().ok()?;
    (value.is_finite() && (0.0..=365.0 * 86_400.0).contains(&value)).then(|| Duration::from_secs_f64(value))
}

/// One window from its three parts, when all are there.
fn window(limit: Option<u64>, remaining: Option<u64>, reset_at: Option<SystemTime>) -> Option<QuotaWindow> {
    let remaining = remaining?;
    Some(QuotaWindow {
        limit: limit.unwrap_or(remaining).max(remaining),
        remaining,
        reset_at: reset_at?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    pub(super) fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    pub(super) fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    #[test]
    fn the_most_restrictive_of_several_forms_wins() {
        let h = headers(&[
            ("x-ratelimit-limit", "5000"),
            ("x-ratelimit-remaining", "4000"),
            ("x-ratelimit-reset", "1700003600"),
            ("ratelimit", "limit=100, remaining=2, reset=30"),
        ]);
        let w = announced(&h, now()).unwrap();
        assert_eq!((w.limit, w.remaining), (100, 2));
        assert_eq!(w.reset_at, now() + Duration::from_secs(30));
    }

    #[test]
    fn no_budget_headers_announce_nothing() {
        assert_eq!(
            announced(&headers(&[("content-type", "application/json")]), now()),
            None
        );
        assert_eq!(
            announced(&headers(&[("x-ratelimit-remaining", "x")]), now()),
            None
        );
    }
}
