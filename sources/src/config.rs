//! Source configuration as data, deserializable from TOML or JSON.
//!
//! ```toml
//! url = "https://api.github.com/repos/o/r/issues?state=all&per_page=100"
//! items = ""
//! headers = { Authorization = "Bearer …" }
//! pagination = { style = "link_header" }
//! min_delay_ms = 250
//! breaker = { failures = 5, cooldown_ms = 30000 }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use pipeline_core::policy::{self, AutoThrottle, GateConfig};
use serde::{Deserialize, Deserializer};

use crate::redact::default_secret_params;

/// Header names and values sent on every request. `Debug` shows names only:
/// values are usually tokens.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Headers(pub BTreeMap<String, String>);

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, "<redacted>")))
            .finish()
    }
}

/// How the next page is found. Every style builds the next page's full URL,
/// which is the cursor, so any checkpoint is resumable.
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
    },
    /// A token sent back as the query parameter `param`.
    Cursor {
        /// The query parameter carrying the token (`cursor`, `starting_after`).
        param: String,
        /// Pointer to the next token in the body (Slack style); empty ends.
        #[serde(default)]
        next: Option<String>,
        /// Pointer into the last item giving the token (Stripe style, `/id`).
        #[serde(default)]
        last_item: Option<String>,
        /// Pointer to a boolean saying whether there are more pages.
        #[serde(default)]
        has_more: Option<String>,
    },
    /// Offset and limit query parameters.
    Offset {
        /// The offset parameter (default `offset`).
        #[serde(default = "default_offset_param")]
        offset_param: String,
        /// The limit parameter (default `limit`).
        #[serde(default = "default_limit_param")]
        limit_param: String,
        /// Items per page requested.
        limit: u64,
        /// Pointer to the total item count; without it a short page ends.
        #[serde(default)]
        total: Option<String>,
    },
    /// A page-number parameter counting from `start`.
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
    },
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

/// Circuit-breaker configuration: `{ failures = 5, cooldown_ms = 30000 }`
/// (a missing key takes its default, shown here).
///
/// This is the data form of [`policy::BreakerConfig`], with the cooldown in
/// milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker (default 5).
    pub failures: u32,
    /// How long it stays open before one probe, in ms (default 30 000).
    pub cooldown_ms: u64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        let policy = policy::BreakerConfig::default();
        Self {
            failures: policy.failures,
            cooldown_ms: u64::try_from(policy.cooldown.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

impl From<BreakerConfig> for policy::BreakerConfig {
    fn from(s: BreakerConfig) -> Self {
        policy::BreakerConfig {
            failures: s.failures,
            cooldown: Duration::from_millis(s.cooldown_ms),
        }
    }
}

/// What to scrape from HTML pages:
/// `{ item = "section", next = "link[rel=next] @href", fields = { title = "h1, h2", anchor = "@id" } }`.
///
/// A field is a CSS selector (text of its first match inside the item), a
/// selector and an attribute (`"a.title @href"`), or `"@attr"` for an
/// attribute of the item itself. Attribute values are returned as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeConfig {
    /// Selector of one item.
    pub item: String,
    /// Selector of the next-page link, with an attribute (default `@href`).
    #[serde(default)]
    pub next: Option<String>,
    /// Field name → selector spec.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// Start the next page (download, parse) while this page's items are
    /// extracted (default true).
    #[serde(default = "yes")]
    pub overlap: bool,
    /// Deepest element nesting accepted (default 512).
    #[serde(default = "default_depth")]
    pub max_depth: usize,
}

fn yes() -> bool {
    true
}
fn default_depth() -> usize {
    512
}

/// One HTTP collection: where it starts, how it pages, how politely.
///
/// Build a JSON source with [`JsonSource::from_config`](crate::JsonSource::from_config)
/// or, when `scrape` is set, an HTML one with
/// [`ScrapeSource::from_config`](crate::ScrapeSource::from_config).
///
/// Every key is optional when deserializing: a missing one takes the value
/// [`HttpSourceConfig::new`] gives it, so a table of defaults merged with a
/// collection's own table deserializes straight into this type. Unknown keys
/// are refused. (`url` defaults to empty, which building a source refuses.)
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSourceConfig {
    /// The first page's URL (http or https).
    pub url: String,
    /// JSON pointer to the items array; `""` means the body is the array.
    pub items: String,
    /// Headers sent on every request (never logged).
    pub headers: Headers,
    /// How pages follow each other (default: a single page).
    pub pagination: Pagination,
    /// Scrape HTML instead of reading JSON.
    pub scrape: Option<ScrapeConfig>,
    /// Minimum time between request starts on the host, in ms (default 0).
    ///
    /// Politeness settings belong to the host: the first source built for a
    /// host in an [`HttpContext`](crate::HttpContext) sets them for all.
    pub min_delay_ms: u64,
    /// Random extra delay per request, in ms (default 0).
    pub jitter_ms: u64,
    /// Requests in flight per host at most, shared by every collection on
    /// the host (default 1: polite by default; raise it for APIs that
    /// welcome parallel requests, and for `speculate` to overlap anything).
    pub max_in_flight_per_host: usize,
    /// Adaptive delay from latency (AutoThrottle style).
    pub autothrottle: Option<AutoThrottle>,
    /// Total deadline per request, body included, in ms (default 60 000).
    pub timeout_ms: u64,
    /// Body cap after decompression, in bytes (default 32 MiB).
    pub max_body_bytes: u64,
    /// Hosts redirects and next links may lead to (default: the start URL's host).
    pub allowed_hosts: Vec<String>,
    /// Circuit breaker of the host (default: 5 failures, 30 s).
    pub breaker: Option<BreakerConfig>,
    /// For `offset` and `page` styles, whose next URL is known before the
    /// response: fetch the predicted next page while this one is fetched
    /// (two requests in flight, so it needs `max_in_flight_per_host` ≥ 2;
    /// one wasted request at the end). Default false.
    pub speculate: bool,
    /// Query parameter names whose values are secrets (default
    /// [`SECRET_PARAMS`](crate::redact::SECRET_PARAMS); case-insensitive,
    /// `-` and `_` alike).
    ///
    /// Their values are shown as `***` wherever this crate shows a URL, and
    /// those in the start URL are kept out of cursors (so out of stored
    /// checkpoints) and added back to each request on the start URL's host.
    /// Names given in a file are *added* to the default list, so a short
    /// list cannot expose `access_token` by mistake; in code the field is
    /// the whole list.
    #[serde(deserialize_with = "with_default_secret_params")]
    pub secret_params: Vec<String>,
}

fn with_default_secret_params<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let extra = Vec::<String>::deserialize(d)?;
    let mut names = default_secret_params();
    for name in extra {
        if !names.iter().any(|n| n.eq_ignore_ascii_case(&name)) {
            names.push(name);
        }
    }
    Ok(names)
}

