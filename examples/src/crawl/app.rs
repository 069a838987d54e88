//! Builds a [`Runner`] from a [`CrawlConfig`] and runs it to the end.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crawlpipe_core::State;
use crawlpipe_core::history::Alerts;
use crawlpipe_core::policy::{Breakers, HostGates, HostSlots, QuotaBudgets};
use crawlpipe_core::runner::{Collection, CollectionSummary, Runner};
use crawlpipe_core::serve::ServeConfig;
use crawlpipe_sinks::{Database, PgCoordinator, PgHostSlots, PgQuotas};
use crawlpipe_sources::{HttpContext, JsonSource, ScrapeSource, WebhookSender};

pub use super::app_error::AppError;
use super::collections;
use super::config::{CollectionConfig, CrawlConfig, KeyConfig};
use super::progress::Progress;
use super::service::Service;
use super::stderr;
use super::tree;

/// After a second SIGINT/SIGTERM, how long the runner may take to stop
/// before the process exits anyway: a blocked database must not keep it alive.
pub const FORCE_GRACE: Duration = Duration::from_secs(1);
/// Exit status of an interrupted crawl.
pub const INTERRUPTED: i32 = 130;

/// Options from the command line that are not in the config file.
#[derive(Debug, Clone, Default)]
pub struct RunConfig {
    /// Ignore checkpoints: crawl every collection from the start.
    pub fresh: bool,
    /// No progress display, warnings and errors only.
    pub quiet: bool,
    /// Crawl only these collections (all when empty).
    pub only: Vec<String>,
    /// Run as a service: scheduled re-crawls, SIGHUP reloads, exit 0 on SIGTERM.
    pub serve: bool,
    /// The config file, re-read on SIGHUP with `serve`.
    pub config_path: Option<PathBuf>,
    /// Rebuild typed columns whose type or pointer changed from `data`.
    pub migrate: bool,
}

impl RunConfig {
    /// Whether `--only` selects the collection `name`.
    pub fn selects(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|n| n == name)
    }
}

/// How a whole crawl ended.
#[derive(Debug)]
pub struct RunResult {
    /// One summary per collection.
    pub summaries: Vec<CollectionSummary>,
    /// Whether a shutdown signal interrupted the crawl.
    pub interrupted: bool,
    /// Whether it ran as a service (a service asked to stop exits 0).
    pub serve: bool,
    /// Child collections that did not complete (a child or the parent failed).
    pub failed_children: Vec<String>,
    /// The children of each child collection, aggregated.
    pub groups: Vec<crawlpipe_core::runner::GroupStatus>,
    /// Typed collections with items kept in `pipeline_rejected`, and how many.
    pub rejected: Vec<(String, u64)>,
}

impl RunResult {
    /// The process exit status: 0 all completed (or a service asked to
    /// stop), 1 any failed, 130 interrupted.
    pub fn exit_code(&self) -> i32 {
        if self.serve {
            0
        } else if self.interrupted {
            INTERRUPTED
        } else if self.failed_children.is_empty()
            && self.summaries.iter().all(|s| s.state == State::Completed)
        {
            0
        } else {
            1
        }
    }
}

/// A database URL for messages: password and secret query parameters hidden.
pub fn redact_url(url: &str) -> String {
    crawlpipe_sources::redact::redact_url(url, &crawlpipe_sources::redact::default_secret_params())
}

