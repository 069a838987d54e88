//! The settings a [`Database`](super::Database) is opened with.

use std::time::Duration;

/// Settings for [`Database::open_with`](crate::Database::open_with); every one has a default.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use crawlpipe_sinks::DatabaseConfig;
///
/// let config = DatabaseConfig::new()
///     .checkpoint_table("crawl_checkpoints")
///     .retry_budget(Duration::from_secs(60));
/// # let _ = config;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct DatabaseConfig {
    pub(crate) checkpoint_table: String,
    pub(crate) retry_budget: Duration,
    pub(crate) busy_timeout: Duration,
    pub(crate) max_connections: u32,
    pub(crate) acquire_timeout: Duration,
}

impl Default for DatabaseConfig {
    /// See [`DatabaseConfig::new`].
    fn default() -> Self {
        Self {
            checkpoint_table: "pipeline_checkpoints".to_owned(),
            retry_budget: Duration::from_secs(30),
            busy_timeout: Duration::from_secs(5),
            max_connections: 8,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

impl DatabaseConfig {
    /// The defaults: checkpoints in `pipeline_checkpoints`, a 30 s retry
    /// budget, a 5 s SQLite busy timeout, 8 PostgreSQL connections, a 10 s
    /// connection acquire timeout.
    pub fn new() -> Self {
        Self::default()
    }

    /// The table holding every collection's checkpoint (validated at open).
    pub fn checkpoint_table(mut self, name: impl Into<String>) -> Self {
        self.checkpoint_table = name.into();
        self
    }

    /// How long sinks keep retrying a batch that cannot commit before failing
    /// the pipeline (default 30 s; a sink can override it).
    pub fn retry_budget(mut self, budget: Duration) -> Self {
        self.retry_budget = budget;
        self
    }

    /// How long SQLite waits for a lock held by another connection (default 5 s).
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// PostgreSQL pool size (default 8). SQLite always has one writer connection.
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// How long to wait for a pooled connection, connecting included (default 10 s).
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }
}
