//! The `crawl` configuration file (TOML): a public contract, documented in docs/configuration.md.
//!
//! Parsing is strict: unknown keys are errors naming the line; `${VAR}` is
//! expanded from the environment in `url`, `database`, `metrics_addr`,
//! `admin_token`, `alert_webhook`, `auth`, `body` and header values only (after parsing, so an error never prints a secret).
//!
//! A collection's table is read as the crawl's own keys (`name`, `key`,
//! `lookahead`, `max_pages`, `retry`) plus the source's
//! [`HttpSourceConfig`], after `[defaults]` is merged under it; a key the
//! source's config gains is a config key here too, with nothing to restate.

mod auth_select;
mod children;
mod cluster;
mod collection;
mod database_url;
mod error;
mod key;
mod merge;
mod names;
mod operations;
mod ranges;
mod reader;
mod runtime;
mod settings;
mod shape;
mod tables;
#[cfg(test)]
mod tests;
mod transform;
mod values;
mod vars;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crawlpipe_core::runner;
use crawlpipe_sources::HttpSourceConfig;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

pub use self::children::IncrementalConfig;
use self::children::{check_parents, commit_parents_soon};
use self::collection::FileSettings;
pub use self::database_url::check_database_url;
pub use self::error::ConfigError;
pub use self::key::KeyConfig;
use self::names::SeenNames;
pub use self::names::validate_name;
pub use self::operations::AlertConfig;
use self::reader::Reader;
pub use self::runtime::{Mode, RuntimeConfig, Secret};
pub use self::settings::{CollectionSettings, DEFAULT_MAX_PAGES, PARENT_BATCH_TIMEOUT, RetryConfig};
use self::shape::{NOT_DEFAULTS, TopLevel};
pub use self::tables::{Columns, TableConfig};

/// A collection ready to crawl: defaults applied, variables expanded.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionConfig {
    /// The name: checkpoint key, table name, metric label.
    pub name: String,
    /// JSON: pointer to each item's key (default `/id`), a composite of
    /// parts, or keyless. Scraping: a field name (default: page URL + item
    /// index).
    pub key: Option<KeyConfig>,
    /// The crawl's own settings (lookahead, page limit, retry).
    pub settings: CollectionSettings,
    /// A child collection: crawled once per item of this collection, its
    /// `url` a template (`{/pointer}` = that field of the parent item).
    pub parent: Option<String>,
    /// Incremental refresh.
    pub incremental: Option<IncrementalConfig>,
    /// The table's typed columns, `on_mismatch` and unnested arrays.
    pub table: TableConfig,
    /// Fields added to and removed from each record before it is stored.
    pub transform: Option<crawlpipe_sources::RecordTransform>,
    /// Items given in the file instead of fetched (`values`): the parent
    /// a child collection fans out over.
    pub values: Option<Vec<serde_json::Value>>,
    /// The source: URL, items, pagination or scraping, politeness, limits.
    pub http: HttpSourceConfig,
    /// The collection's table as written (defaults merged, `${VAR}` not
    /// expanded), as JSON with its secrets masked: what the status page
    /// shows as its config.
    pub description: serde_json::Value,
}

/// A whole configuration, validated.
#[derive(Debug, Clone)]
pub struct CrawlConfig {
    /// Collections at once.
    pub concurrency: usize,
    /// Children of child collections at once (their own slots).
    pub children: usize,
    /// Database URL.
    pub database: String,
    /// Upsert or staging.
    pub mode: Mode,
    /// Observability server address.
    pub metrics_addr: Option<String>,
    /// Resumes per collection.
    pub max_resumes: u32,
    /// The bearer token enabling run-now on the status server.
    pub admin_token: Option<Secret>,
    /// In a cluster: the lease duration (`None`: this process alone).
    pub cluster: Option<Duration>,
    /// Host names the status server answers to, besides its address and `localhost`.
    pub status_hosts: Vec<String>,
    /// Runs kept per collection in the history (`pipeline_runs`).
    pub history: usize,
    /// Alerts: where and which (`None`: none).
    pub alerts: Option<AlertConfig>,
    /// The line of each collection's `name` in the file, to point at it.
    pub collection_lines: BTreeMap<String, usize>,
    /// The collections, in file order.
    pub collections: Vec<CollectionConfig>,
}

