//! Errors of the runner and of the collections it runs.

use crate::{BuildError, SharedError, StageError};

/// The runner could not be built or started.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RunnerError {
    /// Two collections have the same name; names key checkpoints and labels.
    #[error("collection {collection} was added twice")]
    DuplicateCollection {
        /// The repeated name.
        collection: String,
    },
    /// Two collection names differ only in case: they would share a table on
    /// backends whose names are case-insensitive.
    #[error("collections {first} and {second} differ only in case")]
    CaseCollision {
        /// The name added first.
        first: String,
        /// The name added later.
        second: String,
    },
    /// A collection's name is empty.
    #[error("a collection name must not be empty")]
    EmptyName,
    /// A setting that must be positive was zero.
    #[error("runner: {setting} must be at least 1, got 0")]
    Zero {
        /// The setting, e.g. `concurrency`.
        setting: &'static str,
    },
    /// No collection has that name.
    #[error("no collection named {collection}")]
    UnknownCollection {
        /// The name asked for.
        collection: String,
    },
    /// The runner has ended or is shutting down: nothing can be added.
    #[error("the runner has ended or is shutting down")]
    Ended,
    /// `start` was called outside a tokio runtime.
    #[error("the runner must be started from within a tokio runtime")]
    NoRuntime,
}

/// Why a collection stopped or was retried, as kept in its summary and events.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CollectionError {
    /// Its pipeline failed (the failure it reported in-band).
    #[error(transparent)]
    Stage(StageError),
    /// Its factory returned a pipeline with an invalid setting.
    #[error(transparent)]
    Build(BuildError),
    /// Its async factory failed (for example a database it opens was down);
    /// resumed like a resumable pipeline failure.
    #[error("collection {collection}: building its pipeline failed: {source}")]
    Factory {
        /// The collection.
        collection: String,
        /// The factory's error.
        source: SharedError,
    },
    /// The runner's task for the collection panicked (a bug in the runner).
    #[error("collection {collection}: runner task failed: {message}")]
    Panicked {
        /// The collection.
        collection: String,
        /// The panic message.
        message: String,
    },
}

impl CollectionError {
    /// Whether resuming later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Stage(e) => e.is_retryable(),
            Self::Factory { .. } => true,
            _ => false,
        }
    }
}