/// Crawls every selected collection of `config` and waits for the end (with
/// `serve`, until SIGINT/SIGTERM; SIGHUP re-reads `config_path`).
///
/// # Errors
///
/// An [`AppError`] when the crawl cannot start; failures of collections are
/// in the result's summaries instead.
pub async fn run(config: CrawlConfig, options: RunConfig) -> Result<RunResult, AppError> {
    for name in &options.only {
        if !config.collections.iter().any(|c| &c.name == name) {
            return Err(AppError::UnknownCollection(name.clone()));
        }
    }
    let mut config = config;
    for c in &mut config.collections {
        c.table.migrate = options.migrate;
    }
    let selected: Vec<CollectionConfig> = config
        .collections
        .iter()
        .filter(|c| options.selects(&c.name))
        .cloned()
        .collect();
    let ctx = HttpContext::new().map_err(|e| AppError::Start(e.to_string()))?;
    check_selected(&config, &selected, &ctx).await?;
    let storage = open_storage(&config, &selected, ctx).await?;
    let (db, ctx) = (&storage.db, &storage.ctx);
    prepare_tables(&config, &selected, db).await?;
    let plan = tree::plan(&selected, &db.checkpoint_store(), options.fresh)
        .await
        .map_err(AppError::Start)?;
    let runner = build_runner(&config, &options, &storage).await?;
    // Top-level collections join the runner; each child collection gets a feeder.
    let wiring = tree::Wiring {
        all: &config.collections,
        selected: &selected,
        db,
        ctx,
        mode: config.mode,
        window: config.children,
        fresh: options.fresh,
    };
    let children = tree::tree(&wiring, |c: &CollectionConfig| -> Collection {
        collections::collection_fresh(
            c.clone(),
            db.clone(),
            ctx.clone(),
            config.mode,
            options.serve,
            options.fresh,
        )
    })
    .wire(&runner, db, &plan)
    .map_err(|e| AppError::Start(e.to_string()))?;
    let server = start_server(&config, &options, &runner).await?;
    runner
        .shutdown_on_signals_then_exit(FORCE_GRACE, INTERRUPTED)
        .map_err(|e| AppError::Start(format!("signal handlers: {e}")))?;
    let typed: Vec<String> = selected
        .iter()
        .filter(|c| c.table.is_typed())
        .map(|c| c.name.clone())
        .collect();
    let held = Arc::new(tokio::sync::Mutex::new(
        storage.locks.into_iter().collect::<Vec<_>>(),
    ));
    let reload = match (&options.config_path, options.serve) {
        (Some(path), true) => {
            let service = Service {
                path: path.clone(),
                runner: runner.clone(),
                db: db.clone(),
                ctx: ctx.clone(),
                options: options.clone(),
                mode: config.mode,
                reload: crawlpipe_core::runner::Reload::new(selected),
                locks: held.clone(),
                cluster: storage.coordinator.is_some(),
            };
            let reload = service
                .reload_on_sighup()
                .map_err(|e| AppError::Start(format!("SIGHUP handler: {e}")))?;
            Some(reload)
        }
        _ => None,
    };
    runner.start().map_err(|e| AppError::Start(e.to_string()))?;
    let progress = Progress::start(&runner, options.quiet);
    let summaries = runner.join().await;
    progress.finish().await;
    if let Some(server) = server {
        server.shutdown().await;
    }
    drop(reload);
    for locks in held.lock().await.drain(..) {
        if let Err(e) = locks.release().await {
            tracing::warn!(error = %e, "releasing the collection locks failed; they end with the connection");
        }
    }
    if let Some(coordinator) = storage.coordinator
        && let Err(e) = coordinator.leave().await
    {
        tracing::warn!(error = %e, "leaving the cluster failed; this process stops being counted after a lease");
    }
    let rejected = rejected_counts(db, typed).await;
    db.close().await;
    Ok(RunResult {
        summaries,
        interrupted: runner.is_shutting_down(),
        serve: options.serve,
        failed_children: children.unfinished(),
        groups: runner.groups(),
        rejected,
    })
}

/// Checks every selected source's settings, and that robots.txt allows each
/// top-level start URL, before the database is touched (the robots.txt
/// files stay cached for the crawl; a child's URLs are checked as its pages
/// are fetched).
async fn check_selected(
    config: &CrawlConfig,
    selected: &[CollectionConfig],
    ctx: &HttpContext,
) -> Result<(), AppError> {
    let refused = |c: &CollectionConfig, message: String| AppError::Source {
        line: config.collection_lines.get(&c.name).copied(),
        collection: c.name.clone(),
        message,
    };
    for c in selected {
        check_source(c, ctx).map_err(|message| refused(c, message))?;
    }
    // A `values` collection fetches nothing.
    for c in selected
        .iter()
        .filter(|c| c.parent.is_none() && c.values.is_none())
    {
        crawlpipe_sources::robots::check_start_url(&c.http, ctx)
            .await
            .map_err(|e| refused(c, e.to_string()))?;
    }
    Ok(())
}

/// The database and what a crawl holds in it: the collections' locks, or in
/// a cluster the coordinator, and an HTTP context whose politeness state
/// the cluster's processes share.
struct Storage {
    db: Database,
    ctx: HttpContext,
    locks: Option<crawlpipe_sinks::CollectionLocks>,
    coordinator: Option<PgCoordinator>,
}

/// Opens the database and takes the selected collections: one crawler per
/// collection (a second process on the same database fails here, naming
/// the first one's host and pid), or in a cluster leases, with each host's
/// request starts, in-flight cap, breaker and request budgets kept in the
/// database too, so they hold for every process together.
async fn open_storage(
    config: &CrawlConfig,
    selected: &[CollectionConfig],
    ctx: HttpContext,
) -> Result<Storage, AppError> {
    let db_error = |message: String| AppError::Database {
        url: redact_url(&config.database),
        message,
    };
    let db = Database::open(&config.database)
        .await
        .map_err(|e| db_error(e.to_string()))?;
    let Some(lease) = config.cluster else {
        let names: Vec<&str> = selected.iter().map(|c| c.name.as_str()).collect();
        let locks = db
            .lock(&names)
            .await
            .map_err(|e| AppError::Locked(e.to_string()))?;
        return Ok(Storage {
            db,
            ctx,
            locks: Some(locks),
            coordinator: None,
        });
    };
    let joining = |e: crawlpipe_sinks::Error| db_error(format!("joining the cluster: {e}"));
    let coordinator = PgCoordinator::new(&db, lease).await.map_err(joining)?;
    let slots: Arc<dyn HostSlots> = Arc::new(PgHostSlots::new(&db).await.map_err(joining)?);
    let quotas = PgQuotas::new(&db).await.map_err(joining)?;
    let ctx = ctx
        .with_registries(HostGates::shared(slots.clone()), Breakers::shared(slots))
        .with_quotas(QuotaBudgets::shared(Arc::new(quotas)));
    Ok(Storage {
        db,
        ctx,
        locks: None,
        coordinator: Some(coordinator),
    })
}

