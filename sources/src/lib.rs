//! Sources for remote collections: paginated JSON APIs and scraped HTML.
//!
//! Both are [`Paged`](crawlpipe_core::Paged) sources built from data
//! ([`HttpSourceConfig`], deserializable from TOML), sharing one HTTP client,
//! the per-host politeness gates and circuit breakers, and the OAuth2 tokens
//! of an [`HttpContext`]. Requests are GETs or POSTs with a JSON body
//! (GraphQL included), authenticated by [`Auth`]. The cursor of every page is
//! its full URL (without the start URL's secret query parameters, added back
//! to each request; a token sent in the body rides in its fragment), so any
//! checkpoint resumes exactly there and none holds a credential.
//!
//! A body may also be JSON Lines or XML (RSS, Atom, any XML with an item
//! element path): [`ResponseFormat`], each item mapped to JSON ([`XmlConfig`]).
//!
//! [`RawJsonSource`] is the fast path: the same source yielding each item's
//! JSON text ([`RawItem`](crawlpipe_core::RawItem)) instead of a parsed
//! `Value`, for sinks that store the text as it is.
//!
//! [`robots`]: scraped collections (and JSON ones that opt in) obey their
//! hosts' robots.txt and its crawl delay; every request carries the
//! collection's `User-Agent` ([`robots::DEFAULT_USER_AGENT`] by default).
//!
//! [`suggest`] looks at an API's first pages and proposes a configuration.
//!
//! Limits: a total deadline per request, a body cap after decompression,
//! redirects and next links only to allowed hosts, http(s) only, HTML nesting
//! refused beyond a depth before parsing. Header values are never logged nor
//! put in errors; URLs are shown with credentials redacted ([`redact`]).
//!
//! With the `test-util` feature, `mock` has a local paginated server with
//! scripted faults.
//!
//! # Examples
//!
//! A Link-header API crawled into a collecting sink (here the crate's mock
//! server stands in for the API):
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use crawlpipe_core::Pipeline;
//! use crawlpipe_core::testkit::CollectSink;
//! use crawlpipe_sources::mock::{MockConfig, MockServer};
//! use crawlpipe_sources::{HttpContext, HttpSourceConfig, JsonSource, Pagination};
//!
//! let server = MockServer::start(MockConfig::new(250, 100)).await?;
//! let config = HttpSourceConfig::new(server.url("/link")).pagination(Pagination::LinkHeader);
//! let source = JsonSource::from_config(&config, &HttpContext::new()?)?;
//! let sink = CollectSink::new();
//! let items = sink.handle();
//! let report = Pipeline::paged("users", source).sink(sink).spawn()?.join().await;
//! assert!(report.outcome.is_completed());
//! assert_eq!((report.progress.pages, items.items().len()), (3, 250));
//! # server.shutdown().await;
//! # Ok(())
//! # }
//! ```
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

mod config;
mod config_check;
pub mod dates;
mod error;
mod format;
mod html;
mod http;
mod json;
#[cfg(feature = "test-util")]
pub mod mock;
mod paging;
mod request_config;
pub mod robots;
mod suggest;
mod transform;

pub use self::config::{Body, BodyFormat, BreakerSettings, Headers, HttpSourceConfig, Method, Pagination};
pub use self::config_check::InvalidKey;
pub use self::error::SourceError;
pub use self::format::{ResponseFormat, XML_MAX_DEPTH, XmlConfig};
pub use self::html::extract::ScrapedItem;
pub use self::html::scrape::ScrapeSource;
pub use self::html::scrape_config::ScrapeConfig;
pub use self::http::auth::Auth;
pub use self::http::oauth2_config::{ClientAuth, GrantType, OAuth2};
pub use self::http::redact;
pub use self::http::status_rules::{BodyRules, StatusAction, StatusRules};
pub use self::http::token_request_config::{TokenBodyFormat, TokenRequest};
pub use self::http::url_template::{TemplateError, UrlTemplate};
pub use self::http::{HttpContext, WebhookSender};
pub use self::json::json_source::JsonSource;
pub use self::json::raw_json_source::RawJsonSource;
pub use self::json::records::ItemsMissing;
pub use self::json::values_source::ValuesSource;
pub use self::paging::query_string as query;
pub use self::suggest::{Suggestion, suggest};
pub use self::transform::{FieldTemplate, RecordTransform, TransformError};
pub use crawlpipe_core::policy::AutoThrottle;
