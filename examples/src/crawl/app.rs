//! Builds a [`Runner`] from a [`CrawlConfig`] and runs it to the end.

use std::sync::Arc;
use std::time::Duration;

use pipeline_core::policy::RetryPolicy;
use pipeline_core::runner::{Collection, CollectionSummary, Runner};
use pipeline_core::{Pipeline, Runnable, State};
use serde_json::{Map, Value};
use sinks::{ColumnType, Database};
use sources::{HttpContext, HttpSourceConfig, JsonSource, ScrapeSource, ScrapedItem};

use super::config::{CollectionConfig, CrawlConfig, Mode};
use super::progress::Progress;
use super::stderr;

/// After a second SIGINT/SIGTERM, how long the runner may take to stop
/// before the process exits anyway: a blocked database must not keep it alive.
pub const FORCE_GRACE: Duration = Duration::from_secs(1);
/// Exit status of an interrupted crawl.
pub const INTERRUPTED: i32 = 130;

/// Options from the command line that are not in the config file.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Ignore checkpoints: crawl every collection from the start.
    pub fresh: bool,
    /// No progress display, warnings and errors only.
    pub quiet: bool,
    /// Crawl only these collections (all when empty).
    pub only: Vec<String>,
}

/// A problem that stops the crawl before it starts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// `--only` names a collection the config does not define.
    #[error("--only {0}: no collection of that name in the config")]
    UnknownCollection(String),
    /// A collection's source settings are wrong (a bad URL, selector or pointer).
    #[error("collection {collection:?}: {message}")]
    Source {
        /// The collection.
        collection: String,
        /// What is wrong.
        message: String,
    },
    /// The database could not be opened.
    #[error("database {url}: {message}")]
    Database {
        /// The URL, without its password.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// Another process is crawling one of the collections on this database.
    #[error("{0}")]
    Locked(String),
    /// The runner or the metrics server could not start.
    #[error("{0}")]
    Start(String),
}

impl AppError {
    /// Whether the problem is in the configuration or command line (exit 2).
    pub fn is_usage(&self) -> bool {
        matches!(self, Self::UnknownCollection(_) | Self::Source { .. })
    }
}

/// How a whole crawl ended.
#[derive(Debug)]
pub struct RunResult {
    /// One summary per collection.
    pub summaries: Vec<CollectionSummary>,
    /// Whether a shutdown signal interrupted the crawl.
    pub interrupted: bool,
}

impl RunResult {
    /// The process exit status: 0 all completed, 1 any failed, 130 interrupted.
    pub fn exit_code(&self) -> i32 {
        if self.interrupted {
            INTERRUPTED
        } else if self.summaries.iter().all(|s| s.state == State::Completed) {
            0
        } else {
            1
        }
    }
}

/// The source settings of one collection.
pub fn http_config(c: &CollectionConfig) -> HttpSourceConfig {
    c.http.clone()
}

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

/// Builds one collection: a factory making its pipeline. The sink finds the
/// committed cursor itself; the runner applies resumes and `--fresh`.
fn collection(c: CollectionConfig, db: Database, ctx: HttpContext, mode: Mode) -> Collection {
    let name = c.name.clone();
    let c = Arc::new(c);
    Collection::new_async(name, move |name: &str| {
        let built = build(&c, name, &db, &ctx, mode);
        async move { built }
    })
}

/// One attempt's pipeline for collection `c`.
fn build(
    c: &CollectionConfig,
    name: &str,
    db: &Database,
    ctx: &HttpContext,
    mode: Mode,
) -> Result<Runnable<Value>, pipeline_core::BoxError> {
    let http = http_config(c);
    let staging = mode == Mode::Staging;
    let lookahead = c.settings.lookahead.unwrap_or(1);
    let retry = retry_policy(c);
    let max_pages = c.settings.max_pages.unwrap_or(100_000);
    let runnable = if let Some(scrape) = &c.http.scrape {
        let source = ScrapeSource::from_config(&http, ctx)?;
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
        let source = JsonSource::from_config(&http, ctx)?;
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

/// A database URL for messages: password and secret query parameters hidden.
pub fn redact_url(url: &str) -> String {
    sources::redact::redact_url(url, &sources::redact::default_secret_params())
}

/// Crawls every selected collection of `config` and waits for the end.
///
/// # Errors
///
/// An [`AppError`] when the crawl cannot start; failures of collections are
/// in the result's summaries instead.
pub async fn run(config: CrawlConfig, options: RunOptions) -> Result<RunResult, AppError> {
    for name in &options.only {
        if !config.collections.iter().any(|c| &c.name == name) {
            return Err(AppError::UnknownCollection(name.clone()));
        }
    }
    let selected: Vec<CollectionConfig> = config
        .collections
        .iter()
        .filter(|c| options.only.is_empty() || options.only.contains(&c.name))
        .cloned()
        .collect();

    let ctx = HttpContext::new().map_err(|e| AppError::Start(e.to_string()))?;
    // Check every source's settings before touching the database.
    for c in &selected {
        let http = http_config(c);
        let checked = if c.http.scrape.is_some() {
            ScrapeSource::from_config(&http, &ctx).map(drop)
        } else {
            JsonSource::from_config(&http, &ctx).map(drop)
        };
        checked.map_err(|e| AppError::Source {
            collection: c.name.clone(),
            message: e.to_string(),
        })?;
    }

    let db = Database::open(&config.database)
        .await
        .map_err(|e| AppError::Database {
            url: redact_url(&config.database),
            message: e.to_string(),
        })?;
    // One crawler per collection: a second process on the same database
    // fails here, naming the first one's host and pid.
    let names: Vec<&str> = selected.iter().map(|c| c.name.as_str()).collect();
    let locks = db
        .lock(&names)
        .await
        .map_err(|e| AppError::Locked(e.to_string()))?;
    let collections: Vec<Collection> = selected
        .into_iter()
        .map(|c| collection(c, db.clone(), ctx.clone(), config.mode))
        .collect();
    let runner = Runner::builder(Arc::new(db.checkpoint_store()))
        .collections(collections)
        .concurrency(config.concurrency)
        .max_resumes(config.max_resumes)
        .fresh(options.fresh)
        .build()
        .map_err(|e| AppError::Start(e.to_string()))?;

    let server = match &config.metrics_addr {
        Some(addr) => Some(
            pipeline_core::serve::serve(addr.as_str(), runner.clone())
                .await
                .map_err(|e| AppError::Start(format!("metrics server on {addr}: {e}")))?,
        ),
        None => None,
    };
    if let Some(server) = &server {
        let addr = server.local_addr();
        tracing::info!(%addr, "serving /metrics and /status");
        if !options.quiet {
            stderr::line(format_args!(
                "crawl: metrics at http://{addr}/metrics, status at http://{addr}/status"
            ));
        }
    }
    runner
        .shutdown_on_signals_then_exit(FORCE_GRACE, INTERRUPTED)
        .map_err(|e| AppError::Start(format!("signal handlers: {e}")))?;
    runner.start().map_err(|e| AppError::Start(e.to_string()))?;
    let progress = Progress::start(&runner, options.quiet);
    let summaries = runner.join().await;
    progress.finish().await;
    if let Some(server) = server {
        server.shutdown().await;
    }
    if let Err(e) = locks.release().await {
        tracing::warn!(error = %e, "releasing the collection locks failed; they end with the connection");
    }
    db.close().await;
    Ok(RunResult {
        summaries,
        interrupted: runner.is_shutting_down(),
    })
}