impl CrawlConfig {
    /// Reads and validates a config file, expanding `${VAR}` from the process environment.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the file and the line or key that is wrong.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text, &|var| std::env::var(var).ok())
    }

    /// Parses config text; `env` resolves `${VAR}`.
    ///
    /// `[defaults]` is merged under each `[[collection]]` as TOML tables
    /// (collection keys win, tables are replaced whole, `headers` merge by name), then the merged table is read as the crawl's own
    /// keys plus the source's [`HttpSourceConfig`].
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `file` and the line or key that is wrong.
    pub fn parse(file: &Path, text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let reader = Reader::new(file, text, env)?;
        let top: TopLevel = toml::from_str(text).map_err(|e| reader.parse_error(None, e))?;
        // Every number in range before any is used, each error with its line.
        ranges::check_file(text, &reader.root)
            .map_err(|(line, location, reason)| reader.invalid(Some(line), location, &reason))?;
        let runtime = read_runtime(&reader, &top.runtime)?;
        if top.collection.is_empty() {
            return Err(reader.invalid(None, "collection".into(), "the file defines no [[collection]]"));
        }
        let defaults = read_defaults(&reader)?;
        let settings = FileSettings {
            defaults: &defaults,
            mode: top.runtime.mode,
            cluster: runtime.cluster.is_some(),
        };
        let tables = match reader.root.get("collection").map(Spanned::get_ref) {
            Some(DeValue::Array(tables)) => tables.iter().collect(),
            _ => Vec::new(),
        };
        let mut seen = SeenNames::default();
        let mut parent_lines: BTreeMap<String, Option<usize>> = BTreeMap::new();
        let mut collection_lines: BTreeMap<String, usize> = BTreeMap::new();
        let mut collections = Vec::with_capacity(tables.len());
        for (index, table) in tables.into_iter().enumerate() {
            let read = collection::read(&reader, &settings, index, table, &mut seen)?;
            let name = read.config.name.clone();
            parent_lines.insert(name.clone(), read.parent_line);
            if let Some(line) = read.name_line {
                collection_lines.insert(name, line);
            }
            collections.push(read.config);
        }
        check_parents(&collections).map_err(|(name, reason)| {
            let line = parent_lines.get(&name).copied().flatten();
            reader.invalid(line, format!("collection {name:?}: parent"), &reason)
        })?;
        commit_parents_soon(&mut collections);
        Ok(Self {
            history: operations::history(top.runtime.history),
            alerts: runtime.alerts,
            concurrency: runtime.concurrency,
            children: runtime.children,
            database: runtime.database,
            mode: top.runtime.mode.unwrap_or_default(),
            metrics_addr: runtime.metrics_addr,
            admin_token: runtime.admin_token,
            cluster: runtime.cluster,
            status_hosts: top.runtime.status_hosts.clone().unwrap_or_default(),
            collection_lines,
            max_resumes: top.runtime.max_resumes.unwrap_or(runner::DEFAULT_MAX_RESUMES),
            collections,
        })
    }
}

/// `[runtime]`'s values that need checking or expanding.
struct Runtime {
    concurrency: usize,
    children: usize,
    database: String,
    metrics_addr: Option<String>,
    cluster: Option<Duration>,
    admin_token: Option<Secret>,
    alerts: Option<AlertConfig>,
}

/// Reads `[runtime]`: defaults applied, `${VAR}` expanded, the database URL
/// and the cluster settings checked.
fn read_runtime(reader: &Reader<'_>, runtime: &RuntimeConfig) -> Result<Runtime, ConfigError> {
    let concurrency = runtime.concurrency.unwrap_or(runner::DEFAULT_CONCURRENCY);
    let children = runtime.children.unwrap_or(2 * concurrency);
    let database = reader.expand(
        runtime.database.as_deref().unwrap_or("sqlite://crawl.db"),
        "runtime.database".into(),
    )?;
    check_database_url(&database).map_err(|reason| {
        reader.invalid(reader.runtime_line("database"), "runtime.database".into(), reason)
    })?;
    let metrics_addr = runtime
        .metrics_addr
        .as_deref()
        .map(|a| reader.expand(a, "runtime.metrics_addr".into()))
        .transpose()?;
    let cluster = cluster::lease(runtime.cluster.unwrap_or(false), runtime.lease_ms, &database).map_err(
        |(key, reason)| {
            let line = reader.runtime_line(key.trim_start_matches("runtime."));
            reader.invalid(line, key.into(), reason)
        },
    )?;
    let admin_token = runtime
        .admin_token
        .as_deref()
        .map(|t| reader.expand(t, "runtime.admin_token".into()))
        .transpose()?
        .filter(|t| !t.is_empty())
        .map(Secret);
    let alert_webhook = runtime
        .alert_webhook
        .as_deref()
        .map(|u| reader.expand(u, "runtime.alert_webhook".into()))
        .transpose()?;
    let alerts =
        operations::alerts(alert_webhook, runtime.alert_on.as_deref()).map_err(|(key, reason)| {
            reader.invalid(
                reader.runtime_line(key.trim_start_matches("runtime.")),
                key.into(),
                &reason,
            )
        })?;
    Ok(Runtime {
        concurrency,
        children,
        database,
        metrics_addr,
        cluster,
        admin_token,
        alerts,
    })
}

/// `[defaults]`, refusing keys that identify one collection.
fn read_defaults<'a>(reader: &Reader<'a>) -> Result<DeTable<'a>, ConfigError> {
    let defaults = match reader.root.get("defaults").map(Spanned::get_ref) {
        Some(DeValue::Table(t)) => t.clone(),
        _ => DeTable::new(),
    };
    for key in NOT_DEFAULTS {
        if let Some((k, _)) = defaults.get_key_value(*key) {
            let line = Some(reader.line_at(k.span().start));
            return Err(reader.invalid(
                line,
                format!("defaults.{key}"),
                "is per collection; set it in each [[collection]]",
            ));
        }
    }
    Ok(defaults)
}
