//! Error types. Each says what happened and to what; none carries secrets.

use std::sync::Arc;
use std::time::Duration;

use crate::Cursor;
use crate::cursor::describe;
use crate::error_detail::ErrorDetail;

/// A boxed error from a stage's own code (an HTTP client, a database driver).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A shareable error: failures are cloned into reports, statuses and events.
pub type SharedError = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// An error from [`Paged::fetch`](crate::Paged::fetch) or a [`PushSource`](crate::PushSource),
/// classified so the driver knows whether to retry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// Worth retrying with backoff: a connect error, a timeout, a 5xx, a truncated body.
    #[error("{source_shown}", source_shown = crate::outside_text::shown(.source))]
    Transient {
        /// The underlying error.
        source: BoxError,
    },
    /// The server asked us to slow down (429, or 503 with `Retry-After`).
    #[error("rate limited{}: {source_shown}", retry_after.map(|d| format!(" (retry after {d:?})")).unwrap_or_default(), source_shown = crate::outside_text::shown(.source))]
    RateLimited {
        /// How long the server asked us to wait, if it said.
        retry_after: Option<Duration>,
        /// The underlying error.
        source: BoxError,
    },
    /// Retrying will not help: a 4xx, an authentication failure.
    #[error("{source_shown}", source_shown = crate::outside_text::shown(.source))]
    Permanent {
        /// The underlying error.
        source: BoxError,
    },
    /// The page was fetched but is malformed (bad JSON, items not an array).
    #[error("{reason_shown}", reason_shown = crate::outside_text::shown(.reason))]
    Invalid {
        /// What was wrong with the page.
        reason: String,
    },
    /// The page is to be skipped, by a rule of the source (an HTTP source's
    /// `on_status = { 404 = "skip" }`): the driver treats it as an empty last
    /// page, so the collection completes here with every page before it,
    /// and counts it in `pages_skipped` (never silently: it is logged with
    /// the collection and cursor, and shown in the status and summary). A
    /// [`PushSource`](crate::PushSource) has no pages to skip: from one, it
    /// fails the pipeline as a permanent error would.
    #[error("page skipped: {source_shown}", source_shown = crate::outside_text::shown(.source))]
    Skipped {
        /// Why (the status or body rule that matched, and the URL).
        source: BoxError,
    },
    /// A circuit breaker is open for the host: fail fast, retry after `retry_at`.
    #[error("circuit breaker open for host {host}")]
    CircuitOpen {
        /// The host whose breaker is open.
        host: String,
        /// When the breaker lets a probe through.
        retry_at: tokio::time::Instant,
    },
}

impl FetchError {
    /// A transient error, retried with backoff.
    pub fn transient(source: impl Into<BoxError>) -> Self {
        Self::Transient {
            source: source.into(),
        }
    }

    /// A permanent error: the collection fails without retrying.
    pub fn permanent(source: impl Into<BoxError>) -> Self {
        Self::Permanent {
            source: source.into(),
        }
    }

    /// A rate-limit push-back, with the server's `Retry-After` if it gave one.
    pub fn rate_limited(retry_after: Option<Duration>, source: impl Into<BoxError>) -> Self {
        Self::RateLimited {
            retry_after,
            source: source.into(),
        }
    }

    /// A page to skip (see [`FetchError::Skipped`]).
    pub fn skipped(source: impl Into<BoxError>) -> Self {
        Self::Skipped {
            source: source.into(),
        }
    }

    /// A malformed page.
    pub fn invalid(reason: impl Into<String>) -> Self {
        Self::Invalid {
            reason: reason.into(),
        }
    }

    /// The error's class, for retry decisions and metric labels.
    pub fn kind(&self) -> FetchErrorKind {
        match self {
            Self::Transient { .. } => FetchErrorKind::Transient,
            Self::RateLimited { .. } => FetchErrorKind::RateLimited,
            Self::Permanent { .. } => FetchErrorKind::Permanent,
            Self::Invalid { .. } => FetchErrorKind::Invalid,
            Self::CircuitOpen { .. } => FetchErrorKind::CircuitOpen,
            Self::Skipped { .. } => FetchErrorKind::Skipped,
        }
    }
}

/// The class of a [`FetchError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FetchErrorKind {
    /// See [`FetchError::Transient`].
    Transient,
    /// See [`FetchError::RateLimited`].
    RateLimited,
    /// See [`FetchError::Permanent`].
    Permanent,
    /// See [`FetchError::Invalid`].
    Invalid,
    /// See [`FetchError::CircuitOpen`].
    CircuitOpen,
    /// See [`FetchError::Skipped`].
    Skipped,
}

impl FetchErrorKind {
    /// A stable lowercase name, used as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transient => "transient",
            Self::RateLimited => "rate_limited",
            Self::Permanent => "permanent",
            Self::Invalid => "invalid",
            Self::CircuitOpen => "circuit_open",
            Self::Skipped => "skipped",
        }
    }
}

