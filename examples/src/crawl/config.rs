//! The `crawl` configuration file (TOML): a public contract, documented in the README.
//!
//! Parsing is strict: unknown keys are errors naming the line; `${VAR}` is
//! expanded from the environment in `url`, `database`, `metrics_addr` and
//! header values only (after parsing, so an error never prints a secret).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sources::{BreakerSettings, Pagination, ScrapeConfig};

/// A configuration problem; the `crawl` binary exits with status 2.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read the config file: {source}")]
    Read {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has an unknown or mistyped key; the
    /// message names the line and column.
    #[error("{file}: {message}")]
    Parse {
        /// The file.
        file: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("{file}: {location}: {reason}")]
    Invalid {
        /// The file.
        file: PathBuf,
        /// Where: `runtime.concurrency`, `collection "issues".name`, …
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// A `${VAR}` names an environment variable that is not set.
    #[error("{file}: {location}: environment variable {var} is not set")]
    MissingEnv {
        /// The file.
        file: PathBuf,
        /// Where the reference is.
        location: String,
        /// The variable.
        var: String,
    },
}

/// Whether a crawl writes into the live tables or through staging tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Upsert into the live table as pages arrive.
    #[default]
    Upsert,
    /// Write to `<table>__staging`; a complete crawl replaces the live table.
    Staging,
}

/// `[runtime]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Collections crawled at once (default 4).
    pub concurrency: Option<usize>,
    /// Where items and checkpoints go (default `sqlite://crawl.db`).
    pub database: Option<String>,
    /// `upsert` (default) or `staging`.
    pub mode: Option<Mode>,
    /// Address of `GET /metrics` and `GET /status`; omitted: disabled.
    pub metrics_addr: Option<String>,
    /// Resumes per collection after in-band failures (default 5).
    pub max_resumes: Option<u32>,
}

/// `retry = { … }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySettings {
    /// Attempts per page, the first included (default 5).
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// First backoff ceiling in ms (default 200).
    #[serde(default = "default_initial_backoff")]
    pub initial_backoff_ms: u64,
    /// Largest backoff in ms (default 10000).
    #[serde(default = "default_max_backoff")]
    pub max_backoff_ms: u64,
}

fn default_attempts() -> u32 {
    5
}
fn default_initial_backoff() -> u64 {
    200
}
fn default_max_backoff() -> u64 {
    10_000
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            max_attempts: default_attempts(),
            initial_backoff_ms: default_initial_backoff(),
            max_backoff_ms: default_max_backoff(),
        }
    }
}

/// The settings `[defaults]` gives and any collection may override.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Minimum interval between request starts on a host, ms.
    pub min_delay_ms: Option<u64>,
    /// Random extra delay added to the interval, up to this many ms.
    pub jitter_ms: Option<u64>,
    /// Requests in flight per host at once.
    pub max_in_flight_per_host: Option<usize>,
    /// Pages fetched ahead of the one being written.
    pub lookahead: Option<usize>,
    /// Total deadline per request, ms.
    pub timeout_ms: Option<u64>,
    /// Pages per run before the collection fails with `max_pages`.
    pub max_pages: Option<u64>,
    /// Retry policy per page.
    pub retry: Option<RetrySettings>,
    /// Circuit breaker per host.
    pub breaker: Option<BreakerSettings>,
    /// Headers sent with every request (values may use `${VAR}`).
    pub headers: Option<BTreeMap<String, String>>,
    /// Hosts redirects and links may go to (default: the start URL's host).
    pub allowed_hosts: Option<Vec<String>>,
    /// Body size cap after decompression, bytes.
    pub max_body_bytes: Option<u64>,
}

