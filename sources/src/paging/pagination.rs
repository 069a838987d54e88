//! `Pagination`: how the next page is found, as configured.

use serde::Deserialize;

/// How the next page is found. Every style builds the next page's full URL,
/// which is the cursor, so any checkpoint is resumable. A token sent in the
/// request body (`body_pointer`) rides in the cursor's fragment:
/// `https://api.example.com/search#cursor=abc%3D` (the fragment is never
/// sent; the token is put into the body at `body_pointer`).
///
/// Every style with a token ends on a missing, null or empty one, and every
/// style with `has_more` ends when it is false, null or missing.
///
/// Build the common forms with [`page`](Self::page),
/// [`cursor`](Self::cursor), [`offset`](Self::offset) or
/// [`next_url`](Self::next_url), or read a style from TOML/JSON (`style`
/// names the variant): a struct literal naming every field of a style stops
/// compiling when the style gains a key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(tag = "style", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Pagination {
    /// A single page.
    #[default]
    None,
    /// RFC 8288 `Link: <…>; rel="next"` (GitHub style).
    LinkHeader,
    /// A next URL at a JSON pointer in the body; null, missing or empty ends.
    NextUrl {
        /// Pointer to the next URL, e.g. `/@odata.nextLink`, `/links/next`.
        next: String,
        /// Pointer to a boolean saying whether there are more pages: false,
        /// null or missing ends, whatever `next` holds.
        #[serde(default)]
        has_more: Option<String>,
    },
    /// A token sent back as the query parameter `param`, or in the JSON
    /// body at `body_pointer` (exactly one of the two).
    ///
    /// The token comes from exactly one of `next` (a pointer into the body),
    /// `last_item` (a pointer into the last item) and `next_header` (a
    /// response header).
    Cursor {
        /// The query parameter carrying the token (`cursor`, `starting_after`).
        #[serde(default)]
        param: Option<String>,
        /// Pointer to the next token in the body (Slack style); empty ends.
        #[serde(default)]
        next: Option<String>,
        /// Pointer into the last item giving the token (Stripe style, `/id`).
        #[serde(default)]
        last_item: Option<String>,
        /// Pointer to a boolean saying whether there are more pages.
        #[serde(default)]
        has_more: Option<String>,
        /// Where the token goes in the JSON body (a JSON pointer such as
        /// `/variables/after`; missing objects are created), for `POST`.
        #[serde(default)]
        body_pointer: Option<String>,
        /// A response header holding the next token (`X-Next-Cursor`);
        /// a missing or empty header ends.
        #[serde(default)]
        next_header: Option<String>,
        /// Pointer to a boolean saying the stream has ended (the inverse
        /// of `has_more`): true ends, false, null or missing go on.
        #[serde(default)]
        stop_when: Option<String>,
    },
    /// Offset and limit query parameters, or `{offset}` (and `{limit}`)
    /// written into the URL where the API wants them
    /// (`…?limit={offset},50`): then no parameter is added.
    Offset {
        /// The offset parameter (default `offset`).
        #[serde(default = "default_offset_param")]
        offset_param: String,
        /// The limit parameter (default `limit`).
        #[serde(default = "default_limit_param")]
        limit_param: String,
        /// Items per page requested.
        limit: u64,
        /// Pointer to the total item count; without it (and without
        /// `has_more`) a short page ends.
        #[serde(default)]
        total: Option<String>,
        /// Pointer to a boolean saying whether there are more pages: false,
        /// null or missing ends. With it a short page does not end.
        #[serde(default)]
        has_more: Option<String>,
        /// Pointer to a boolean saying the stream has ended: true ends.
        #[serde(default)]
        stop_when: Option<String>,
    },
    /// A page-number parameter counting from `start`, or `{page}`
    /// written into the URL (`…/{page}/info.json`): then no parameter is
    /// added.
    Page {
        /// The page parameter (default `page`).
        #[serde(default = "default_page_param")]
        param: String,
        /// The first page's number (default 1).
        #[serde(default = "default_page_start")]
        start: u64,
        /// Pointer to the number of pages; without it the first empty page ends.
        #[serde(default)]
        total_pages: Option<String>,
        /// Pointer to a boolean saying whether there are more pages: false,
        /// null or missing ends (an empty page still ends).
        #[serde(default)]
        has_more: Option<String>,
        /// Pointer to a boolean saying the stream has ended: true ends.
        #[serde(default)]
        stop_when: Option<String>,
        /// Items a full page has: a shorter page ends (an empty one always
        /// does).
        #[serde(default)]
        page_size: Option<u64>,
        /// The query parameter carrying `page_size` (none: not sent).
        #[serde(default)]
        page_size_param: Option<String>,
    },
    /// An XML feed's `<link rel="next" href="…"/>` (RFC 5005: Atom, and
    /// RSS with `atom:link` in its channel), for `format = "xml"`; a feed
    /// without one is the last page.
    FeedNext,
}

impl Pagination {
    /// [`Page`](Self::Page) numbers sent as query parameter `param`, from
    /// `start`; no other key set (the first empty page ends).
    ///
    /// ```
    /// use crawlpipe_sources::Pagination;
    ///
    /// assert!(matches!(Pagination::page("page", 1), Pagination::Page { start: 1, .. }));
    /// ```
    pub fn page(param: impl Into<String>, start: u64) -> Self {
        Self::Page {
            param: param.into(),
            start,
            total_pages: None,
            has_more: None,
            stop_when: None,
            page_size: None,
            page_size_param: None,
        }
    }

    /// A [`Cursor`](Self::Cursor) read at pointer `next` in the body and
    /// sent back as query parameter `param`; no other key set.
    pub fn cursor(param: impl Into<String>, next: impl Into<String>) -> Self {
        Self::Cursor {
            param: Some(param.into()),
            next: Some(next.into()),
            last_item: None,
            has_more: None,
            body_pointer: None,
            next_header: None,
            stop_when: None,
        }
    }

    /// [`Offset`](Self::Offset) pages of `limit` items, with the parameters
    /// `offset` and `limit`; no other key set (a short page ends).
    pub fn offset(limit: u64) -> Self {
        Self::Offset {
            offset_param: default_offset_param(),
            limit_param: default_limit_param(),
            limit,
            total: None,
            has_more: None,
            stop_when: None,
        }
    }

    /// A [`NextUrl`](Self::NextUrl) read at pointer `next` in the body.
    pub fn next_url(next: impl Into<String>) -> Self {
        Self::NextUrl {
            next: next.into(),
            has_more: None,
        }
    }
}

fn default_offset_param() -> String {
    "offset".to_owned()
}
fn default_limit_param() -> String {
    "limit".to_owned()
}
fn default_page_param() -> String {
    "page".to_owned()
}
fn default_page_start() -> u64 {
    1
}
