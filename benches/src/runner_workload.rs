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