impl Settings {
    /// `self` with every setting `over` gives replaced (headers merged by name).
    fn overridden_by(&self, over: &Settings) -> Settings {
        let mut headers = self.headers.clone().unwrap_or_default();
        headers.extend(over.headers.clone().unwrap_or_default());
        Settings {
            min_delay_ms: over.min_delay_ms.or(self.min_delay_ms),
            jitter_ms: over.jitter_ms.or(self.jitter_ms),
            max_in_flight_per_host: over.max_in_flight_per_host.or(self.max_in_flight_per_host),
            lookahead: over.lookahead.or(self.lookahead),
            timeout_ms: over.timeout_ms.or(self.timeout_ms),
            max_pages: over.max_pages.or(self.max_pages),
            retry: over.retry.or(self.retry),
            breaker: over.breaker.or(self.breaker),
            headers: (!headers.is_empty()).then_some(headers),
            allowed_hosts: over.allowed_hosts.clone().or_else(|| self.allowed_hosts.clone()),
            max_body_bytes: over.max_body_bytes.or(self.max_body_bytes),
        }
    }
}

/// One `[[collection]]` as written in the file.
///
/// It repeats the keys of [`Settings`] because serde cannot combine
/// `flatten` with `deny_unknown_fields`, and unknown keys must be errors.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCollection {
    name: String,
    url: String,
    #[serde(default)]
    items: String,
    key: Option<String>,
    #[serde(default)]
    pagination: Pagination,
    scrape: Option<ScrapeConfig>,
    min_delay_ms: Option<u64>,
    jitter_ms: Option<u64>,
    max_in_flight_per_host: Option<usize>,
    lookahead: Option<usize>,
    timeout_ms: Option<u64>,
    max_pages: Option<u64>,
    retry: Option<RetrySettings>,
    breaker: Option<BreakerSettings>,
    headers: Option<BTreeMap<String, String>>,
    allowed_hosts: Option<Vec<String>>,
    max_body_bytes: Option<u64>,
}