impl std::fmt::Display for FetchErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error from a [`Sink`](crate::Sink).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// A batch could not be committed (server gone, disk full, lock timeout).
    /// Nothing of the batch, nor its checkpoint, was committed.
    #[error("collection {collection_shown}: writing a batch failed: {source_shown}", source_shown = crate::outside_text::shown(.source), collection_shown = crate::OutsideText(.collection))]
    Write {
        /// The collection being written.
        collection: String,
        /// The backend's error.
        source: BoxError,
    },
    /// The item at `index` of the batch can never be written (its key is
    /// missing, of a type keys cannot have, or it cannot be encoded). The
    /// items before it were committed, without the batch's checkpoint; the
    /// pipeline names the page and fails.
    #[error("collection {collection_shown}: item {index} of the batch was rejected: {reason_shown}", reason_shown = crate::outside_text::shown(.reason), collection_shown = crate::OutsideText(.collection))]
    Rejected {
        /// The collection being written.
        collection: String,
        /// The item's index in the batch given to `write`.
        index: usize,
        /// What is wrong with the item.
        reason: String,
    },
    /// The sink is misconfigured (a bad table name, an unreachable path).
    #[error("sink configuration: {reason_shown}", reason_shown = crate::outside_text::shown(.reason))]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// The collection's lease passed to another process (its fencing token
    /// is no longer current): nothing of the batch was committed, and this
    /// process must stop writing the collection. Not retryable.
    #[error(
        "collection {collection}: lease lost to another process (fence {fence} is no longer current); nothing committed"
    )]
    Fenced {
        /// The collection being written.
        collection: String,
        /// The token that was refused.
        fence: i64,
    },
}

impl SinkError {
    /// Whether a later attempt may succeed (the database may come back).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Write { .. })
    }
}

/// Why a pipeline failed: carried by [`Failure`](crate::Failure).
///
/// Every variant names the collection, and where it applies the cursor and stage.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StageError {
    /// Fetching a page failed and retries did not help (or were not allowed).
    #[error("collection {collection_shown}: fetching {} failed after {attempts} attempt(s) ({kind}): {source_shown}", describe(.cursor.as_ref()), source_shown = crate::outside_text::shown(.source), collection_shown = crate::OutsideText(.collection))]
    Fetch {
        /// The collection.
        collection: String,
        /// The cursor of the page that failed.
        cursor: Option<Cursor>,
        /// Attempts made, including the first.
        attempts: u32,
        /// The class of the last error.
        kind: FetchErrorKind,
        /// The last error.
        source: SharedError,
    },
    /// A page was malformed.
    #[error("collection {collection_shown}: invalid page at {}: {reason_shown}", describe(.cursor.as_ref()), reason_shown = crate::outside_text::shown(.reason), collection_shown = crate::OutsideText(.collection))]
    Invalid {
        /// The collection.
        collection: String,
        /// The cursor of the malformed page.
        cursor: Option<Cursor>,
        /// What was wrong.
        reason: String,
    },
    /// The source returned a cursor it had already returned: pagination would loop.
    #[error("collection {collection_shown}: cursor {:?} was returned twice; stopping instead of looping", .cursor.as_str(), collection_shown = crate::OutsideText(.collection))]
    RepeatedCursor {
        /// The collection.
        collection: String,
        /// The cursor seen twice.
        cursor: Cursor,
    },
    /// The collection reached its `max_pages` limit.
    #[error("collection {collection_shown}: reached max_pages = {max_pages} before the last page", collection_shown = crate::OutsideText(.collection))]
    MaxPages {
        /// The collection.
        collection: String,
        /// The configured limit.
        max_pages: u64,
    },
    /// The host's circuit breaker is open.
    #[error("collection {collection_shown}: circuit breaker open for host {host}", collection_shown = crate::OutsideText(.collection))]
    CircuitOpen {
        /// The collection.
        collection: String,
        /// The host.
        host: String,
    },
    /// A `try_map` stage rejected an item and the policy says to fail.
    #[error("collection {collection_shown}: stage {stage} rejected an item: {source_shown}", source_shown = crate::outside_text::shown(.source), collection_shown = crate::OutsideText(.collection))]
    Item {
        /// The collection.
        collection: String,
        /// The stage, e.g. `try_map#2`.
        stage: String,
        /// The closure's error.
        source: SharedError,
    },
    /// User code panicked; the pipeline failed, the process did not.
    #[error("collection {collection_shown}: stage {stage} panicked: {message_shown}", message_shown = crate::outside_text::shown(.message), collection_shown = crate::OutsideText(.collection))]
    Panicked {
        /// The collection.
        collection: String,
        /// The stage, e.g. `map#0`, `source`, `sink`.
        stage: String,
        /// The panic message.
        message: String,
    },
    /// A task of the pipeline ended without finishing its work (it was
    /// aborted, or its input vanished) although nothing panicked.
    #[error("collection {collection_shown}: stage {stage} stopped: {reason_shown}", reason_shown = crate::outside_text::shown(.reason), collection_shown = crate::OutsideText(.collection))]
    Interrupted {
        /// The collection.
        collection: String,
        /// The stage, e.g. `source`, `sink`.
        stage: String,
        /// What happened.
        reason: String,
    },
    /// The sink rejected an item that can never be written; everything
    /// before it was written, and the pipeline resumes at its page.
    #[error("collection {collection_shown}: item {index} of the page at {} was rejected by the sink: {reason_shown}", describe(.cursor.as_ref()), reason_shown = crate::outside_text::shown(.reason), collection_shown = crate::OutsideText(.collection))]
    Rejected {
        /// The collection.
        collection: String,
        /// The cursor of the page holding the item (`None`: the first page).
        cursor: Option<Cursor>,
        /// The item's index among the items of its page that reached the sink.
        index: usize,
        /// What is wrong with the item.
        reason: String,
    },
    /// The sink failed.
    #[error("collection {collection_shown}: sink failed: {source_shown}", source_shown = crate::outside_text::shown(.source), collection_shown = crate::OutsideText(.collection))]
    Sink {
        /// The collection.
        collection: String,
        /// The sink's error.
        source: Arc<SinkError>,
    },
}

