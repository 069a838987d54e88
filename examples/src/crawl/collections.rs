//! One configured collection as a runner [`Collection`]: its source, sink
//! and settings.

use std::sync::Arc;

use crawlpipe_core::runner::{Collection, Definition};
use crawlpipe_core::{Pipeline, RawItem, Runnable};
use crawlpipe_sinks::{ColumnType, Database};
use crawlpipe_sources::{
    HttpContext, HttpSourceConfig, JsonSource, RawJsonSource, ScrapeSource, ScrapedItem, ValuesSource,
};
use serde_json::{Map, Value};

use super::config::{CollectionConfig, DEFAULT_MAX_PAGES, KeyConfig, Mode};

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
    collection_fresh(c, db, ctx, mode, serve, false)
}

/// [`collection`], whose first run is `fresh` (`--fresh`): an incremental
/// collection's first run then asks for `initial` instead of the stored mark.
pub fn collection_fresh(
    c: CollectionConfig,
    db: Database,
    ctx: HttpContext,
    mode: Mode,
    serve: bool,
    fresh: bool,
) -> Collection {
    let fresh = Arc::new(std::sync::atomic::AtomicBool::new(fresh));
    let name = c.name.clone();
    let every = c.settings.every.filter(|_| serve);
    // Shown in the collection's status; a bad URL or auth is reported by
    // the source's check before this.
    let quota = ctx.quota_budget(&c.http).ok().flatten();
    let stale_after = c.settings.stale_after;
    let description = c.description.clone();
    let c = Arc::new(c);
    // Plain JSON collections take the raw-JSON fast path: items go from the
    // response to the `data` column as text, never parsed into a `Value`.
    // Scraped, transformed and incremental collections (and children) need values.
    let fast =
        c.http.scrape.is_none() && c.incremental.is_none() && c.transform.is_none() && c.values.is_none();
    let collection = if fast {
        Collection::new_async(name, move |name: &str| {
            let built = build_json(&c, name, &db, &ctx, mode);
            async move { built }
        })
    } else {
        Collection::new_async(name, move |name: &str| {
            let (c, db, ctx, name) = (c.clone(), db.clone(), ctx.clone(), name.to_owned());
            let fresh = fresh.swap(false, std::sync::atomic::Ordering::AcqRel);
            async move {
                let mark = match fresh {
                    true => None,
                    false => since(&c, &name, &db).await?,
                };
                let http = with_since(&c, &c.http, mark.as_deref())?;
                build(&c, &name, &db, &ctx, mode, Target { http, child: None })
            }
        })
    };
    let collection = collection.quota(quota);
    let collection = collection.description(description);
    let collection = match stale_after {
        Some(after) => collection.stale_after(after),
        None => collection,
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
        && a.http.format == b.http.format
        && a.key == b.key
        && a.http.pagination == b.http.pagination
        && a.http.windows == b.http.windows
        && a.values == b.values
}

/// A reload compares collections by name and definition; a child
/// collection is left to its feeder.
impl Definition for CollectionConfig {
    fn name(&self) -> &str {
        &self.name
    }

    fn same_identity(&self, next: &Self) -> bool {
        same_identity(self, next)
    }

    fn is_child(&self) -> bool {
        self.parent.is_some()
    }
}

/// Where one attempt starts and, for a child, whose child it is.
pub(crate) struct Target<'a> {
    /// The source (a child's rendered from its parent; `since` added).
    pub(crate) http: HttpSourceConfig,
    /// A child: its parent's key (rows go to the table named after `c`).
    pub(crate) child: Option<&'a str>,
}

/// The stored high-water mark (`None` before the first completed run, and
/// without incremental).
pub(crate) async fn since(
    c: &CollectionConfig,
    name: &str,
    db: &Database,
) -> Result<Option<String>, crawlpipe_core::BoxError> {
    if c.incremental.is_none() {
        return Ok(None);
    }
    Ok(db.high_water(name).await?)
}

/// `http` asking for what changed since `mark` (or since `initial`): the
/// incremental parameters set in its URL, or its windows moved to start at
/// the mark. Unchanged without incremental.
pub(crate) fn with_since(
    c: &CollectionConfig,
    http: &HttpSourceConfig,
    mark: Option<&str>,
) -> Result<HttpSourceConfig, crawlpipe_core::BoxError> {
    let Some(inc) = &c.incremental else {
        return Ok(http.clone());
    };
    inc.apply(http, mark, crawlpipe_sources::dates::Timestamp::now())
        .map_err(|e| format!("collection {:?}: incremental: {e}", c.name).into())
}

/// A child's row: the item in `data`, its parent's key in `parent`.
fn child_row(item: Value, parent: &str) -> Value {
    let mut row = Map::new();
    row.insert("data".into(), item);
    row.insert("parent".into(), Value::String(parent.to_owned()));
    Value::Object(row)
}

