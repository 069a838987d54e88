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
//!
//! APIs that page through a POST body (search endpoints, GraphQL):
//!
//! ```toml
//! url = "https://api.example.com/graphql"
//! method = "POST"
//! body = { query = "query($after: String) { … }", variables = { first = 100 } }
//! items = "/data/repo/issues/nodes"
//! auth = { type = "bearer", token = "…" }
//! pagination = { style = "cursor", next = "/data/repo/issues/pageInfo/endCursor", has_more = "/data/repo/issues/pageInfo/hasNextPage", body_pointer = "/variables/after" }
//! ```

use std::time::Duration;

use crawlpipe_core::policy::{self, AutoThrottle, GateConfig};
use serde::{Deserialize, Deserializer};

use crate::dates::DateWindows;
use crate::format::{ResponseFormat, XmlConfig};
use crate::html::scrape_config::ScrapeConfig;
use crate::http::auth::Auth;
use crate::http::redact::default_secret_params;
use crate::http::status_rules::{BodyRules, StatusRules};
use crate::json::records::ItemsMissing;
pub use crate::paging::pagination::Pagination;
pub use crate::request_config::{Body, BodyFormat, Headers, Method};

/// Circuit-breaker configuration: `{ failures = 5, cooldown_ms = 30000 }`
/// (a missing key takes its default, shown here).
///
/// This is the data form of [`policy::BreakerConfig`], with the cooldown in
/// milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerSettings {
    /// Consecutive failures that open the breaker (default 5).
    pub failures: u32,
    /// How long it stays open before one probe, in ms (default 30 000).
    pub cooldown_ms: u64,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        let policy = policy::BreakerConfig::default();
        Self {
            failures: policy.failures,
            cooldown_ms: u64::try_from(policy.cooldown.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

impl From<BreakerSettings> for policy::BreakerConfig {
    fn from(s: BreakerSettings) -> Self {
        policy::BreakerConfig {
            failures: s.failures,
            cooldown: Duration::from_millis(s.cooldown_ms),
        }
    }
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
    /// Where a page's records are: a JSON pointer (`""`: the body) to an
    /// array (each element is a record) or an object (one record). A `*`
    /// segment takes every element of an array or every value of an object
    /// (`/adaccounts/*/adaccount`, `/rates/*`); see
    /// [`items_map_key`](Self::items_map_key). In a paginated collection a
    /// path without `*` must lead to an array (an object there is taken for
    /// an error object, and the page is retried, then fails). With
    /// `format = "xml"`, an element path (`/rss/channel/item`; `""`: an RSS
    /// or Atom feed's items); with `"jsonl"`, `""`.
    pub items: String,
    /// What a page without records at `items` (the pointer leads nowhere,
    /// or to null) means: a failed page (default) or no records.
    pub items_missing: ItemsMissing,
    /// The field that receives the member name of each record taken by a
    /// `*` from an object (`{"2024-01-02": {...}}` → `"date": "2024-01-02"`),
    /// so a key can use it (default none: the name is not kept).
    pub items_map_key: Option<String>,
    /// The format of response bodies: JSON (default), JSON Lines or XML
    /// (`body_format` is that of the request body).
    pub format: ResponseFormat,
    /// How XML bodies are read (with `format = "xml"`).
    pub xml: XmlConfig,
    /// The method of every request (default `GET`).
    pub method: Method,
    /// The JSON body sent with every request (needs `method = "POST"`; a
    /// POST without one sends `{}`). A body cursor is set into a copy of it.
    /// Never logged; `Debug` shows its keys only.
    pub body: Option<Body>,
    /// How `body` is sent: `json` (default) or `form`
    /// (`application/x-www-form-urlencoded`, from a flat table).
    pub body_format: BodyFormat,
    /// Walk a date range in windows, each a series of pages (default: no
    /// windows).
    pub windows: Option<DateWindows>,
    /// Credentials sent with every request to the start URL's host (never
    /// logged nor shown; default none).
    pub auth: Option<Auth>,
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
    pub breaker: Option<BreakerSettings>,
    /// For `offset` and `page` styles, whose next URL is known before the
    /// response: fetch the predicted next page while this one is fetched
    /// (two requests in flight, so it needs `max_in_flight_per_host` ≥ 2;
    /// one wasted request at the end). Default false.
    pub speculate: bool,
    /// Conditional requests on re-crawls (default true): a page answered
    /// with an `ETag` or `Last-Modified` is asked for again with
    /// `If-None-Match` / `If-Modified-Since`, and a `304` keeps its stored
    /// rows and next cursor instead of downloading it. Needs a sink that
    /// keeps validators (the SQL sink); requests holding the run's time
    /// (`{now…}`, `windows`) never send them (see
    /// [`Validators`](crawlpipe_core::Validators)).
    pub conditional: bool,
    /// Query parameter names whose values are secrets (default
    /// [`SECRET_PARAMS`](crate::http::redact::SECRET_PARAMS); case-insensitive,
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
    /// What an error status means (`{ 404 = "skip", "5xx" = "retry" }`,
    /// see [`StatusRules`]); default: 408, 429 and 5xx retried, other 4xx fail.
    pub on_status: StatusRules,
    /// What an error answer (or a 2xx body that is not a page) containing
    /// a text means (`{ "rate limit" = "retry" }`, see [`BodyRules`]).
    pub on_body: BodyRules,
    /// Whether the hosts' robots.txt is obeyed (default `None`: yes for a
    /// scraped collection, no for a JSON one; see
    /// [`robots_enabled`](Self::robots_enabled) and [`crate::robots`]).
    pub robots: Option<bool>,
    /// The `User-Agent` of every request, matched against robots.txt
    /// groups by its product token (default
    /// [`DEFAULT_USER_AGENT`](crate::robots::DEFAULT_USER_AGENT)). It wins
    /// over a `User-Agent` in `headers`.
    pub user_agent: Option<String>,
    /// Pace requests by the budget the server announces in its rate-limit
    /// headers (`X-RateLimit-*`, the IETF `RateLimit` fields), shared by
    /// every collection sending the same credential to the host (default
    /// true; see [`QuotaBudget`](crawlpipe_core::policy::QuotaBudget)).
    pub rate_limit_headers: bool,
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
            items_missing: ItemsMissing::Fail,
            items_map_key: None,
            format: ResponseFormat::Json,
            xml: XmlConfig::default(),
            method: Method::Get,
            body: None,
            body_format: BodyFormat::Json,
            windows: None,
            auth: None,
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
            conditional: true,
            secret_params: default_secret_params(),
            on_status: StatusRules::default(),
            on_body: BodyRules::default(),
            robots: None,
            user_agent: None,
            rate_limit_headers: true,
        }
    }

    /// Sets the items pointer.
    #[must_use]
    pub fn items(mut self, pointer: impl Into<String>) -> Self {
        self.items = pointer.into();
        self
    }

    /// Sets what a page without records at the items pointer means.
    #[must_use]
    pub fn items_missing(mut self, missing: ItemsMissing) -> Self {
        self.items_missing = missing;
        self
    }

    /// Keeps the member name of each record a `*` takes from an object, as
    /// the field `field` of the record.
    #[must_use]
    pub fn items_map_key(mut self, field: impl Into<String>) -> Self {
        self.items_map_key = Some(field.into());
        self
    }

    /// Sets the pagination style.
    #[must_use]
    pub fn pagination(mut self, pagination: Pagination) -> Self {
        self.pagination = pagination;
        self
    }

    /// Sets the method and the JSON body sent with every request.
    #[must_use]
    pub fn post(mut self, body: serde_json::Value) -> Self {
        self.method = Method::Post;
        self.body = Some(Body(body));
        self
    }

    /// Walks a date range in windows (see [`DateWindows`]).
    #[must_use]
    pub fn windows(mut self, windows: DateWindows) -> Self {
        self.windows = Some(windows);
        self
    }

    /// Sets the credentials.
    #[must_use]
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = Some(auth);
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

    /// Adds an `on_status` rule: answers with `status` (400 to 599) get `action`.
    #[must_use]
    pub fn on_status(mut self, status: u16, action: crate::StatusAction) -> Self {
        self.on_status = std::mem::take(&mut self.on_status).status(status, action);
        self
    }

    /// Adds an `on_body` rule: error answers containing `text` get `action`.
    #[must_use]
    pub fn on_body(mut self, text: impl Into<String>, action: crate::StatusAction) -> Self {
        self.on_body = std::mem::take(&mut self.on_body).contains(text, action);
        self
    }

    /// Paces requests by the budget the server announces in its
    /// rate-limit headers (`true`, the default) or ignores them.
    #[must_use]
    pub fn rate_limit_headers(mut self, on: bool) -> Self {
        self.rate_limit_headers = on;
        self
    }

    /// Turns conditional requests on re-crawls on (the default) or off
    /// (see [`conditional`](Self::conditional)).
    #[must_use]
    pub fn conditional(mut self, on: bool) -> Self {
        self.conditional = on;
        self
    }

    /// Sets what to scrape.
    #[must_use]
    pub fn scrape(mut self, scrape: ScrapeConfig) -> Self {
        self.scrape = Some(scrape);
        self
    }

    /// Obeys the hosts' robots.txt (`true`) or not (`false`), whatever the
    /// default for the collection's kind.
    #[must_use]
    pub fn robots(mut self, obey: bool) -> Self {
        self.robots = Some(obey);
        self
    }

    /// Sets the `User-Agent` sent with every request (and matched against
    /// robots.txt groups by its product token).
    #[must_use]
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// Whether robots.txt is obeyed: `robots` if set, else `true` for a
    /// scraped collection and `false` for a JSON one.
    pub fn robots_enabled(&self) -> bool {
        self.robots.unwrap_or(self.scrape.is_some())
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
