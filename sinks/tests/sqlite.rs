//! The SQLite sink and checkpoint store, on real database files.
#![cfg(feature = "sqlite")]

mod support;

use std::time::Duration;

use pipeline_core::testkit::ScriptedPaged;
use pipeline_core::{CheckpointStore, SinkError};
use sinks::sqlx::{self, Connection};
use sinks::{Database, DatabaseOptions, Error};
use support::scenarios::{self as s, run, sink_error};
use support::{Reader, docs, keys, sqlite_url, unique};

#[tokio::test]
async fn upsert_is_idempotent() {
    let (_dir, url) = sqlite_url();
    s::upsert_is_idempotent(&url).await;
}

#[tokio::test]
async fn failed_source_resumes_from_the_committed_cursor() {
    let (_dir, url) = sqlite_url();
    s::failed_source_resumes_from_the_committed_cursor(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_batches_resumes_without_loss_or_duplicates() {
    if s::is_child() {
        return s::kill_child_main().await;
    }
    let (_dir, url) = sqlite_url();
    s::killed_mid_run_resumes_exactly(&url, "killed_between_batches_resumes_without_loss_or_duplicates")
        .await;
}

#[tokio::test]
async fn staging_swaps_on_completion_and_keeps_live_on_failure() {
    let (_dir, url) = sqlite_url();
    s::staging_swaps_on_completion_and_keeps_live_on_failure(&url).await;
}

#[tokio::test]
async fn a_fresh_staging_run_starts_empty() {
    let (_dir, url) = sqlite_url();
    s::a_fresh_staging_run_starts_empty(&url).await;
}

#[tokio::test]
async fn a_batch_larger_than_the_bind_limit_is_chunked() {
    let (_dir, url) = sqlite_url();
    // 32766 binds / 2 per row = 16383 rows per statement: three statements.
    s::a_batch_larger_than_the_bind_limit_is_chunked(&url, 40_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_collections_share_one_database() {
    let (_dir, url) = sqlite_url();
    s::concurrent_collections_share_one_database(&url).await;
}

#[tokio::test]
async fn bad_names_are_rejected_when_building() {
    let (_dir, url) = sqlite_url();
    s::bad_names_are_rejected_when_building(&url).await;
}

#[tokio::test]
async fn a_missing_key_fails_the_batch_naming_the_collection() {
    let (_dir, url) = sqlite_url();
    s::a_missing_key_fails_the_batch_naming_the_collection(&url).await;
}

#[tokio::test]
async fn a_dropped_table_fails_naming_the_collection() {
    let (_dir, url) = sqlite_url();
    s::a_dropped_table_fails_naming_the_collection(&url).await;
}

#[tokio::test]
async fn typed_rows_map_fields_to_columns() {
    let (_dir, url) = sqlite_url();
    s::typed_rows_map_fields_to_columns(&url).await;
}

#[tokio::test]
async fn checkpoint_store_round_trips_and_reports_corruption() {
    let (_dir, url) = sqlite_url();
    s::checkpoint_store_round_trips_and_reports_corruption(&url).await;
}

/// Another connection holding the write lock, as another process would.
async fn hold_write_lock(url: &str) -> sqlx::SqliteConnection {
    let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
    sqlx::raw_sql("BEGIN EXCLUSIVE").execute(&mut conn).await.unwrap();
    conn
}

#[tokio::test]
async fn a_locked_database_fails_after_the_retry_budget() {
    let (_dir, url) = sqlite_url();
    let options = DatabaseOptions::new().busy_timeout(Duration::from_millis(20));
    let db = Database::open_with(&url, options).await.unwrap();
    let coll = unique("locked");
    let sink = db
        .documents(&coll)
        .retry_budget(Duration::from_millis(300))
        .build()
        .await
        .unwrap();
    let mut lock = hold_write_lock(&url).await;
    let report = run(&coll, ScriptedPaged::new(docs(2, 5, "a")), None, 5, sink).await;
    let err = sink_error(&report);
    assert!(
        matches!(err, SinkError::Write { collection, .. } if *collection == coll),
        "{err}"
    );
    assert!(err.to_string().contains("gave up after"), "{err}");
    sqlx::raw_sql("ROLLBACK").execute(&mut lock).await.unwrap();
    let reader = Reader::connect(&url).await;
    s::assert_nothing_committed(&reader, &db, &coll).await;
}

#[tokio::test]
async fn a_lock_released_within_the_budget_commits_once() {
    let (_dir, url) = sqlite_url();
    let options = DatabaseOptions::new().busy_timeout(Duration::from_millis(20));
    let db = Database::open_with(&url, options).await.unwrap();
    let coll = unique("unlocked");
    let sink = db.documents(&coll).build().await.unwrap();
    let mut lock = hold_write_lock(&url).await;
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        sqlx::raw_sql("ROLLBACK").execute(&mut lock).await.unwrap();
    });
    let report = run(&coll, ScriptedPaged::new(docs(3, 5, "a")), None, 5, sink).await;
    release.await.unwrap();
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    let reader = Reader::connect(&url).await;
    assert_eq!(reader.keys(&coll).await, keys(0, 15));
    assert_eq!(reader.count(&coll).await, 15);
    let cp = db.checkpoint_store().load(&coll).await.unwrap().unwrap();
    assert_eq!(cp.items_written, 15);
}

#[tokio::test]
async fn open_understands_sqlite_urls_and_refuses_others() {
    let db = Database::open("sqlite::memory:").await.unwrap();
    assert_eq!(db.backend_name(), "sqlite");
    let sink = db.documents("mem").build().await.unwrap();
    let report = run("mem", ScriptedPaged::new(docs(2, 3, "a")), None, 3, sink).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);

    let err = Database::open("mysql://user:secret@host/db").await.unwrap_err();
    assert!(matches!(err, Error::Url { .. }), "{err}");
    assert!(!err.to_string().contains("secret"), "{err}");
}