impl RawCollection {
    fn settings(&self) -> Settings {
        Settings {
            min_delay_ms: self.min_delay_ms,
            jitter_ms: self.jitter_ms,
            max_in_flight_per_host: self.max_in_flight_per_host,
            lookahead: self.lookahead,
            timeout_ms: self.timeout_ms,
            max_pages: self.max_pages,
            retry: self.retry,
            breaker: self.breaker,
            headers: self.headers.clone(),
            allowed_hosts: self.allowed_hosts.clone(),
            max_body_bytes: self.max_body_bytes,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    runtime: RuntimeConfig,
    #[serde(default)]
    defaults: Settings,
    #[serde(default)]
    collection: Vec<RawCollection>,
}

/// A collection ready to crawl: defaults applied, variables expanded.
#[derive(Debug, Clone)]
pub struct CollectionConfig {
    /// The name: checkpoint key, table name, metric label.
    pub name: String,
    /// The start URL.
    pub url: String,
    /// JSON pointer to the items array (`""`: the body is the array).
    pub items: String,
    /// JSON: pointer to each item's key (default `/id`). Scraping: a field
    /// name (default: page URL + item index).
    pub key: Option<String>,
    /// How pages link to each other (JSON collections).
    pub pagination: Pagination,
    /// Set for scraped HTML collections.
    pub scrape: Option<ScrapeConfig>,
    /// Effective settings (defaults overridden by the collection's own).
    pub settings: Settings,
}

/// A whole configuration, validated.
#[derive(Debug, Clone)]
pub struct CrawlConfig {
    /// Collections at once.
    pub concurrency: usize,
    /// Database URL.
    pub database: String,
    /// Upsert or staging.
    pub mode: Mode,
    /// Observability server address.
    pub metrics_addr: Option<String>,
    /// Resumes per collection.
    pub max_resumes: u32,
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
    /// # Errors
    ///
    /// A [`ConfigError`] naming `file` and the line or key that is wrong.
    pub fn parse(file: &Path, text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            file: file.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        let invalid = |location: String, reason: &str| ConfigError::Invalid {
            file: file.to_owned(),
            location,
            reason: reason.to_owned(),
        };
        let expand = |value: &str, location: String| -> Result<String, ConfigError> {
            expand_vars(value, env).map_err(|var| ConfigError::MissingEnv {
                file: file.to_owned(),
                location,
                var,
            })
        };

        let concurrency = raw.runtime.concurrency.unwrap_or(4);
        if concurrency == 0 {
            return Err(invalid("runtime.concurrency".into(), "must be at least 1"));
        }
        let database = expand(
            raw.runtime.database.as_deref().unwrap_or("sqlite://crawl.db"),
            "runtime.database".into(),
        )?;
        let metrics_addr = raw
            .runtime
            .metrics_addr
            .as_deref()
            .map(|a| expand(a, "runtime.metrics_addr".into()))
            .transpose()?;
        if raw.collection.is_empty() {
            return Err(invalid("collection".into(), "the file defines no [[collection]]"));
        }

        let mut seen = HashSet::new();
        let mut collections = Vec::with_capacity(raw.collection.len());
        for c in &raw.collection {
            let at = |key: &str| format!("collection {:?}: {key}", c.name);
            if let Err(reason) = validate_name(&c.name) {
                return Err(invalid(at("name"), &reason));
            }
            if !seen.insert(c.name.clone()) {
                return Err(invalid(at("name"), "two collections have this name"));
            }
            let mut settings = raw.defaults.overridden_by(&c.settings());
            if let Some(headers) = settings.headers.as_mut() {
                for (name, value) in headers.iter_mut() {
                    *value = expand(value, at(&format!("headers.{name}")))?;
                }
            }
            if settings.max_in_flight_per_host == Some(0) {
                return Err(invalid(at("max_in_flight_per_host"), "must be at least 1"));
            }
            if settings.max_pages == Some(0) {
                return Err(invalid(at("max_pages"), "must be at least 1"));
            }
            if settings.timeout_ms == Some(0) {
                return Err(invalid(at("timeout_ms"), "must be at least 1"));
            }
            if c.scrape.is_some() && c.pagination != Pagination::None {
                return Err(invalid(
                    at("pagination"),
                    "a scraped collection follows its `scrape.next` selector; remove `pagination`",
                ));
            }
            if c.scrape.is_none() && !c.items.is_empty() && !c.items.starts_with('/') {
                return Err(invalid(at("items"), "a JSON pointer is empty or starts with '/'"));
            }
            if let Some(key) = &c.key
                && c.scrape.is_none()
                && !key.is_empty()
                && !key.starts_with('/')
            {
                return Err(invalid(at("key"), "a JSON pointer starts with '/', e.g. \"/id\""));
            }
            if let (Some(key), Some(scrape)) = (&c.key, &c.scrape)
                && !scrape.fields.contains_key(key)
            {
                return Err(invalid(
                    at("key"),
                    "for a scraped collection, key must name one of scrape.fields",
                ));
            }
            collections.push(CollectionConfig {
                name: c.name.clone(),
                url: expand(&c.url, at("url"))?,
                items: c.items.clone(),
                key: c.key.clone(),
                pagination: c.pagination.clone(),
                scrape: c.scrape.clone(),
                settings,
            });
        }
        Ok(Self {
            concurrency,
            database,
            mode: raw.runtime.mode.unwrap_or_default(),
            metrics_addr,
            max_resumes: raw.runtime.max_resumes.unwrap_or(5),
            collections,
        })
    }
}

/// Collection names become table names: `[A-Za-z_][A-Za-z0-9_]{0,62}`.
pub fn validate_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok_first = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let ok_rest = chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok_first || !ok_rest || name.len() > 63 {
        return Err(format!(
            "{name:?} is not a valid name: use a letter or '_' then letters, digits or '_', at most 63 characters"
        ));
    }
    Ok(())
}

/// Replaces every `${VAR}`; `Err(VAR)` for the first one that is not set.
fn expand_vars(value: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let var = &after[..end];
        out.push_str(&env(var).ok_or_else(|| var.to_owned())?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<CrawlConfig, ConfigError> {
        CrawlConfig::parse(Path::new("crawl.toml"), text, &|v| {
            (v == "API_TOKEN").then(|| "s3cret".to_owned())
        })
    }

    const GOOD: &str = r#"
[runtime]
concurrency = 2
database = "sqlite://x.db"
mode = "staging"

[defaults]
min_delay_ms = 5
retry = { max_attempts = 3 }
headers = { Authorization = "Bearer ${API_TOKEN}", Accept = "application/json" }

[[collection]]
name = "issues"
url = "https://api.example.com/issues?per_page=100"
key = "/id"
pagination = { style = "link_header" }
min_delay_ms = 50
headers = { Accept = "application/vnd.github+json" }

[[collection]]
name = "docs"
url = "https://docs.example.com/index.html"
key = "anchor"
scrape = { item = "section", next = "link[rel=next] @href", fields = { title = "h1, h2", anchor = "@id" } }
"#;

    #[test]
    fn defaults_apply_and_collections_override() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.concurrency, 2);
        assert_eq!(c.mode, Mode::Staging);
        assert_eq!(c.max_resumes, 5);
        let issues = &c.collections[0];
        assert_eq!(issues.settings.min_delay_ms, Some(50));
        assert_eq!(issues.settings.retry.unwrap().max_attempts, 3);
        assert_eq!(issues.settings.retry.unwrap().initial_backoff_ms, 200);
        let headers = issues.settings.headers.as_ref().unwrap();
        assert_eq!(headers["Authorization"], "Bearer s3cret");
        assert_eq!(headers["Accept"], "application/vnd.github+json");
        let docs = &c.collections[1];
        assert_eq!(docs.settings.min_delay_ms, Some(5));
        assert!(docs.scrape.is_some());
    }

