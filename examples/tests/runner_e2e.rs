//! The runner against the mock HTTP server, into real SQLite files and PostgreSQL.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use crawlpipe_core::policy::RetryPolicy;
use crawlpipe_core::runner::{Collection, CollectionSummary, Runner};
use crawlpipe_core::{CheckpointStore, Pipeline, State};
use crawlpipe_sinks::Database;
use crawlpipe_sinks::sqlx::{self, AssertSqlSafe, Row};
use crawlpipe_sources::mock::{Faults, MockConfig, MockServer, Outage};
use crawlpipe_sources::{BreakerSettings, HttpContext, HttpSourceConfig, JsonSource, Pagination};

fn page_style(server: &MockServer, path: &str) -> HttpSourceConfig {
    let mut config = HttpSourceConfig::new(server.url(path))
        .items("/items")
        .pagination(Pagination::Page {
            param: "page".into(),
            start: 1,
            total_pages: None,
            has_more: None,
            stop_when: None,
            page_size: None,
            page_size_param: None,
        });
    // The default 30 s breaker cooldown would make the outage tests slow.
    config.breaker = Some(BreakerSettings {
        failures: 5,
        cooldown_ms: 100,
    });
    config
}

fn collection(name: &str, config: HttpSourceConfig, db: &Database, ctx: &HttpContext) -> Collection {
    let (config, db, ctx) = (Arc::new(config), db.clone(), ctx.clone());
    Collection::new_async(name, move |name: &str| {
        let built = JsonSource::from_config(&config, &ctx)
            .map_err(crawlpipe_core::BoxError::from)
            .and_then(|source| {
                Ok(Pipeline::paged(name, source)
                    .retry(RetryPolicy::new(2).initial_backoff(Duration::from_millis(5)))
                    .batch_size(100)
                    .sink(db.documents().build()?))
            });
        async move { built }
    })
}

async fn keys(db: &Database, url: &str, table: &str) -> (i64, BTreeSet<String>) {
    let _ = db;
    let sql = AssertSqlSafe(format!("SELECT key FROM \"{table}\""));
    let rows = if url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let rows: Vec<String> = sqlx::query(sql)
            .fetch_all(&pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        pool.close().await;
        rows
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let rows: Vec<String> = sqlx::query(sql)
            .fetch_all(&pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        pool.close().await;
        rows
    };
    (rows.len() as i64, rows.into_iter().collect())
}

fn mock_keys(n: usize) -> BTreeSet<String> {
    (0..n)
        .map(|i| crawlpipe_sources::mock::item(i)["id"].to_string())
        .collect()
}

fn summary<'a>(summaries: &'a [CollectionSummary], name: &str) -> &'a CollectionSummary {
    summaries
        .iter()
        .find(|s| s.collection == name)
        .expect("a summary per collection")
}

/// An outage of 503s mid-crawl: the collection fails in-band, goes Retrying,
/// and completes when the server is back, every item exactly once, restarted
/// at the failed page rather than page one.
async fn outage_mid_crawl(url: &str, name: &str) {
    // Requests 12..=19 fail: with 2 attempts per page the crawl fails in-band at least once.
    let server = MockServer::start(MockConfig::new(2_000, 50).faults(Faults {
        outage: Some(Outage::Requests { from: 12, count: 8 }),
        ..Faults::default()
    }))
    .await
    .unwrap();
    let db = Database::open(url).await.unwrap();
    let ctx = HttpContext::new().unwrap();
    let runner = Runner::builder(Arc::new(db.checkpoint_store()))
        .collection(collection(name, page_style(&server, "/page"), &db, &ctx))
        .resume_backoff(Duration::from_millis(20), Duration::from_millis(200))
        .max_resumes(10)
        .fresh(true)
        .build()
        .unwrap();
    let mut events = runner.events();
    let summaries = runner.join().await;
    let s = summary(&summaries, name);
    assert_eq!(s.state, State::Completed, "{s:?}");
    assert!(s.resumes >= 1, "the runner resumed the collection: {s:?}");

    let mut saw_retrying = false;
    use futures::StreamExt;
    while let Some(event) = events.next().await {
        if let crawlpipe_core::runner::RunnerEvent::Failed { will_retry: true, .. } = event {
            saw_retrying = true;
        }
    }
    assert!(saw_retrying, "a Failed event announced the retry");

    let (rows, got) = keys(&db, url, name).await;
    assert_eq!(rows, 2_000, "no duplicates");
    assert_eq!(got, mock_keys(2_000), "no loss");
    let requests = server.requests();
    let first_pages = requests
        .iter()
        .filter(|r| r.as_str() == "/page?page=1" || r.as_str() == "/page")
        .count();
    assert_eq!(first_pages, 1, "never restarted from page one: {requests:?}");
    db.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn outage_mid_crawl_resumes_at_the_failed_page_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("runner.db").display());
    outage_mid_crawl(&url, "outage").await;
}

