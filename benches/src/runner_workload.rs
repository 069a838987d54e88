//! Runner overhead: many collections against the mock server into SQLite,
//! through the `Runner` and through a hand-written `JoinSet`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crawlpipe_core::Pipeline;
use crawlpipe_core::runner::{Collection, Runner};
use crawlpipe_sinks::Database;
use crawlpipe_sources::mock::{MockConfig, MockServer};
use crawlpipe_sources::{HttpContext, HttpSourceConfig, JsonSource, Pagination};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// The shape of the workload.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub collections: usize,
    pub pages: usize,
    pub per_page: usize,
    pub concurrency: usize,
}

fn source_config(server: &MockServer) -> HttpSourceConfig {
    let mut config = HttpSourceConfig::new(server.url("/link?page=1")).pagination(Pagination::LinkHeader);
    config.max_in_flight_per_host = 64;
    config
}

/// Runs every collection through the `Runner`, its checkpoints in the same
/// SQLite database (or in memory with `memory_store`); returns (items written, elapsed).
pub async fn with_runner(
    server: &MockServer,
    db: &Database,
    shape: Shape,
    memory_store: bool,
) -> (u64, Duration) {
    let ctx = HttpContext::new().expect("client");
    let config = Arc::new(source_config(server));
    let collections = (0..shape.collections).map(|i| {
        let name = format!("r{i}");
        let (ctx, config, db) = (ctx.clone(), config.clone(), db.clone());
        Collection::new_async(name, move |name: &str| {
            let built = JsonSource::from_config(&config, &ctx)
                .map_err(crawlpipe_core::BoxError::from)
                .and_then(|source| Ok(Pipeline::paged(name, source).sink(db.documents().build()?)));
            async move { built }
        })
    });
    let store: Arc<dyn crawlpipe_core::CheckpointStore> = if memory_store {
        Arc::new(crawlpipe_core::MemoryCheckpointStore::new())
    } else {
        Arc::new(db.checkpoint_store())
    };
    let runner = Runner::builder(store)
        .collections(collections)
        .concurrency(shape.concurrency)
        .fresh(true)
        .build()
        .expect("valid runner");
    let started = Instant::now();
    let summaries = runner.join().await;
    let elapsed = started.elapsed();
    assert!(
        summaries
            .iter()
            .all(|s| s.state == crawlpipe_core::State::Completed)
    );
    (summaries.iter().map(|s| s.progress.items_written).sum(), elapsed)
}

/// The same pipelines with a semaphore and a `JoinSet`, no runner.
pub async fn with_join_set(server: &MockServer, db: &Database, shape: Shape) -> (u64, Duration) {
    let ctx = HttpContext::new().expect("client");
    let config = source_config(server);
    let slots = Arc::new(Semaphore::new(shape.concurrency));
    let started = Instant::now();
    let mut set = JoinSet::new();
    for i in 0..shape.collections {
        let name = format!("j{i}");
        let (ctx, config, db, slots) = (ctx.clone(), config.clone(), db.clone(), slots.clone());
        set.spawn(async move {
            let _slot = slots.acquire_owned().await.expect("open");
            let source = JsonSource::from_config(&config, &ctx).expect("valid source");
            let sink = db.documents().build().expect("sink");
            let report = Pipeline::paged(name, source)
                .sink(sink)
                .spawn()
                .expect("spawn")
                .join()
                .await;
            assert!(report.outcome.is_completed());
            report.progress.items_written
        });
    }
    let mut items = 0;
    while let Some(r) = set.join_next().await {
        items += r.expect("task");
    }
    (items, started.elapsed())
}

/// Starts the mock server for `shape`.
pub async fn server(shape: Shape) -> MockServer {
    MockServer::start(MockConfig::new(shape.pages * shape.per_page, shape.per_page))
        .await
        .expect("mock server")
}

/// Prints the figures of `compare runner`: the `Runner` against a
/// hand-written `JoinSet` of the same pipelines, into SQLite.
#[allow(clippy::print_stdout)]
pub fn compare() {
    let shape = Shape {
        collections: 200,
        pages: 50,
        per_page: 20,
        concurrency: 8,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let server = server(shape).await;
        let dir = std::env::temp_dir().join(format!("compare-runner-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut best = [Duration::MAX; 3];
        let mut items = 0;
        let rounds = 5;
        for round in 0..rounds {
            let open = |name: &str| {
                let url = format!("sqlite://{}", dir.join(format!("{name}{round}.db")).display());
                async move { crawlpipe_sinks::Database::open(&url).await.expect("sqlite opens") }
            };
            // Rotate the order so that no variant always runs first.
            for k in 0..3 {
                let variant = (round + k) % 3;
                let db = open(["runner", "joinset", "memstore"][variant]).await;
                let (n, d) = match variant {
                    0 => with_runner(&server, &db, shape, false).await,
                    1 => with_join_set(&server, &db, shape).await,
                    _ => with_runner(&server, &db, shape, true).await,
                };
                db.close().await;
                best[variant] = best[variant].min(d);
                assert!(items == 0 || items == n, "variants disagree");
                items = n;
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        let rate = |d: Duration| items as f64 / d.as_secs_f64();
        println!(
            "runner, {} collections x {} pages x {} items, {} at once, into SQLite, best of {rounds}:",
            shape.collections, shape.pages, shape.per_page, shape.concurrency
        );
        let labels = ["Runner:", "JoinSet by hand:", "Runner, checkpoints in memory:"];
        for (label, d) in labels.iter().zip(best) {
            println!("  {label:<31} {:>8.0} ms  {:>9.0} items/s", millis(d), rate(d));
        }
        println!(
            "  ratio Runner / JoinSet: {:.2}x (goal >= 0.95x)",
            best[1].as_secs_f64() / best[0].as_secs_f64()
        );
        println!(
            "  ratio Runner with checkpoints in memory / JoinSet: {:.2}x",
            best[1].as_secs_f64() / best[2].as_secs_f64()
        );
        println!(
            "  peak RSS of this process: {:.1} MiB",
            crate::child_rss::peak_rss_kib() as f64 / 1024.0
        );
        server.shutdown().await;
    });
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
