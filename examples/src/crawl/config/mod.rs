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

mod children;
mod cluster;
mod database_url;
mod error;
mod key;
mod merge;
mod names;
mod operations;
mod ranges;
mod runtime;
mod settings;
mod shape;
mod tables;
#[cfg(test)]
mod tests;
mod vars;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crawlpipe_sources::{HttpSourceConfig, Pagination};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

pub use self::children::IncrementalConfig;
use self::children::{check_incremental, check_parents, commit_parents_soon};
pub use self::database_url::check_database_url;
pub use self::error::ConfigError;
pub use self::key::KeyConfig;
use self::names::SeenNames;
pub use self::names::validate_name;
pub use self::operations::AlertConfig;
pub use self::runtime::{Mode, RuntimeConfig, Secret};
pub use self::settings::{PARENT_BATCH_TIMEOUT, PipelineConfig, RetryConfig};
use self::shape::{CRAWL_KEYS, CrawlKeys, NOT_DEFAULTS, TopLevel};
pub use self::tables::{Columns, TableConfig};
use self::vars::expand_vars;

/// The longest `every`: a schedule past it is a typo, and would overflow clocks.
const MAX_EVERY: Duration = Duration::from_secs(366 * 86_400);

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
    pub settings: PipelineConfig,
    /// A child collection: crawled once per item of this collection, its
    /// `url` a template (`{/pointer}` = that field of the parent item).
    pub parent: Option<String>,
    /// Incremental refresh.
    pub incremental: Option<IncrementalConfig>,
    /// The table's typed columns, `on_mismatch` and unnested arrays.
    pub table: TableConfig,
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
        let parse_error = |collection: Option<&str>, e: toml::de::Error| ConfigError::Parse {
            file: file.to_owned(),
            message: match collection {
                Some(name) => format!("collection {name:?}: {}", e.to_string().trim_end()),
                None => e.to_string().trim_end().to_owned(),
            },
        };
        let top: TopLevel = toml::from_str(text).map_err(|e| parse_error(None, e))?;
        let invalid = |line: Option<usize>, location: String, reason: &str| ConfigError::Invalid {
            file: file.to_owned(),
            line,
            location,
            reason: reason.to_owned(),
        };
        let expand_at = |value: &str, line: Option<usize>, location: String| -> Result<String, ConfigError> {
            expand_vars(value, env).map_err(|var| ConfigError::MissingEnv {
                file: file.to_owned(),
                line,
                location,
                var,
            })
        };

        // Every number in range before any is used, each error with its line.
        let spanned = DeTable::parse(text)
            .map_err(|e| parse_error(None, e))?
            .into_inner();
        ranges::check_file(text, &spanned)
            .map_err(|(line, location, reason)| invalid(Some(line), location, &reason))?;
        let runtime_line = |key: &str| match spanned.get("runtime").map(Spanned::get_ref) {
            Some(DeValue::Table(t)) => t.get(key).map(|v| merge::line_at(text, v.span().start)),
            _ => None,
        };

        let expand = |value: &str, location: String| {
            let line = runtime_line(location.trim_start_matches("runtime."));
            expand_at(value, line, location)
        };

        let concurrency = top.runtime.concurrency.unwrap_or(4);
        if concurrency == 0 {
            return Err(invalid(
                runtime_line("concurrency"),
                "runtime.concurrency".into(),
                "must be at least 1",
            ));
        }
        let children = top.runtime.children.unwrap_or(2 * concurrency);
        if children == 0 {
            return Err(invalid(
                runtime_line("children"),
                "runtime.children".into(),
                "must be at least 1",
            ));
        }
        let database = expand(
            top.runtime.database.as_deref().unwrap_or("sqlite://crawl.db"),
            "runtime.database".into(),
        )?;
        check_database_url(&database)
            .map_err(|reason| invalid(runtime_line("database"), "runtime.database".into(), reason))?;
        let metrics_addr = top
            .runtime
            .metrics_addr
            .as_deref()
            .map(|a| expand(a, "runtime.metrics_addr".into()))
            .transpose()?;
        let cluster = cluster::lease(
            top.runtime.cluster.unwrap_or(false),
            top.runtime.lease_ms,
            &database,
        )
        .map_err(|(key, reason)| {
            let line = runtime_line(key.trim_start_matches("runtime."));
            invalid(line, key.into(), reason)
        })?;
        if top.collection.is_empty() {
            return Err(invalid(
                None,
                "collection".into(),
                "the file defines no [[collection]]",
            ));
        }

        // Parsed again with spans: the first parse checked the shape.
        let root = DeTable::parse(text)
            .map_err(|e| parse_error(None, e))?
            .into_inner();
        let defaults = match root.get("defaults").map(|v| (v.span(), v.get_ref())) {
            Some((_, DeValue::Table(t))) => t.clone(),
            _ => DeTable::new(),
        };
        for key in NOT_DEFAULTS {
            if let Some((k, _)) = defaults.get_key_value(*key) {
                let line = Some(merge::line_at(text, k.span().start));
                return Err(invalid(
                    line,
                    format!("defaults.{key}"),
                    "is per collection; set it in each [[collection]]",
                ));
            }
        }
        let tables = match root.get("collection").map(Spanned::get_ref) {
            Some(DeValue::Array(tables)) => tables.iter().collect(),
            _ => Vec::new(),
        };

        let mut seen = SeenNames::default();
        let mut parent_lines: BTreeMap<String, Option<usize>> = BTreeMap::new();
        let mut collection_lines: BTreeMap<String, usize> = BTreeMap::new();
        let mut collections = Vec::with_capacity(tables.len());
        for (index, table) in tables.into_iter().enumerate() {
            let DeValue::Table(own) = table.get_ref() else {
                return Err(invalid(
                    None,
                    format!("collection #{}", index + 1),
                    "must be a table",
                ));
            };
            let mut merged = merge::merge(&defaults, own);
            let label = match own.get("name").and_then(|n| n.get_ref().as_str()) {
                Some(name) => name.to_owned(),
                None => format!("#{}", index + 1),
            };
            let line_of = |key: &str| merged.get(key).map(|v| merge::line_at(text, v.span().start));
            let name_line = line_of("name");
            let lines: BTreeMap<&'static str, Option<usize>> = [
                "max_in_flight_per_host",
                "max_pages",
                "timeout_ms",
                "pagination",
                "items",
                "items_map_key",
                "key",
                "every",
                "stale_after",
                "parent",
                "incremental",
                "url",
                "headers",
                "auth",
                "body",
                "windows",
                "format",
                "xml",
                "columns",
                "on_mismatch",
                "unnest",
            ]
            .into_iter()
            .map(|k| (k, line_of(k)))
            .collect();
            let written: toml::Value = merge::deserialize(merged.clone(), table.span(), text)
                .map_err(|e| parse_error(Some(&label), e))?;
            let crawl_table = merge::split_off(&mut merged, CRAWL_KEYS);
            let crawl: CrawlKeys = merge::deserialize(crawl_table, table.span(), text)
                .map_err(|e| parse_error(Some(&label), e))?;
            let mut http: HttpSourceConfig =
                merge::deserialize(merged, table.span(), text).map_err(|e| parse_error(Some(&label), e))?;

            let at = |key: &str| format!("collection {:?}: {key}", crawl.name);
            let fail = |key: &'static str, reason: &str| invalid(lines[key], at(key), reason);
            if let Err(reason) = validate_name(&crawl.name).and_then(|()| seen.insert(&crawl.name)) {
                return Err(invalid(name_line, at("name"), &reason));
            }
            parent_lines.insert(crawl.name.clone(), lines["parent"]);
            http.url = expand_at(&http.url, lines["url"], at("url"))?;
            for (name, value) in http.headers.0.iter_mut() {
                *value = expand_at(value, lines["headers"], at(&format!("headers.{name}")))?;
            }
            if let Some(auth) = http.auth.as_mut() {
                for value in auth.strings_mut() {
                    *value = expand_at(value, lines["auth"], at("auth"))?;
                }
            }
            if let Some(body) = http.body.as_mut() {
                for value in body.strings_mut() {
                    *value = expand_at(value, lines["body"], at("body"))?;
                }
            }
            if let Some(line) = name_line {
                collection_lines.insert(crawl.name.clone(), line);
            }
            if http.max_in_flight_per_host == 0 {
                return Err(fail("max_in_flight_per_host", "must be at least 1"));
            }
            if crawl.max_pages == Some(0) {
                return Err(fail("max_pages", "must be at least 1"));
            }
            if http.timeout_ms == 0 {
                return Err(fail("timeout_ms", "must be at least 1"));
            }
            let scraped = http.scrape.is_some();
            if scraped && http.pagination != Pagination::None {
                return Err(fail(
                    "pagination",
                    "a scraped collection follows its `scrape.next` selector; remove `pagination`",
                ));
            }
            if let Err(e) = http.check_format() {
                let line = lines
                    .get(e.key.split('.').next().unwrap_or_default())
                    .copied()
                    .flatten();
                return Err(invalid(line.or(name_line), at(e.key), &e.reason));
            }
            if !scraped && !http.items.is_empty() && !http.items.starts_with('/') {
                return Err(fail("items", "a JSON pointer is empty or starts with '/'"));
            }
            if let Some(key) = &crawl.key {
                key.check(scraped, crawl.parent.is_some())
                    .map_err(|reason| fail("key", &reason))?;
                if *key == KeyConfig::Keyless && crawl.incremental.is_some() {
                    return Err(fail(
                        "key",
                        "false (keyless) cannot be used with incremental: a keyless run replaces the \
                         previous run's rows, and an incremental run fetches only what changed",
                    ));
                }
            }
            if let Some(field) = &http.items_map_key
                && !http.items.split('/').any(|s| s == "*")
            {
                let reason = format!(
                    "{field:?} needs a `*` in items (e.g. \"/rates/*\"): only a record taken from an \
                     object by `*` has a member name"
                );
                return Err(fail("items_map_key", &reason));
            }
            if let (Some(key), Some(scrape)) = (crawl.key.as_ref().and_then(KeyConfig::field), &http.scrape)
                && !scrape.fields.contains_key(key)
            {
                return Err(fail(
                    "key",
                    "for a scraped collection, key must name one of scrape.fields",
                ));
            }
            let every = crawl
                .every
                .as_deref()
                .map(|t| operations::duration(t, MAX_EVERY))
                .transpose()
                .map_err(|reason| fail("every", &reason))?;
            let stale_after = crawl
                .stale_after
                .as_deref()
                .map(|t| operations::duration(t, MAX_EVERY))
                .transpose()
                .map_err(|reason| fail("stale_after", &reason))?;
            let mut incremental = crawl.incremental;
            if let Some(inc) = incremental.as_mut() {
                if let Some(initial) = inc.initial.as_mut() {
                    *initial = expand(initial, at("incremental.initial"))?;
                }
                check_incremental(inc, &http, top.runtime.mode)
                    .map_err(|reason| fail("incremental", &reason))?;
            }
            if let Some(w) = http.windows.as_mut() {
                w.start = expand(&w.start, at("windows.start"))?;
                if let Some(end) = w.end.as_mut() {
                    *end = expand(end, at("windows.end"))?;
                }
                if scraped {
                    return Err(fail("windows", "needs a JSON collection"));
                }
                w.check().map_err(|e| fail("windows", &e.to_string()))?;
            }
            if crawl.parent.is_some() && top.runtime.mode == Some(Mode::Staging) {
                return Err(fail(
                    "parent",
                    "cannot be used with mode = \"staging\": children are read from the parent's live table",
                ));
            }
            if crawl.parent.is_some() && cluster.is_some() {
                return Err(fail(
                    "parent",
                    "cannot be used with runtime.cluster yet: child collections are fed by one process",
                ));
            }
            let table = tables::read(crawl.columns, crawl.on_mismatch, crawl.unnest)
                .map_err(|(key, reason)| fail(key, &reason))?;
            if table.is_typed() {
                let problem = if scraped {
                    Some("applies to JSON collections: a scraped collection's columns are its scrape.fields")
                } else if crawl.parent.is_some() {
                    Some("cannot be used on a child collection yet: its rows hold the item and its parent")
                } else if !table.unnest.is_empty() && top.runtime.mode == Some(Mode::Staging) {
                    Some(
                        "unnest cannot be used with mode = \"staging\" yet: child tables are written in place",
                    )
                } else {
                    None
                };
                if let Some(reason) = problem {
                    let key = match (&table.columns, table.unnest.is_empty()) {
                        (_, false)
                            if top.runtime.mode == Some(Mode::Staging)
                                && !scraped
                                && crawl.parent.is_none() =>
                        {
                            "unnest"
                        }
                        (Columns::None, false) => "unnest",
                        (Columns::None, true) => "on_mismatch",
                        _ => "columns",
                    };
                    return Err(fail(key, reason));
                }
            }
            if table.on_mismatch == Some(crawlpipe_sinks::OnMismatch::Reject)
                && crawl.key == Some(KeyConfig::Keyless)
            {
                return Err(fail(
                    "on_mismatch",
                    "\"reject\" needs a key to keep the item under in pipeline_rejected, and key = false \
                     has none: use \"null\" (a keyless table's default; data keeps the value) or \"fail\"",
                ));
            }
            let mut description = serde_json::to_value(written).unwrap_or_default();
            crawlpipe_sources::redact::redact_json(&mut description, &http.secret_params);
            collections.push(CollectionConfig {
                description,
                name: crawl.name,
                table,
                key: crawl.key,
                parent: crawl.parent,
                incremental,
                settings: PipelineConfig {
                    lookahead: crawl.lookahead,
                    max_pages: crawl.max_pages,
                    retry: crawl.retry,
                    every,
                    stale_after,
                    batch_timeout: None,
                },
                http,
            });
        }
        check_parents(&collections).map_err(|(name, reason)| {
            let line = parent_lines.get(&name).copied().flatten();
            invalid(line, format!("collection {name:?}: parent"), &reason)
        })?;
        commit_parents_soon(&mut collections);
        let admin_token = top
            .runtime
            .admin_token
            .as_deref()
            .map(|t| expand(t, "runtime.admin_token".into()))
            .transpose()?
            .filter(|t| !t.is_empty())
            .map(Secret);
        let alert_webhook = top
            .runtime
            .alert_webhook
            .as_deref()
            .map(|u| expand(u, "runtime.alert_webhook".into()))
            .transpose()?;
        let alerts =
            operations::alerts(alert_webhook, top.runtime.alert_on.as_deref()).map_err(|(key, reason)| {
                invalid(
                    runtime_line(key.trim_start_matches("runtime.")),
                    key.into(),
                    &reason,
                )
            })?;
        Ok(Self {
            history: operations::history(top.runtime.history),
            alerts,
            concurrency,
            children,
            database,
            mode: top.runtime.mode.unwrap_or_default(),
            metrics_addr,
            admin_token,
            cluster,
            status_hosts: top.runtime.status_hosts.clone().unwrap_or_default(),
            collection_lines,
            max_resumes: top.runtime.max_resumes.unwrap_or(5),
            collections,
        })
    }
}
