//! [`AppError`]: what stops a crawl before it starts.

/// A problem that stops the crawl before it starts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// `--only` names a collection the config does not define.
    #[error("--only {0}: no collection of that name in the config")]
    UnknownCollection(String),
    /// A collection's source settings are wrong (a bad URL, selector or pointer).
    #[error("{}collection {collection:?}: {message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
    Source {
        /// The line of the collection's `name` in the config file, when known.
        line: Option<usize>,
        /// The collection.
        collection: String,
        /// What is wrong.
        message: String,
    },
    /// The database could not be opened.
    #[error("database {url}: {message}")]
    Database {
        /// The URL, without its password.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// Another process is crawling one of the collections on this database.
    #[error("{0}")]
    Locked(String),
    /// The runner or the metrics server could not start.
    #[error("{0}")]
    Start(String),
    /// A collection's table does not match its configuration (a column's
    /// type or pointer changed; `--migrate` rebuilds it).
    #[error("collection {collection:?}: {reason}")]
    Table {
        /// The collection.
        collection: String,
        /// What does not match.
        reason: String,
    },
}

impl AppError {
    /// Whether the problem is in the configuration or command line (exit 2).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Self::UnknownCollection(_) | Self::Source { .. } | Self::Table { .. }
        )
    }
}
