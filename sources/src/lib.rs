//! Sources for remote collections: paginated JSON APIs and scraped HTML.
//!
//! Both are [`Paged`](pipeline_core::Paged) sources built from data
//! ([`HttpSourceConfig`], deserializable from TOML), sharing one HTTP client,
//! the per-host politeness gates and circuit breakers, and the OAuth2 tokens
//! of an [`HttpContext`]. Requests are GETs or POSTs with a JSON body
//! (GraphQL included), authenticated by [`Auth`]. The cursor of every page is
//! its full URL (without the start URL's secret query parameters, added back
//! to each request; a token sent in the body rides in its fragment), so any
//! checkpoint resumes exactly there and none holds a credential.
//!
//! [`RawJsonSource`] is the fast path: the same source yielding each item's
//! JSON text ([`RawItem`](pipeline_core::RawItem)) instead of a parsed
//! `Value`, for sinks that store the text as it is.
//!
//! [`suggest`] looks at an API's first pages and proposes a configuration.
//!
//! Limits: a total deadline per request, a body cap after decompression,
//! redirects and next links only to allowed hosts, http(s) only, HTML nesting
//! refused beyond a depth before parsing. Header values are never logged nor
//! put in errors; URLs are shown with credentials redacted ([`redact`]).
//!
//! With the `test-util` feature, [`mock`] has a local paginated server with
//! scripted faults.
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

mod auth;
mod body_cursor;
mod charset;
mod config;
mod cursor_secrets;
mod endpoint;
mod error;
mod extract;
mod graphql;
mod html_depth;
mod http;
mod json_source;
mod link_header;
#[cfg(feature = "test-util")]
pub mod mock;
mod next_scan;
mod oauth2;
mod page_url;
mod pagination;
mod parse_pool;
mod prefetch;
mod raw_json_source;
mod raw_page;
pub mod redact;
mod request;
mod retry_after;
mod scrape;
mod scrape_config;
mod suggest;
mod url_template;

pub use self::auth::Auth;
pub use self::config::{Body, BreakerConfig, Headers, HttpSourceConfig, Method, Pagination};
pub use self::error::SourceError;
pub use self::extract::ScrapedItem;
pub use self::http::HttpContext;
pub use self::json_source::JsonSource;
pub use self::raw_json_source::RawJsonSource;
pub use self::scrape::ScrapeSource;
pub use self::scrape_config::ScrapeConfig;
pub use self::suggest::{Suggestion, suggest};
pub use self::url_template::{TemplateError, UrlTemplate};
pub use pipeline_core::policy::AutoThrottle;
