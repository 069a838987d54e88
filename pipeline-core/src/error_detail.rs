//! Errors as data: the HTTP status a fetch error came from, and the
//! structured form of a collection's last error that `/status` serves.

use std::fmt;
use std::time::Duration;

use crate::{BoxError, FetchError};

/// A collection's error as fields a program can act on, next to its text.
///
/// # Examples
///
/// ```
/// use crawlpipe_core::{FetchError, StageError};
/// use std::sync::Arc;
///
/// let fetch = FetchError::permanent("GET https://api.example.com/items: HTTP 404").with_http_status(404);
/// assert_eq!(fetch.http_status(), Some(404));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ErrorDetail {
    /// What kind of error: a fetch error's class (`transient`, `rate_limited`,
    /// `permanent`, `skipped`), or what failed (`invalid_page`,
    /// `repeated_cursor`, `max_pages`, `circuit_open`, `item`, `sink`,
    /// `panicked`, `interrupted`, `rejected`, `build`, `factory`).
    pub kind: &'static str,
    /// The HTTP status of the answer behind it, when there was one.
    pub http_status: Option<u16>,
    /// The cursor of the page it happened at, when known.
    pub cursor: Option<String>,
    /// The error's text (outside text escaped, no secrets).
    pub message: String,
}

/// A fetch error's source tagged with the HTTP status of the answer it came
/// from (see [`FetchError::with_http_status`](crate::FetchError::with_http_status)).
/// It shows and chains as the error it wraps.
pub(crate) struct WithHttpStatus {
    pub(crate) status: u16,
    pub(crate) source: BoxError,
}

impl fmt::Debug for WithHttpStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.source, f)
    }
}

impl fmt::Display for WithHttpStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.source, f)
    }
}

impl std::error::Error for WithHttpStatus {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.source()
    }
}

/// What a fetch error says beyond its class: the HTTP status behind it and
/// when to try again.
impl FetchError {
    /// Tags the error with the HTTP status of the answer it came from, so
    /// callers read it with [`http_status`](Self::http_status) instead of
    /// downcasting the source. The text and the class stay as they are.
    #[must_use]
    pub fn with_http_status(self, status: u16) -> Self {
        let tag = |source: BoxError| -> BoxError { Box::new(WithHttpStatus { status, source }) };
        match self {
            Self::Transient { source } => Self::Transient { source: tag(source) },
            Self::Permanent { source } => Self::Permanent { source: tag(source) },
            Self::Skipped { source } => Self::Skipped { source: tag(source) },
            Self::RateLimited { retry_after, source } => Self::RateLimited {
                retry_after,
                source: tag(source),
            },
            other => other,
        }
    }

    /// The HTTP status of the answer this error came from, when the source
    /// tagged it (the HTTP sources do for every error status).
    pub fn http_status(&self) -> Option<u16> {
        self.underlying_tagged().map(|t| t.status)
    }

    /// The underlying error (without the HTTP status tag), if there is one.
    pub fn underlying(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        let source = match self {
            Self::Transient { source }
            | Self::Permanent { source }
            | Self::Skipped { source }
            | Self::RateLimited { source, .. } => source,
            _ => return None,
        };
        Some(match source.downcast_ref::<WithHttpStatus>() {
            Some(tagged) => tagged.source.as_ref(),
            None => source.as_ref(),
        })
    }

    fn underlying_tagged(&self) -> Option<&WithHttpStatus> {
        match self {
            Self::Transient { source }
            | Self::Permanent { source }
            | Self::Skipped { source }
            | Self::RateLimited { source, .. } => source.downcast_ref::<WithHttpStatus>(),
            _ => None,
        }
    }

    /// How long the server asked to wait (`Retry-After`), for a rate limit.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// When a retry makes sense: an open breaker's half-open time.
    pub fn retry_at(&self) -> Option<tokio::time::Instant> {
        match self {
            Self::CircuitOpen { retry_at, .. } => Some(*retry_at),
            _ => None,
        }
    }
}
