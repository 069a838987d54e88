//! Errors as data: the HTTP status a fetch error came from, and the
//! structured form of a collection's last error that `/status` serves.

use std::fmt;

use crate::BoxError;

/// A collection's error as fields a program can act on, next to its text.
///
/// # Examples
///
/// ```
/// use pipeline_core::{FetchError, StageError};
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
