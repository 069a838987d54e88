//! One `[[collection]]` table: `[defaults]` merged under it, read as the
//! crawl's own keys plus the source's config, `${VAR}` expanded, then
//! checked: the source's rules by [`HttpSourceConfig::validate`], the
//! crawl's own here, each error at its key's line.

use std::collections::BTreeMap;
use std::time::Duration;

use crawlpipe_sources::HttpSourceConfig;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::children::check_incremental;
use super::names::{SeenNames, validate_name};
use super::reader::Reader;
use super::shape::{CRAWL_KEYS, CrawlKeys};
use super::tables::{self, Columns, TableConfig};
use super::{CollectionConfig, CollectionSettings, ConfigError, KeyConfig, Mode, merge};
use super::{operations, transform, values};

/// The longest `every`: a schedule past it is a typo, and would overflow clocks.
const MAX_EVERY: Duration = Duration::from_secs(366 * 86_400);

/// Keys whose line an error may point at: the crawl's and the source's keys
/// a check names (a key's first segment, for `xml.max_depth`).
const LINED_KEYS: &[&str] = &[
    "max_in_flight_per_host",
    "max_pages",
    "timeout_ms",
    "pagination",
    "items",
    "items_map_key",
    "items_missing",
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
    "transform",
    "values",
    "user_agent",
];

/// What every collection of the file is read against.
pub(super) struct FileSettings<'d> {
    pub(super) defaults: &'d DeTable<'d>,
    pub(super) mode: Option<Mode>,
    pub(super) cluster: bool,
}

/// A collection read and checked, with the lines of its `name` and `parent`.
pub(super) struct ReadCollection {
    pub(super) config: CollectionConfig,
    pub(super) name_line: Option<usize>,
    pub(super) parent_line: Option<usize>,
}

/// The lines of a collection's keys, and how to name its keys in errors.
pub(super) struct Place<'r> {
    reader: &'r Reader<'r>,
    name: String,
    lines: BTreeMap<&'static str, Option<usize>>,
}

impl Place<'_> {
    fn at(&self, key: &str) -> String {
        format!("collection {:?}: {key}", self.name)
    }

    pub(super) fn fail(&self, key: &'static str, reason: &str) -> ConfigError {
        let line = self.lines.get(key).copied().flatten();
        self.reader.invalid(line, self.at(key), reason)
    }

    pub(super) fn expand(&self, value: &str, key: &'static str, shown: &str) -> Result<String, ConfigError> {
        self.reader
            .expand_at(value, self.lines.get(key).copied().flatten(), self.at(shown))
    }
}

/// Reads collection number `index` (from 0).
pub(super) fn read(
    reader: &Reader<'_>,
    file: &FileSettings<'_>,
    index: usize,
    table: &Spanned<DeValue<'_>>,
    seen: &mut SeenNames,
) -> Result<ReadCollection, ConfigError> {
    let DeValue::Table(own) = table.get_ref() else {
        return Err(reader.invalid(None, format!("collection #{}", index + 1), "must be a table"));
    };
    let mut merged = merge::merge(file.defaults, own);
    let label = match own.get("name").and_then(|n| n.get_ref().as_str()) {
        Some(name) => name.to_owned(),
        None => format!("#{}", index + 1),
    };
    super::auth_select::choose(reader, &mut merged, &label)?;
    let line_of = |key: &str| merged.get(key).map(|v| reader.line_at(v.span().start));
    let name_line = line_of("name");
    let lines = LINED_KEYS.iter().map(|k| (*k, line_of(k))).collect();
    let written: toml::Value = merge::deserialize(merged.clone(), table.span(), reader.text)
        .map_err(|e| reader.parse_error(Some(&label), e))?;
    let crawl_table = merge::split_off(&mut merged, CRAWL_KEYS);
    let crawl: CrawlKeys = merge::deserialize(crawl_table, table.span(), reader.text)
        .map_err(|e| reader.parse_error(Some(&label), e))?;
    let mut http: HttpSourceConfig = merge::deserialize(merged, table.span(), reader.text)
        .map_err(|e| reader.parse_error(Some(&label), e))?;
    let place = Place {
        reader,
        name: crawl.name.clone(),
        lines,
    };
    if let Err(reason) = validate_name(&crawl.name).and_then(|()| seen.insert(&crawl.name)) {
        return Err(reader.invalid(name_line, place.at("name"), &reason));
    }
    expand_source(&place, &mut http)?;
    http.validate().map_err(|e| {
        let line = place.lines.get(e.key.split('.').next().unwrap_or_default());
        reader.invalid(line.copied().flatten().or(name_line), place.at(e.key), &e.reason)
    })?;
    let mut config = check_crawl_keys(&place, file, crawl, http)?;
    config.description = serde_json::to_value(written).unwrap_or_default();
    crawlpipe_sources::redact::redact_json(&mut config.description, &config.http.secret_params);
    Ok(ReadCollection {
        parent_line: place.lines["parent"],
        name_line,
        config,
    })
}

/// Expands `${VAR}` in the source's URL, headers, credentials, body and
/// date bounds.
fn expand_source(place: &Place<'_>, http: &mut HttpSourceConfig) -> Result<(), ConfigError> {
    http.url = place.expand(&http.url, "url", "url")?;
    for (name, value) in http.headers.0.iter_mut() {
        *value = place.expand(value, "headers", &format!("headers.{name}"))?;
    }
    if let Some(auth) = http.auth.as_mut() {
        for value in auth.strings_mut() {
            *value = place.expand(value, "auth", "auth")?;
        }
    }
    if let Some(body) = http.body.as_mut() {
        for value in body.strings_mut() {
            *value = place.expand(value, "body", "body")?;
        }
    }
    if let Some(w) = http.windows.as_mut() {
        w.start = place.expand(&w.start, "windows", "windows.start")?;
        if let Some(end) = w.end.as_mut() {
            *end = place.expand(end, "windows", "windows.end")?;
        }
    }
    Ok(())
}

