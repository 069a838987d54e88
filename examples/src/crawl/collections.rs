//! One configured collection as a runner [`Collection`]: its source, sink
//! and settings.

use std::sync::Arc;
use std::time::Duration;

use pipeline_core::policy::RetryPolicy;
use pipeline_core::runner::Collection;
use pipeline_core::{Pipeline, RawItem, Runnable};
use serde_json::{Map, Value};
use sinks::{ColumnType, Database};
use sources::{HttpContext, RawJsonSource, ScrapeSource, ScrapedItem};

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
    // Plain JSON collections take the raw-JSON fast path: items go from the
    // response to the `data` column as text, never parsed into a `Value`.
    let collection = if c.http.scrape.is_some() {
        Collection::new_async(name, move |name: &str| {
            let built = build_scrape(&c, name, &db, &ctx, mode);
            async move { built }
        })
    } else {
        Collection::new_async(name, move |name: &str| {
            let built = build_json(&c, name, &db, &ctx, mode);
            async move { built }
        })
    };
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

/// One attempt's pipeline for scraped collection `c`.
fn build_scrape(
    c: &CollectionConfig,
    name: &str,
    db: &Database,
    ctx: &HttpContext,
    mode: Mode,
) -> Result<Runnable<Value>, pipeline_core::BoxError> {
    let source = ScrapeSource::from_config(&c.http, ctx)?;
    let scrape = c
        .http
        .scrape
        .as_ref()
        .map(|s| s.fields.keys())
        .into_iter()
        .flatten();
    let mut columns: Vec<(String, ColumnType)> = vec![("url".to_owned(), ColumnType::Text)];
    columns.extend(scrape.map(|f| (f.clone(), ColumnType::Text)));
    let sink = db
        .rows::<Value>()
        .columns(columns)
        .key_field("key")
        .staging(mode == Mode::Staging)
        .build()?;
    let key = c.key.clone();
    Ok(settings(c, Pipeline::paged(name, source))
        .map(move |item| scraped_row(item, key.as_deref()))
        .sink(sink))
}

/// One attempt's pipeline for JSON collection `c`, on the raw-JSON path.
fn build_json(
    c: &CollectionConfig,
    name: &str,
    db: &Database,
    ctx: &HttpContext,
    mode: Mode,
) -> Result<Runnable<RawItem>, pipeline_core::BoxError> {
    let source = RawJsonSource::from_config(&c.http, ctx)?;
    let sink = db
        .documents()
        .key_pointer(c.key.clone().unwrap_or_else(|| "/id".to_owned()))
        .staging(mode == Mode::Staging)
        .build_raw()?;
    Ok(settings(c, Pipeline::paged(name, source)).sink(sink))
}

/// The pipeline settings every collection takes from its configuration.
fn settings<T: Send + 'static>(c: &CollectionConfig, pipeline: Pipeline<T>) -> Pipeline<T> {
    pipeline
        .lookahead(c.settings.lookahead.unwrap_or(1))
        .retry(retry_policy(c))
        .max_pages(c.settings.max_pages.unwrap_or(100_000))
}
