//! Errors of the runner and of the collections it runs.

use crate::{BuildError, ErrorDetail, SharedError, StageError};

/// The runner could not be built or started.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RunnerError {
    /// Two collections have the same name; names key checkpoints and labels.
    #[error("collection {collection_shown} was added twice", collection_shown = crate::outside_text::shown(.collection))]
    DuplicateCollection {
        /// The repeated name.
        collection: String,
    },
    /// Two collection names differ only in case: they would share a table on
    /// backends whose names are case-insensitive.
    #[error("collections {first_shown} and {second_shown} differ only in case", first_shown = crate::outside_text::shown(.first), second_shown = crate::outside_text::shown(.second))]
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
    /// A setting is larger than the runner can hold (its slots are a
    /// semaphore of at most `max` permits).
    #[error("runner: {setting} must be at most {max}, got {value}")]
    TooLarge {
        /// The setting, e.g. `concurrency`.
        setting: &'static str,
        /// The largest value allowed.
        max: usize,
        /// The value given.
        value: usize,
    },
    /// No collection has that name.
    #[error("no collection named {collection_shown}", collection_shown = crate::outside_text::shown(.collection))]
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
    /// The run history could not be read.
    #[error("reading the run history of {collection_shown} failed: {source}", collection_shown = crate::outside_text::shown(.collection))]
    History {
        /// The collection.
        collection: String,
        /// The history's error.
        source: crate::SharedError,
    },
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
    #[error("collection {collection_shown}: building its pipeline failed: {source_shown}", collection_shown = crate::outside_text::shown(.collection), source_shown = crate::outside_text::shown(.source))]
    Factory {
        /// The collection.
        collection: String,
        /// The factory's error.
        source: SharedError,
    },
    /// The runner's task for the collection panicked (a bug in the runner).
    #[error("collection {collection_shown}: runner task failed: {message}", collection_shown = crate::outside_text::shown(.collection))]
    Panicked {
        /// The collection.
        collection: String,
        /// The panic message.
        message: String,
    },
}

impl CollectionError {
    /// The error as structured fields (see [`ErrorDetail`]).
    pub fn detail(&self) -> ErrorDetail {
        match self {
            Self::Stage(e) => e.detail(),
            other => ErrorDetail {
                kind: match other {
                    Self::Build(_) => "build",
                    Self::Factory { .. } => "factory",
                    _ => "panicked",
                },
                http_status: None,
                cursor: None,
                message: other.to_string(),
            },
        }
    }

    /// Whether resuming later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Stage(e) => e.is_retryable(),
            Self::Factory { .. } => true,
            _ => false,
        }
    }
}