/// Brings typed tables to their columns (backfilled, or refused naming the
/// column) before any collection starts.
async fn prepare_tables(
    config: &CrawlConfig,
    selected: &[CollectionConfig],
    db: &Database,
) -> Result<(), AppError> {
    for c in selected.iter().filter(|c| c.table.is_typed()) {
        let mut builder = KeyConfig::documents(c.key.as_ref(), c.table.apply(db.documents()));
        if c.parent.is_some() {
            // A child collection's table has `parent`; setting it up reads
            // no parent's key (each child's sink names its own).
            builder = builder.table(&c.name).child_of(&c.name, "");
        }
        builder.prepare(&c.name).await.map_err(|e| match e {
            crawlpipe_sinks::Error::Config { collection, reason } => AppError::Table { collection, reason },
            other => AppError::Database {
                url: redact_url(&config.database),
                message: other.to_string(),
            },
        })?;
    }
    Ok(())
}

/// The runner: its limits, the coordinator in a cluster, the run history
/// next to the data, and the alerts.
async fn build_runner(
    config: &CrawlConfig,
    options: &RunConfig,
    storage: &Storage,
) -> Result<Runner, AppError> {
    let db = &storage.db;
    let mut builder = Runner::builder(Arc::new(db.checkpoint_store()));
    if let Some(coordinator) = &storage.coordinator {
        builder = builder.coordinator(Arc::new(coordinator.clone()));
    }
    // The run history lives next to the data (shared by a cluster's processes).
    let history = db.run_history().await.map_err(|e| AppError::Database {
        url: redact_url(&config.database),
        message: format!("the run history (pipeline_runs): {e}"),
    })?;
    builder = builder.history(Arc::new(history)).history_keep(config.history);
    if let Some(alerts) = &config.alerts {
        let webhook = WebhookSender::new(&alerts.webhook, storage.ctx.client().clone())
            .map_err(|e| AppError::Start(e.to_string()))?;
        builder = builder.alerts(Alerts::new(webhook).on(alerts.on.clone()));
    }
    builder
        .concurrency(config.concurrency)
        .group_concurrency(config.children)
        .max_resumes(config.max_resumes)
        .fresh(options.fresh)
        .service(options.serve)
        .build()
        .map_err(|e| AppError::Start(e.to_string()))
}

/// Serves the status page, `/status` and `/metrics` when `metrics_addr` is set.
async fn start_server(
    config: &CrawlConfig,
    options: &RunConfig,
    runner: &Runner,
) -> Result<Option<crawlpipe_core::serve::Server>, AppError> {
    let Some(addr) = &config.metrics_addr else {
        return Ok(None);
    };
    let mut serve = ServeConfig::new();
    for host in &config.status_hosts {
        serve = serve.allowed_host(host.clone());
    }
    if let Some(token) = &config.admin_token {
        serve = serve.admin_token(token.0.clone());
    }
    let server = crawlpipe_core::serve::serve_with(addr.as_str(), runner.clone(), serve)
        .await
        .map_err(|e| AppError::Start(format!("metrics server on {addr}: {e}")))?;
    let addr = server.local_addr();
    tracing::info!(%addr, "serving the status page, /status and /metrics");
    if !options.quiet {
        stderr::line(format_args!(
            "crawl: status page at http://{addr}/ (JSON at /status, metrics at /metrics)"
        ));
    }
    Ok(Some(server))
}

/// Items set aside in `pipeline_rejected` per typed collection (those with any).
async fn rejected_counts(db: &Database, typed: Vec<String>) -> Vec<(String, u64)> {
    let mut rejected = Vec::new();
    for c in typed {
        match db.rejected_count(&c).await {
            Ok(0) => {}
            Ok(n) => rejected.push((c, n)),
            Err(e) => tracing::warn!(error = %e, collection = %c, "counting rejected items failed"),
        }
    }
    rejected
}

/// Builds a collection's source once, to report a bad setting before starting.
pub(crate) fn check_source(c: &CollectionConfig, ctx: &HttpContext) -> Result<(), String> {
    if c.values.is_some() {
        // Its items are in the file (checked at load): no request to build.
        return Ok(());
    }
    let mut http = c.http.clone();
    if c.parent.is_some() {
        // A child's URL is a template: check its shape with a sample value.
        let template = crawlpipe_sources::UrlTemplate::parse(&http.url).map_err(|e| e.to_string())?;
        http.url = template.sample("1");
    }
    let checked = if http.scrape.is_some() {
        ScrapeSource::from_config(&http, ctx).map(drop)
    } else {
        JsonSource::from_config(&http, ctx).map(drop)
    };
    checked.map_err(|e| e.to_string())
}
