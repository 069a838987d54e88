//! The crate's error type: opening databases and files, building sinks.

use std::path::PathBuf;
use std::time::Duration;

use pipeline_core::BoxError;

/// An error opening a database or file, or building a sink.
///
/// Errors while a pipeline runs are [`pipeline_core::SinkError`]s; when a
/// batch could not be committed after retries, its source is
/// [`Error::GaveUp`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A table, column or collection name is not a valid SQL identifier
    /// (`[A-Za-z_][A-Za-z0-9_]{0,62}`) or is reserved.
    #[error("invalid {kind} name {name:?}: {reason}")]
    Identifier {
        /// What the name is for: `table`, `column`, `checkpoint table`, …
        kind: &'static str,
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The database URL is not understood. The URL itself is not repeated:
    /// it may hold a password.
    #[error("invalid database URL: {reason}")]
    Url {
        /// What is wrong.
        reason: String,
    },
    /// A sink setting is invalid or inconsistent with what is stored.
    #[error("collection {collection}: {reason}")]
    Config {
        /// The collection.
        collection: String,
        /// What is wrong.
        reason: String,
    },
    /// The database failed while opening or preparing tables.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    #[error("database: {source}")]
    Database {
        /// The driver's error.
        #[from]
        source: sqlx::Error,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A batch could not be committed within the retry budget; nothing of it
    /// was committed. Carried as the source of a [`pipeline_core::SinkError::Write`].
    #[error("gave up after {attempts} attempt(s) in {elapsed:.1?}: {source}")]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// Time spent, retries included.
        elapsed: Duration,
        /// The last error.
        source: BoxError,
    },
}
