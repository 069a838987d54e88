//! A collection's own crawl settings (lookahead, page limit, retry,
//! schedule, batch timeout), apart from its source's.

use std::time::Duration;

use crawlpipe_core::policy::RetryPolicy;
#[cfg(doc)]
use crawlpipe_sources::HttpSourceConfig;
use serde::Deserialize;

/// `retry = { … }`: a key left out keeps the library's default
/// ([`RetryPolicy::default`]: 5 attempts, 200 ms, 10 s).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts per page, the first included.
    pub max_attempts: Option<u32>,
    /// First backoff ceiling in ms.
    pub initial_backoff_ms: Option<u64>,
    /// Largest backoff in ms.
    pub max_backoff_ms: Option<u64>,
}

impl RetryConfig {
    /// The policy these keys describe, over the library's defaults.
    pub fn policy(&self) -> RetryPolicy {
        let mut policy = RetryPolicy::default();
        if let Some(attempts) = self.max_attempts {
            policy = RetryPolicy::new(attempts);
        }
        if let Some(ms) = self.initial_backoff_ms {
            policy = policy.initial_backoff(Duration::from_millis(ms));
        }
        if let Some(ms) = self.max_backoff_ms {
            policy = policy.max_backoff(Duration::from_millis(ms));
        }
        policy
    }
}

/// The crawl's own settings of a collection; everything else in a
/// collection's table belongs to the source ([`HttpSourceConfig`]).
/// `None` means the crawl's default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CollectionSettings {
    /// Pages fetched ahead of the one being written (default 1).
    pub lookahead: Option<usize>,
    /// Pages per run before the collection fails with `max_pages` (default
    /// [`DEFAULT_MAX_PAGES`]).
    pub max_pages: Option<u64>,
    /// Retry policy per page.
    pub retry: Option<RetryConfig>,
    /// With `--serve`: run again this long after the previous run ended.
    pub every: Option<Duration>,
    /// Stale when the last success is older (default: twice `every`).
    pub stale_after: Option<Duration>,
    /// The longest a fetched item waits for a fuller sink batch (default
    /// 1 s). Not a configuration key: a parent of child collections gets
    /// [`PARENT_BATCH_TIMEOUT`], so its rows, which list its children, are
    /// committed soon after they are fetched and the children start at once.
    pub batch_timeout: Option<Duration>,
}

/// Pages per run at most when `max_pages` is not set: a crawl that pages
/// forever (a server repeating its last page under new cursors) ends.
pub const DEFAULT_MAX_PAGES: u64 = 100_000;

/// The batch timeout of a parent of child collections: its children are
/// listed from its committed rows, so they cannot start before a commit.
pub const PARENT_BATCH_TIMEOUT: Duration = Duration::from_millis(20);
