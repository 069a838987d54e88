//! Conditional requests on re-crawls: a page's validators (`ETag`,
//! `Last-Modified`) stored by the sink with the rows the page produced, and
//! read back by the source on the next run, which asks the server for the
//! page only if it changed.
//!
//! # How the parts meet
//!
//! - A sink that can keep validators with its rows (the SQL sink) hands a
//!   [`Validators`] store to its pipeline when it opens
//!   ([`SinkContext::offer_validators`](crate::SinkContext::offer_validators)).
//!   The store is scoped to the sink's collection and table, so a source
//!   only ever reads validators of rows in the table it writes to.
//! - The pipeline gives the store to its source before the first fetch
//!   ([`Paged::use_validators`](crate::Paged::use_validators)). A source that
//!   sends conditional requests looks up each page's request in it, sends
//!   `If-None-Match` / `If-Modified-Since`, and returns the page with a
//!   [`Validation`]: [`Fetched`](Validation::Fetched) (a full answer with
//!   validators) or [`NotModified`](Validation::NotModified) (a `304`: no
//!   items, and the stored next cursor as the page's next).
//! - The paged driver sends the validation downstream after the page's
//!   items (`Control::Validated`), before its checkpoint; the sink driver
//!   tells the sink where each page ends in the batch it writes
//!   ([`Sink::page_ends`](crate::Sink::page_ends)), so the sink stores a
//!   page's validator in the transaction of the page's last rows (or a
//!   later one): a crash never leaves a validator for rows not written.

use std::fmt::Debug;

use async_trait::async_trait;

use crate::{Cursor, SinkError};

/// What a server said about one page (its `ETag` and `Last-Modified`),
/// and where the crawl goes after the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageValidator {
    /// The page's request identity: a digest of its method, URL (in cursor
    /// form, without secret parameters) and body. Never a secret.
    pub request: String,
    /// The `ETag` header as the server sent it (weak or strong).
    pub etag: Option<String>,
    /// The `Last-Modified` header as the server sent it.
    pub last_modified: Option<String>,
    /// The page's next cursor (`None`: it was the last page).
    pub next: Option<Cursor>,
}

/// How a page whose request could be conditional was answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Validation {
    /// A full answer that carried validators: the sink stores them with
    /// the page's rows.
    Fetched(PageValidator),
    /// `304 Not Modified`: the page's rows are those stored with this
    /// (stored) validator; nothing of the page is written again (a staging
    /// run carries its rows over from the live table).
    NotModified(PageValidator),
}

impl Validation {
    /// The validator, however the page was answered.
    pub fn validator(&self) -> &PageValidator {
        match self {
            Self::Fetched(v) | Self::NotModified(v) => v,
        }
    }

    /// Whether the page was answered `304 Not Modified`.
    pub fn is_not_modified(&self) -> bool {
        matches!(self, Self::NotModified(_))
    }
}

/// Where a page ends in a batch handed to [`Sink::write`](crate::Sink::write):
/// the page's last items are the batch's items before `end` (its first
/// items may have gone out in earlier batches).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageEnd {
    /// The number of the batch's items before the page's end.
    pub end: usize,
    /// The page's validation, if its request was conditional (`None`: a
    /// page without validators, whose end is only a boundary).
    pub validation: Option<Validation>,
}

/// A collection's stored page validators, as its sink keeps them (stored
/// with the rows each page produced, read back by the source on the next
/// run). Implemented by the SQL sink's database; a source
/// only reads it.
#[async_trait]
pub trait Validators: Send + Sync + Debug + 'static {
    /// The validator stored for the page whose request digest is `request`
    /// (see [`PageValidator::request`]), if any.
    ///
    /// # Errors
    ///
    /// A [`SinkError`] when the store cannot be read; a source then sends
    /// the request unconditionally.
    async fn get(&self, request: &str) -> Result<Option<PageValidator>, SinkError>;
}
