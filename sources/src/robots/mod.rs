//! robots.txt: which URLs of a host our user agent may fetch, and how slowly.
//!
//! A collection with [`robots`](crate::HttpSourceConfig::robots) on (the
//! default for scraped collections; JSON collections opt in) checks every
//! page URL against its host's robots.txt before requesting it:
//!
//! - The file is fetched once per origin (scheme, host, port) per
//!   [`HttpContext`](crate::HttpContext), through the host's gate and
//!   breaker like any page (so it counts towards `min_delay_ms`), with the
//!   collection's `User-Agent`, and kept until it expires: its
//!   `Cache-Control: max-age`, between [`MIN_ROBOTS_TTL`] and
//!   [`DEFAULT_ROBOTS_TTL`] (24 h, also the default). Processes of a
//!   cluster each fetch it once per host.
//! - Groups are matched by the product token of the user agent
//!   ([`product_token`]: `crawlpipe/0.1.0 (+…)` → `crawlpipe`), else `*`;
//!   the longest matching `Allow`/`Disallow` wins ([`RobotsRules`]).
//!   `Sitemap:` lines are ignored.
//! - `Crawl-delay` (seconds, at most [`MAX_CRAWL_DELAY`]) becomes a floor
//!   under the host gate's minimum interval
//!   ([`HostGate::raise_min_interval`](crawlpipe_core::policy::HostGate::raise_min_interval)).
//! - A disallowed page is skipped ([`FetchError::Skipped`](crawlpipe_core::FetchError::Skipped)):
//!   the collection's pages end there, logged and counted in
//!   `pages_skipped`. A disallowed start URL is refused before the crawl by
//!   [`check_start_url`] (the `crawl` binary exits 2 naming the rule).
//! - A missing robots.txt (any 4xx but 429) allows everything. A 5xx, a
//!   429, an unreachable host, a file too large ([`ROBOTS_MAX_BYTES`]) or
//!   one that cannot be compiled disallows everything for now: the request
//!   fails as rate limited until [`ROBOTS_RETRY`] later, so the collection
//!   fails resumably (its cursor kept) and is resumed then, when the file
//!   is fetched again.
//!
//! Redirects of a page are not checked again (their target's host must be
//! allowed, as always).

mod cache;
mod guard;
mod rules;

use std::time::Duration;

pub(crate) use self::cache::RobotsCache;
pub use self::guard::check_start_url;
pub(crate) use self::guard::{Refusal, RobotsGuard};
pub use self::rules::{DisallowRule, MAX_CRAWL_DELAY, RobotsRules};
pub use crate::http::user_agent::{DEFAULT_USER_AGENT, check_user_agent, product_token};

/// How long a robots.txt is kept without a `Cache-Control: max-age`, and
/// the longest a `max-age` keeps it.
pub const DEFAULT_ROBOTS_TTL: Duration = Duration::from_secs(24 * 3600);
/// The shortest a fetched robots.txt is kept (a `max-age` below is raised to it).
pub const MIN_ROBOTS_TTL: Duration = Duration::from_secs(60);
/// How long after a failed fetch (5xx, 429, unreachable) robots.txt is
/// fetched again; until then its host's pages are not requested.
pub const ROBOTS_RETRY: Duration = Duration::from_secs(60);
/// The largest robots.txt read (RFC 9309 asks for at least 500 KiB).
pub const ROBOTS_MAX_BYTES: u64 = 512 * 1024;