fn default_in_flight() -> usize {
    1
}
fn default_timeout() -> u64 {
    60_000
}
fn default_body_cap() -> u64 {
    32 * 1024 * 1024
}

impl Default for HttpSourceConfig {
    /// The defaults of [`HttpSourceConfig::new`], with an empty URL.
    fn default() -> Self {
        Self::new("")
    }
}

impl HttpSourceConfig {
    /// A configuration with every default, starting at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            items: String::new(),
            headers: Headers::default(),
            pagination: Pagination::None,
            scrape: None,
            min_delay_ms: 0,
            jitter_ms: 0,
            max_in_flight_per_host: default_in_flight(),
            autothrottle: None,
            timeout_ms: default_timeout(),
            max_body_bytes: default_body_cap(),
            allowed_hosts: Vec::new(),
            breaker: None,
            speculate: false,
            secret_params: default_secret_params(),
        }
    }

    /// Sets the items pointer.
    #[must_use]
    pub fn items(mut self, pointer: impl Into<String>) -> Self {
        self.items = pointer.into();
        self
    }

    /// Sets the pagination style.
    #[must_use]
    pub fn pagination(mut self, pagination: Pagination) -> Self {
        self.pagination = pagination;
        self
    }

    /// Adds a header sent on every request.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.0.insert(name.into(), value.into());
        self
    }

    /// Adds a query parameter name whose values are secrets (see
    /// [`secret_params`](Self::secret_params)).
    #[must_use]
    pub fn secret_param(mut self, name: impl Into<String>) -> Self {
        self.secret_params.push(name.into());
        self
    }

    /// Sets what to scrape.
    #[must_use]
    pub fn scrape(mut self, scrape: ScrapeConfig) -> Self {
        self.scrape = Some(scrape);
        self
    }

    /// The gate policy these keys describe.
    pub fn gate_config(&self) -> GateConfig {
        GateConfig::default()
            .min_interval(Duration::from_millis(self.min_delay_ms))
            .jitter(Duration::from_millis(self.jitter_ms))
            .max_in_flight(self.max_in_flight_per_host)
            .adaptive(self.autothrottle.clone())
    }

    /// The breaker policy these keys describe (defaults when not configured).
    pub fn breaker_config(&self) -> policy::BreakerConfig {
        self.breaker.map(Into::into).unwrap_or_default()
    }
}

impl ScrapeConfig {
    /// Items matching `item`, with no fields and no next link yet.
    pub fn new(item: impl Into<String>) -> Self {
        Self {
            item: item.into(),
            next: None,
            fields: BTreeMap::new(),
            overlap: true,
            max_depth: default_depth(),
        }
    }

    /// Sets the next-link selector.
    #[must_use]
    pub fn next(mut self, spec: impl Into<String>) -> Self {
        self.next = Some(spec.into());
        self
    }

    /// Adds a field.
    #[must_use]
    pub fn field(mut self, name: impl Into<String>, spec: impl Into<String>) -> Self {
        self.fields.insert(name.into(), spec.into());
        self
    }

    /// Turns the fetch/extract overlap on or off.
    #[must_use]
    pub fn overlap(mut self, on: bool) -> Self {
        self.overlap = on;
        self
    }
}
