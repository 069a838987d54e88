//! The file's raw shape, before validation: the top level, and the crawl's
//! own keys of a collection table (the rest is the source's config).

use serde::Deserialize;

use super::{IncrementalConfig, KeyConfig, RetryConfig, RuntimeConfig};

/// The crawl-only keys of a collection's table, after `[defaults]` merged in.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CrawlKeys {
    pub(super) name: String,
    pub(super) key: Option<KeyConfig>,
    pub(super) lookahead: Option<usize>,
    pub(super) max_pages: Option<u64>,
    pub(super) retry: Option<RetryConfig>,
    pub(super) every: Option<String>,
    pub(super) stale_after: Option<String>,
    pub(super) parent: Option<String>,
    pub(super) incremental: Option<IncrementalConfig>,
    pub(super) columns: Option<toml::Value>,
    pub(super) on_mismatch: Option<String>,
    pub(super) unnest: Option<toml::Value>,
    pub(super) transform: Option<toml::Value>,
    pub(super) values: Option<toml::Value>,
    pub(super) text_keys: Option<bool>,
}

/// The fields of [`CrawlKeys`]: split off before the rest is read as the
/// source's config, whose own `deny_unknown_fields` then rejects typos.
pub(super) const CRAWL_KEYS: &[&str] = &[
    "name",
    "key",
    "lookahead",
    "max_pages",
    "retry",
    "every",
    "stale_after",
    "parent",
    "incremental",
    "columns",
    "on_mismatch",
    "unnest",
    "transform",
    "values",
    "text_keys",
];

/// Keys that identify one collection and so make no sense in `[defaults]`.
pub(super) const NOT_DEFAULTS: &[&str] = &["name", "url", "parent", "incremental", "values"];

/// The file's top level, read first so that `[runtime]` errors and unknown
/// top-level keys carry toml's line and column.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TopLevel {
    #[serde(default)]
    pub(super) runtime: RuntimeConfig,
    #[serde(default)]
    #[allow(dead_code)]
    pub(super) defaults: Option<toml::Table>,
    #[serde(default)]
    pub(super) collection: Vec<toml::Table>,
}