/// Reads `values`: a list of tables, or `{ from, field }` (a JSON list in
/// `from`, `${VAR}` expanded).
fn read_values(
    place: &Place<'_>,
    values: toml::Value,
    http: &HttpSourceConfig,
    child: bool,
    incremental: bool,
) -> Result<Vec<serde_json::Value>, ConfigError> {
    let items = match values {
        toml::Value::Array(items) => items,
        toml::Value::Table(t) => {
            let (from, field) = values::from_parts(&t).map_err(|r| place.fail("values", &r))?;
            let text = place.expand(&from, "values", "values.from")?;
            values::from_json(&text, &field).map_err(|r| place.fail("values", &r))?
        }
        _ => return Err(place.fail("values", "must be a list of tables, or { from, field }")),
    };
    values::read(items, http, child, incremental).map_err(|reason| place.fail("values", &reason))
}

/// Checks the crawl's own keys against each other and the source.
fn check_crawl_keys(
    place: &Place<'_>,
    file: &FileSettings<'_>,
    crawl: CrawlKeys,
    http: HttpSourceConfig,
) -> Result<CollectionConfig, ConfigError> {
    let scraped = http.scrape.is_some();
    if let Some(key) = &crawl.key {
        key.check(scraped, crawl.parent.is_some())
            .map_err(|reason| place.fail("key", &reason))?;
        if *key == KeyConfig::Keyless && crawl.incremental.is_some() {
            return Err(place.fail(
                "key",
                "false (keyless) cannot be used with incremental: a keyless run replaces the \
                 previous run's rows, and an incremental run fetches only what changed",
            ));
        }
    }
    if let (Some(key), Some(scrape)) = (crawl.key.as_ref().and_then(KeyConfig::field), &http.scrape)
        && !scrape.fields.contains_key(key)
    {
        return Err(place.fail(
            "key",
            "for a scraped collection, key must name one of scrape.fields",
        ));
    }
    let every = read_duration(place, "every", crawl.every.as_deref())?;
    let stale_after = read_duration(place, "stale_after", crawl.stale_after.as_deref())?;
    let mut incremental = crawl.incremental;
    if let Some(inc) = incremental.as_mut() {
        if let Some(initial) = inc.initial.as_mut() {
            *initial = place.expand(initial, "incremental", "incremental.initial")?;
        }
        check_incremental(inc, &http, file.mode).map_err(|reason| place.fail("incremental", &reason))?;
    }
    if crawl.parent.is_some() && file.mode == Some(Mode::Staging) {
        return Err(place.fail(
            "parent",
            "cannot be used with mode = \"staging\": children are read from the parent's live table",
        ));
    }
    if crawl.parent.is_some() && file.cluster {
        return Err(place.fail(
            "parent",
            "cannot be used with runtime.cluster yet: child collections are fed by one process",
        ));
    }
    let mut table = tables::read(crawl.columns, crawl.on_mismatch, crawl.unnest)
        .map_err(|(key, reason)| place.fail(key, &reason))?;
    table.text_keys = crawl.text_keys.unwrap_or(false);
    let transform = match crawl.transform {
        None => None,
        Some(_) if scraped => return Err(place.fail("transform", "needs a JSON collection")),
        Some(t) => Some(transform::read(t, crawl.parent.is_some(), place)?),
    };
    let values = match crawl.values {
        None => None,
        Some(v) => Some(read_values(
            place,
            v,
            &http,
            crawl.parent.is_some(),
            incremental.is_some(),
        )?),
    };
    check_table(place, &table, scraped, crawl.key.as_ref())?;
    Ok(CollectionConfig {
        name: crawl.name,
        table,
        transform,
        values,
        key: crawl.key,
        parent: crawl.parent,
        incremental,
        settings: CollectionSettings {
            lookahead: crawl.lookahead,
            max_pages: crawl.max_pages,
            retry: crawl.retry,
            every,
            stale_after,
            batch_timeout: None,
        },
        http,
        description: serde_json::Value::Null,
    })
}

/// `every` or `stale_after`: a duration longer than 0 s and at most 366 days.
fn read_duration(
    place: &Place<'_>,
    key: &'static str,
    text: Option<&str>,
) -> Result<Option<Duration>, ConfigError> {
    text.map(|t| operations::duration(t, MAX_EVERY))
        .transpose()
        .map_err(|reason| place.fail(key, &reason))
}

/// Typed columns fit JSON collections (a scraped collection's columns are
/// its fields).
fn check_table(
    place: &Place<'_>,
    table: &TableConfig,
    scraped: bool,
    key: Option<&KeyConfig>,
) -> Result<(), ConfigError> {
    if table.is_typed() && scraped {
        let key = match (&table.columns, table.unnest.is_empty()) {
            (Columns::None, false) => "unnest",
            (Columns::None, true) => "on_mismatch",
            _ => "columns",
        };
        return Err(place.fail(
            key,
            "applies to JSON collections: a scraped collection's columns are its scrape.fields",
        ));
    }
    if table.on_mismatch == Some(crawlpipe_sinks::OnMismatch::Reject) && key == Some(&KeyConfig::Keyless) {
        return Err(place.fail(
            "on_mismatch",
            "\"reject\" needs a key to keep the item under in pipeline_rejected, and key = false \
             has none: use \"null\" (a keyless table's default; data keeps the value) or \"fail\"",
        ));
    }
    Ok(())
}
