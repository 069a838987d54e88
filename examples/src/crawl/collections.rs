//! One configured collection as a runner [`Collection`]: its source, sink
//! and settings.

use std::sync::Arc;
use std::time::Duration;

use pipeline_core::policy::RetryPolicy;
use pipeline_core::runner::Collection;
use pipeline_core::{Pipeline, Runnable};
use serde_json::{Map, Value};
use sinks::{ColumnType, Database};
use sources::{HttpContext, JsonSource, ScrapeSource, ScrapedItem};

use super::config::{CollectionConfig, Mode};

fn retry_policy(c: &CollectionConfig) -> RetryPolicy {
    let r = c.settings.retry.unwrap_or_default();
    RetryPolicy::new(r.max_attempts)
        .initial_backoff(Duration::from_millis(r.initial_backoff_ms))
        .max_backoff(Duration::from_millis(r.max_backoff_ms))
}

/// A scraped item as a row: `key`, `url`, one column per field.
fn scraped_row(item: ScrapedItem, key_field: Option<&str>) -> Value {
    let key = key_field
        .and_then(|f| item.fields.get(f).cloned().flatten())
        .unwrap_or_else(|| format!("{}#{}", item.url, item.index));
    let mut row = Map::new();
    row.insert("key".into(), Value::String(key));
    row.insert("url".into(), Value::String(item.url));
    for (name, value) in item.fields {
        row.insert(name, value.map_or(Value::Null, Value::String));
    }
    Value::Object(row)
}

/// Builds one collection (refreshed every `every` when `serve`): a factory making its pipeline. The sink finds the
/// committed cursor itself; the runner applies resumes and `--fresh`.
pub fn collection(
    c: CollectionConfig,
    db: Database,
    ctx: HttpContext,
    mode: Mode,
    serve: bool,
) -> Collection {
    let name = c.name.clone();
    let every = c.settings.every.filter(|_| serve);
    let c = Arc::new(c);
    let collection = Collection::new_async(name, move |name: &str| {
        let built = build(&c, name, &db, &ctx, mode);
        async move { built }
    });
    match every {
        Some(every) => collection.every(every),
        None => collection,
    }
}

/// Whether a changed definition leaves the stored cursor meaningful: the
/// cursor is a page of this URL, items and pagination, keyed the same way.
pub fn same_identity(a: &CollectionConfig, b: &CollectionConfig) -> bool {
    a.http.url == b.http.url
        && a.http.items == b.http.items
        && a.key == b.key
        && a.http.pagination == b.http.pagination
}

/// One attempt's pipeline for collection `c`.
fn build(
    c: &CollectionConfig,
    name: &str,
    db: &Database,
    ctx: &HttpContext,
    mode: Mode,
) -> Result<Runnable<Value>, pipeline_core::BoxError> {
    let staging = mode == Mode::Staging;
    let lookahead = c.settings.lookahead.unwrap_or(1);
    let retry = retry_policy(c);
    let max_pages = c.settings.max_pages.unwrap_or(100_000);
    let runnable = if let Some(scrape) = &c.http.scrape {
        let source = ScrapeSource::from_config(&c.http, ctx)?;
        let mut columns: Vec<(String, ColumnType)> = vec![("url".to_owned(), ColumnType::Text)];
        columns.extend(scrape.fields.keys().map(|f| (f.clone(), ColumnType::Text)));
        let sink = db
            .rows::<Value>()
            .columns(columns)
            .key_field("key")
            .staging(staging)
            .build()?;
        let key = c.key.clone();
        Pipeline::paged(name, source)
            .lookahead(lookahead)
            .retry(retry)
            .max_pages(max_pages)
            .map(move |item| scraped_row(item, key.as_deref()))
            .sink(sink)
    } else {
        let source = JsonSource::from_config(&c.http, ctx)?;
        let sink = db
            .documents()
            .key_pointer(c.key.clone().unwrap_or_else(|| "/id".to_owned()))
            .staging(staging)
            .build()?;
        Pipeline::paged(name, source)
            .lookahead(lookahead)
            .retry(retry)
            .max_pages(max_pages)
            .sink(sink)
    };
    Ok(runnable)
}