/// One attempt's pipeline for collection `c` (or one child of it).
pub(crate) fn build(
    c: &CollectionConfig,
    name: &str,
    db: &Database,
    ctx: &HttpContext,
    mode: Mode,
    target: Target<'_>,
) -> Result<Runnable<Value>, crawlpipe_core::BoxError> {
    let mut own = c.clone();
    own.http = target.http;
    let c = &own;
    let staging = mode == Mode::Staging;
    if let Some(values) = &c.values {
        let sink = KeyConfig::documents(c.key.as_ref(), c.table.apply(db.documents())).staging(staging);
        let pipeline = configured(c, Pipeline::paged(name, ValuesSource::new(values.clone())));
        return Ok(match c.transform.clone() {
            Some(t) => pipeline.map(move |mut item: Value| {
                t.apply(&mut item);
                item
            }),
            None => pipeline,
        }
        .sink(sink.build()?));
    }
    let runnable = if let Some(scrape) = &c.http.scrape {
        let source = ScrapeSource::from_config(&c.http, ctx)?;
        let mut columns: Vec<(String, ColumnType)> = vec![("url".to_owned(), ColumnType::Text)];
        columns.extend(scrape.fields.keys().map(|f| (f.clone(), ColumnType::Text)));
        let mut sink = db.rows::<Value>();
        if let Some(parent) = target.child {
            columns.push(("parent".to_owned(), ColumnType::Text));
            sink = sink.table(&c.name).child_of(&c.name, parent);
        }
        let sink = sink.columns(columns).key_field("key").staging(staging).build()?;
        let key = c.key.as_ref().and_then(KeyConfig::field).map(str::to_owned);
        let parent = target.child.map(str::to_owned);
        configured(c, Pipeline::paged(name, source))
            .map(move |item| {
                let mut row = scraped_row(item, key.as_deref());
                if let (Some(parent), Value::Object(fields)) = (&parent, &mut row) {
                    fields.insert("parent".into(), Value::String(parent.clone()));
                }
                row
            })
            .sink(sink)
    } else {
        let source = JsonSource::from_config(&c.http, ctx)?;
        // `{now…}` in added fields is this attempt's start, as in the request.
        let transform = c
            .transform
            .as_ref()
            .filter(|t| !t.is_empty())
            .map(|t| t.at(crawlpipe_sources::dates::Timestamp::now()));
        let field = c.incremental.as_ref().and_then(|i| i.field.clone());
        // A windowed incremental run's mark is the end of its last window.
        let floor = c
            .incremental
            .as_ref()
            .filter(|i| i.windows)
            .and_then(|_| source.windows_end())
            .map(crawlpipe_sources::dates::Incremental::windows_mark);
        let with_floor = |sink: crawlpipe_sinks::SqlSink<Value>| match &floor {
            Some(f) => sink.high_water_floor(f.clone()),
            None => sink,
        };
        match target.child {
            Some(parent) if !c.table.is_typed() => {
                let rows = db
                    .rows::<Value>()
                    .table(&c.name)
                    .child_of(&c.name, parent)
                    .text_keys(c.table.text_keys)
                    .columns([("data", ColumnType::Json), ("parent", ColumnType::Text)]);
                let mut sink = KeyConfig::child_rows(c.key.as_ref(), rows);
                if let Some(field) = field {
                    let at = format!("/data{field}");
                    sink = sink.high_water_fn(move |row: &Value| row.pointer(&at).and_then(mark_text));
                }
                let parent = parent.to_owned();
                configured(c, Pipeline::paged(name, source))
                    .map(move |mut item: Value| {
                        if let Some(t) = &transform {
                            t.apply(&mut item);
                        }
                        child_row(item, &parent)
                    })
                    .sink(with_floor(sink.staging(staging).build()?))
            }
            child => {
                let mut sink =
                    KeyConfig::documents(c.key.as_ref(), c.table.apply(db.documents())).staging(staging);
                if let Some(parent) = child {
                    // A typed child's table: `data`, `parent` and its columns.
                    sink = sink.table(&c.name).child_of(&c.name, parent);
                }
                if let Some(field) = field {
                    sink = sink.high_water(field);
                }
                let pipeline = configured(c, Pipeline::paged(name, source));
                let pipeline = match transform {
                    Some(t) => pipeline.map(move |mut item: Value| {
                        t.apply(&mut item);
                        item
                    }),
                    None => pipeline,
                };
                pipeline.sink(with_floor(sink.build()?))
            }
        }
    };
    Ok(runnable)
}

/// One attempt's pipeline for plain JSON collection `c`, on the raw-JSON path.
fn build_json(
    c: &CollectionConfig,
    name: &str,
    db: &Database,
    ctx: &HttpContext,
    mode: Mode,
) -> Result<Runnable<RawItem>, crawlpipe_core::BoxError> {
    let source = RawJsonSource::from_config(&c.http, ctx)?;
    let sink = KeyConfig::documents(c.key.as_ref(), c.table.apply(db.documents()))
        .staging(mode == Mode::Staging)
        .build_raw()?;
    Ok(configured(c, Pipeline::paged(name, source)).sink(sink))
}

/// `pipeline` with the settings every collection takes from its configuration.
fn configured<T: Send + 'static>(c: &CollectionConfig, pipeline: Pipeline<T>) -> Pipeline<T> {
    let mut pipeline = pipeline
        .retry(c.settings.retry.unwrap_or_default().policy())
        .max_pages(c.settings.max_pages.unwrap_or(DEFAULT_MAX_PAGES));
    if let Some(lookahead) = c.settings.lookahead {
        pipeline = pipeline.lookahead(lookahead);
    }
    match c.settings.batch_timeout {
        Some(timeout) => pipeline.batch_timeout(timeout),
        None => pipeline,
    }
}

/// A high-water value as text: a string as it is, a number as its text.
fn mark_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
