//! The crate's error type: opening databases and files, building sinks, locking.

use std::path::PathBuf;
use std::time::Duration;

use crawlpipe_core::BoxError;

/// An error opening a database or file, building a sink, or locking collections.
///
/// Errors while a pipeline runs are [`crawlpipe_core::SinkError`]s; when a
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
    /// A sink setting is invalid (checked when the sink is built).
    #[error("invalid {setting}: {reason}")]
    Setting {
        /// The setting, e.g. `key pointer`.
        setting: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Another process (or another [`Database`](crate::Database) value) holds
    /// the lock of a collection; see [`Database::lock`](crate::Database::lock).
    #[error(
        "collection {collection} is locked by another crawler ({holder}); \
         wait for it to finish or stop it before crawling it again"
    )]
    Locked {
        /// The collection (on SQLite the lock covers the whole database
        /// file: the first collection asked for).
        collection: String,
        /// Who holds it, e.g. `crawl host=build-3 pid=4711`.
        holder: String,
    },
    /// A file's contents are inconsistent with what is stored.
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
    /// was committed. Carried as the source of a [`crawlpipe_core::SinkError::Write`].
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
