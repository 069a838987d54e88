//! A collection's own crawl settings (lookahead, page limit, retry,
//! schedule, batch timeout), apart from its source's.

use std::time::Duration;

#[cfg(doc)]
use crawlpipe_sources::HttpSourceConfig;
use serde::Deserialize;

/// `retry = { … }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts per page, the first included (default 5).
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// First backoff ceiling in ms (default 200).
    #[serde(default = "default_initial_backoff")]
    pub initial_backoff_ms: u64,
    /// Largest backoff in ms (default 10000).
    #[serde(default = "default_max_backoff")]
    pub max_backoff_ms: u64,
}

fn default_attempts() -> u32 {
    5
}
fn default_initial_backoff() -> u64 {
    200
}
fn default_max_backoff() -> u64 {
    10_000
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: default_attempts(),
            initial_backoff_ms: default_initial_backoff(),
            max_backoff_ms: default_max_backoff(),
        }
    }
}

/// The crawl's own settings of a collection; everything else in a
/// collection's table belongs to the source ([`HttpSourceConfig`]).
/// `None` means the crawl's default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PipelineConfig {
    /// Pages fetched ahead of the one being written (default 1).
    pub lookahead: Option<usize>,
    /// Pages per run before the collection fails with `max_pages` (default 100 000).
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

/// The batch timeout of a parent of child collections: its children are
/// listed from its committed rows, so they cannot start before a commit.
pub const PARENT_BATCH_TIMEOUT: Duration = Duration::from_millis(20);