    #[test]
    fn unknown_key_names_the_line() {
        let err = parse("[runtime]\nconcurrency = 1\nconcurency = 2\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("crawl.toml") && err.contains("line 3") && err.contains("concurency"),
            "{err}"
        );
        let err = parse(&GOOD.replace("min_delay_ms = 50", "min_dealy_ms = 50"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 17") && err.contains("min_dealy_ms"), "{err}");
    }

    #[test]
    fn missing_variable_is_named_without_the_value() {
        let text = GOOD.replace("${API_TOKEN}", "${GH_TOKEN}");
        let err = parse(&text).unwrap_err().to_string();
        assert!(
            err.contains("GH_TOKEN") && err.contains("headers.Authorization"),
            "{err}"
        );
    }

    #[test]
    fn duplicate_and_invalid_names_are_rejected() {
        let dup = format!("{GOOD}\n[[collection]]\nname = \"issues\"\nurl = \"https://a.example/\"\n");
        let err = parse(&dup).unwrap_err().to_string();
        assert!(err.contains("two collections"), "{err}");
        let bad = GOOD.replace("name = \"docs\"", "name = \"docs; drop table x\"");
        let err = parse(&bad).unwrap_err().to_string();
        assert!(err.contains("not a valid name"), "{err}");
    }

    #[test]
    fn out_of_range_values_are_rejected() {
        let err = parse(&GOOD.replace("concurrency = 2", "concurrency = 0"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("runtime.concurrency"), "{err}");
        let err = parse(&GOOD.replace("min_delay_ms = 50", "max_pages = 0"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_pages"), "{err}");
        let err = parse(&GOOD.replace("key = \"anchor\"", "key = \"nope\""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("scrape.fields"), "{err}");
    }

    #[test]
    fn a_file_without_collections_is_an_error() {
        assert!(
            parse("[runtime]\n")
                .unwrap_err()
                .to_string()
                .contains("no [[collection]]")
        );
    }

    #[test]
    fn variables_expand_in_place() {
        let env = |v: &str| (v == "A").then(|| "x".to_owned());
        assert_eq!(expand_vars("a${A}b${A}", &env).unwrap(), "axbx");
        assert_eq!(expand_vars("${B}", &env).unwrap_err(), "B");
        assert_eq!(expand_vars("no vars $ { }", &env).unwrap(), "no vars $ { }");
    }
}