#[cfg_attr(no_pg_tests, ignore = "needs PostgreSQL: set PIPELINE_TEST_PG_URL")]
#[tokio::test(flavor = "multi_thread")]
async fn outage_mid_crawl_resumes_at_the_failed_page_in_postgres() {
    let Ok(pg) = std::env::var("PIPELINE_TEST_PG_URL") else {
        eprintln!("skipped: PIPELINE_TEST_PG_URL is not set");
        return;
    };
    let name = format!("runner_outage_{}", std::process::id());
    outage_mid_crawl(&pg, &name).await;
    let pool = sqlx::PgPool::connect(&pg).await.unwrap();
    let _ = sqlx::query(AssertSqlSafe(format!("DROP TABLE IF EXISTS \"{name}\"")))
        .execute(&pool)
        .await;
    let _ = sqlx::query("DELETE FROM pipeline_checkpoints WHERE collection = $1")
        .bind(&name)
        .execute(&pool)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_collections_four_at_once_two_failing() {
    let server = MockServer::start(MockConfig::new(300, 30)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("many.db").display());
    let db = Database::open(&url).await.unwrap();
    let ctx = HttpContext::new().unwrap();
    let collections = (0..20).map(|i| {
        let path = if i == 7 || i == 13 { "/status/404" } else { "/page" };
        collection(&format!("c{i}"), page_style(&server, path), &db, &ctx)
    });
    let store = Arc::new(db.checkpoint_store());
    let runner = Runner::builder(store.clone())
        .collections(collections)
        .concurrency(4)
        .fresh(true)
        .build()
        .unwrap();
    let watcher = {
        let runner = runner.clone();
        tokio::spawn(async move {
            let mut most = 0;
            loop {
                let crawling = runner
                    .status()
                    .iter()
                    .filter(|s| s.state == State::Crawling)
                    .count();
                most = most.max(crawling);
                if runner.status().iter().all(|s| s.state.is_terminal()) {
                    return most;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };
    let summaries = runner.join().await;
    assert!(
        watcher.await.unwrap() <= 4,
        "never more than 4 collections crawling at once"
    );
    for s in &summaries {
        // The runner writes states in the background, and has written
        // every one when `join` returns.
        let stored = store.load(&s.collection).await.unwrap().expect("a stored row");
        assert_eq!(stored.state, s.state, "{s:?}");
        if s.collection == "c7" || s.collection == "c13" {
            assert!(stored.last_error.as_deref().is_some_and(|e| e.contains("404")));
            assert_eq!(s.state, State::Failed, "{s:?}");
            let error = s.last_error.as_ref().expect("an error").to_string();
            assert!(error.contains("404"), "{error}");
            assert!(
                s.cursor.is_none(),
                "failed on the first page: resume from the start"
            );
        } else {
            assert_eq!(s.state, State::Completed, "{s:?}");
            assert_eq!(keys(&db, &url, &s.collection).await.1, mock_keys(300));
        }
    }
    db.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_mid_crawl_then_a_second_run_completes_without_loss_or_duplicates() {
    let server = MockServer::start(MockConfig::new(3_000, 50).latency(Duration::from_millis(10)))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("shutdown.db").display());
    let ctx = HttpContext::new().unwrap();

    let db = Database::open(&url).await.unwrap();
    let runner = Runner::builder(Arc::new(db.checkpoint_store()))
        .collection(collection("items", page_style(&server, "/page"), &db, &ctx))
        .shutdown_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    runner.start().unwrap();
    while runner.status()[0].progress.items_written < 500 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let started = std::time::Instant::now();
    runner.shutdown();
    let summaries = runner.join().await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "drained within the deadline"
    );
    assert_eq!(summaries[0].state, State::Cancelled);
    let cursor = summaries[0].cursor.clone().expect("a checkpoint was saved");
    let (rows, _) = keys(&db, &url, "items").await;
    assert!(rows < 3_000, "stopped mid-crawl after {rows} items");
    db.close().await;
    let before = server.request_count();

    let db = Database::open(&url).await.unwrap();
    let runner = Runner::builder(Arc::new(db.checkpoint_store()))
        .collection(collection("items", page_style(&server, "/page"), &db, &ctx))
        .build()
        .unwrap();
    let summaries = runner.join().await;
    assert_eq!(summaries[0].state, State::Completed);
    let (rows, got) = keys(&db, &url, "items").await;
    assert_eq!(rows, 3_000, "no duplicates");
    assert_eq!(got, mock_keys(3_000), "no loss");
    let resumed_at = &server.requests()[before as usize];
    assert_eq!(
        resumed_at.as_str(),
        cursor.as_str().trim_start_matches(server.base_url()),
        "resumed at the checkpoint"
    );
    db.close().await;
}