impl StageError {
    /// The HTTP status of the answer behind a fetch failure, when the
    /// source tagged it ([`FetchError::http_status`]).
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::Fetch { source, .. } => source
                .downcast_ref::<FetchError>()
                .and_then(FetchError::http_status),
            _ => None,
        }
    }

    /// The error as structured fields: kind, HTTP status, cursor, message.
    pub fn detail(&self) -> ErrorDetail {
        let (kind, cursor) = match self {
            Self::Fetch { kind, cursor, .. } => (kind.as_str(), cursor.as_ref()),
            Self::Invalid { cursor, .. } => ("invalid_page", cursor.as_ref()),
            Self::RepeatedCursor { cursor, .. } => ("repeated_cursor", Some(cursor)),
            Self::MaxPages { .. } => ("max_pages", None),
            Self::CircuitOpen { .. } => ("circuit_open", None),
            Self::Item { .. } => ("item", None),
            Self::Panicked { .. } => ("panicked", None),
            Self::Interrupted { .. } => ("interrupted", None),
            Self::Rejected { cursor, .. } => ("rejected", cursor.as_ref()),
            Self::Sink { .. } => ("sink", None),
        };
        ErrorDetail {
            kind,
            http_status: self.http_status(),
            cursor: cursor.map(|c| c.as_str().to_owned()),
            message: self.to_string(),
        }
    }

    /// Whether the sink refused to write because the collection's lease
    /// passed to another process ([`SinkError::Fenced`]).
    pub fn is_fenced(&self) -> bool {
        matches!(self, Self::Sink { source, .. } if matches!(**source, SinkError::Fenced { .. }))
    }

    /// Whether resuming later may succeed (a runner resumes only these).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Fetch { kind, .. } => !matches!(kind, FetchErrorKind::Permanent | FetchErrorKind::Invalid),
            Self::CircuitOpen { .. } => true,
            Self::Sink { source, .. } => source.is_retryable(),
            _ => false,
        }
    }
}

/// A pipeline could not be built: a setting is out of range.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A setting that must be positive was zero.
    #[error("pipeline {collection_shown}: {setting} must be at least 1, got 0", collection_shown = crate::OutsideText(.collection))]
    Zero {
        /// The collection.
        collection: String,
        /// The setting, e.g. `capacity`.
        setting: &'static str,
    },
    /// The collection name is empty or too long.
    #[error("pipeline name {name:?} is invalid: {reason_shown}", reason_shown = crate::outside_text::shown(.reason))]
    Name {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A setting is larger than the framework supports.
    #[error("pipeline {collection_shown}: {setting} must be at most {max}", collection_shown = crate::OutsideText(.collection))]
    TooLarge {
        /// The collection.
        collection: String,
        /// The setting, e.g. `capacity`.
        setting: &'static str,
        /// The largest value allowed.
        max: u64,
    },
    /// `spawn` was called outside a tokio runtime.
    #[error("pipeline {collection_shown}: spawn must be called from within a tokio runtime", collection_shown = crate::OutsideText(.collection))]
    NoRuntime {
        /// The collection.
        collection: String,
    },
    /// The collection's definition cannot make a pipeline (a child whose
    /// parent item lacks the field its URL needs, a URL that does not parse).
    #[error("pipeline {collection_shown}: {reason_shown}", reason_shown = crate::outside_text::shown(.reason), collection_shown = crate::OutsideText(.collection))]
    Definition {
        /// The collection.
        collection: String,
        /// What is wrong.
        reason: String,
    },
}

/// A checkpoint could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The stored checkpoint exists but cannot be understood. Fix or delete it
    /// (or run with `fresh`); the collection is not silently restarted.
    #[error("checkpoint of collection {collection_shown} is corrupt: {reason_shown}", reason_shown = crate::outside_text::shown(.reason), collection_shown = crate::OutsideText(.collection))]
    Corrupt {
        /// The collection.
        collection: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The store's backend failed.
    #[error("checkpoint store failed for collection {collection_shown}: {source_shown}", source_shown = crate::outside_text::shown(.source), collection_shown = crate::OutsideText(.collection))]
    Backend {
        /// The collection.
        collection: String,
        /// The backend's error.
        source: BoxError,
    },
}
