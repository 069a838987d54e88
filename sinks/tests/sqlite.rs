//! The SQLite sink and checkpoint store, on real database files.
#![cfg(feature = "sqlite")]

mod support;

use std::time::Duration;

use crawlpipe_core::testkit::ScriptedPaged;
use crawlpipe_core::{CheckpointStore, SinkError};
use crawlpipe_sinks::sqlx::{self, Connection};
use crawlpipe_sinks::{Database, DatabaseConfig, Error};
use support::scenarios::{self as s, run, sink_error};
use support::{Reader, docs, keys, sqlite_url, unique};

#[tokio::test]
async fn composite_keys_keep_every_tuple_apart() {
    let (_dir, url) = sqlite_url();
    s::composite_keys_keep_every_tuple_apart(&url).await;
}

#[tokio::test]
async fn a_parent_key_part_keeps_two_parents_children_apart() {
    let (_dir, url) = sqlite_url();
    s::a_parent_key_part_keeps_two_parents_children_apart(&url).await;
}

#[tokio::test]
async fn keyless_rows_resume_exactly_and_a_rerun_replaces_the_last() {
    let (_dir, url) = sqlite_url();
    s::keyless_rows_resume_exactly_and_a_rerun_replaces_the_last(&url).await;
}

#[tokio::test]
async fn keyless_children_replace_only_their_parents_rows() {
    let (_dir, url) = sqlite_url();
    s::keyless_children_replace_only_their_parents_rows(&url).await;
}

#[tokio::test]
async fn raw_documents_follow_the_key_rules() {
    let (_dir, url) = sqlite_url();
    s::raw_documents_follow_the_key_rules(&url).await;
}

#[tokio::test]
async fn raw_documents_are_stored_as_received() {
    let (_dir, url) = sqlite_url();
    s::raw_documents_are_stored_as_received(&url).await;
}

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
async fn staging_keeps_the_latest_write_of_each_key_across_a_resume() {
    let (_dir, url) = sqlite_url();
    s::staging_keeps_the_latest_write_of_each_key_across_a_resume(&url).await;
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
async fn bad_names_are_rejected() {
    let (_dir, url) = sqlite_url();
    s::bad_names_are_rejected(&url).await;
}

#[tokio::test]
async fn a_bad_key_writes_everything_before_it() {
    let (_dir, url) = sqlite_url();
    s::a_bad_key_writes_everything_before_it(&url).await;
}

#[tokio::test]
async fn a_dropped_table_fails_naming_the_collection() {
    let (_dir, url) = sqlite_url();
    s::a_dropped_table_fails_naming_the_collection(&url).await;
}

#[tokio::test]
async fn keys_of_different_types_never_share_a_row() {
    let (_dir, url) = sqlite_url();
    s::keys_of_different_types_never_share_a_row(&url).await;
}

#[tokio::test]
async fn a_second_lock_holder_fails_fast_naming_the_first() {
    let (_dir, url) = sqlite_url();
    s::a_second_lock_holder_fails_fast_naming_the_first(&url).await;
}

#[tokio::test]
async fn typed_rows_map_fields_to_columns() {
    let (_dir, url) = sqlite_url();
    s::typed_rows_map_fields_to_columns(&url).await;
}

#[tokio::test]
async fn checkpoint_store_records_state_only_and_reports_corruption() {
    let (_dir, url) = sqlite_url();
    s::checkpoint_store_records_state_only_and_reports_corruption(&url).await;
}

#[tokio::test]
async fn recorded_states_are_written_together_and_keep_cursors() {
    let (_dir, url) = sqlite_url();
    s::recorded_states_are_written_together_and_keep_cursors(&url).await;
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
    let config = DatabaseConfig::new().busy_timeout(Duration::from_millis(20));
    let db = Database::open_with(&url, config).await.unwrap();
    let coll = unique("locked");
    // Open once so the table exists; the locked run then fails writing, not opening.
    let report = run(&coll, ScriptedPaged::new(vec![Vec::new()]), 5, s::docs_sink(&db)).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    let sink = db
        .documents()
        .retry_budget(Duration::from_millis(300))
        .build()
        .unwrap();
    let mut lock = hold_write_lock(&url).await;
    let report = run(&coll, ScriptedPaged::new(docs(2, 5, "a")), 5, sink).await;
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
    let config = DatabaseConfig::new().busy_timeout(Duration::from_millis(20));
    let db = Database::open_with(&url, config).await.unwrap();
    let coll = unique("unlocked");
    let sink = s::docs_sink(&db);
    let mut lock = hold_write_lock(&url).await;
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        sqlx::raw_sql("ROLLBACK").execute(&mut lock).await.unwrap();
    });
    let report = run(&coll, ScriptedPaged::new(docs(3, 5, "a")), 5, sink).await;
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
    let report = run("mem", ScriptedPaged::new(docs(2, 3, "a")), 3, s::docs_sink(&db)).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);

    let err = Database::open("mysql://user:secret@host/db").await.unwrap_err();
    assert!(matches!(err, Error::Url { .. }), "{err}");
    assert!(!err.to_string().contains("secret"), "{err}");
}

#[tokio::test]
async fn a_full_disk_fails_resumably_and_later_writes_still_commit() {
    use crawlpipe_sinks::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
    use std::str::FromStr;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicI64, Ordering};

    let (_dir, url) = sqlite_url();
    let connect = SqliteConnectOptions::from_str(&url)
        .unwrap()
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal);
    // The page limit is per connection, and a connection whose transaction
    // state is unknown is replaced: every new connection gets the limit.
    let limit = Arc::new(AtomicI64::new(1_000_000));
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .after_connect({
            let limit = limit.clone();
            move |conn, _| {
                let pages = limit.load(Ordering::SeqCst);
                Box::pin(async move {
                    let pragma = format!("PRAGMA max_page_count = {pages}");
                    sqlx::query(sqlx::AssertSqlSafe(pragma)).execute(conn).await?;
                    Ok(())
                })
            }
        })
        .connect_with(connect)
        .await
        .unwrap();
    let config = DatabaseConfig::new().retry_budget(Duration::from_millis(300));
    let db = Database::from_sqlite_pool(pool.clone(), config).await.unwrap();
    let coll = unique("full");
    let report = run(&coll, ScriptedPaged::new(docs(1, 2, "a")), 5, s::docs_sink(&db)).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);

    let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
        .fetch_one(&pool)
        .await
        .unwrap();
    limit.store(pages + 1, Ordering::SeqCst);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "PRAGMA max_page_count = {}",
        pages + 1
    )))
    .execute(&pool)
    .await
    .unwrap();
    // One item per batch: a single-row statement has no statement journal,
    // so SQLite rolls the whole transaction back on SQLITE_FULL by itself.
    let big = |tag: &str| -> Vec<Vec<serde_json::Value>> {
        docs(150, 1, tag)
            .into_iter()
            .map(|page| {
                page.into_iter()
                    .map(|mut d| {
                        d["pad"] = "x".repeat(20_000).into();
                        d
                    })
                    .collect()
            })
            .collect()
    };
    let report = run(&coll, ScriptedPaged::new(big("b")), 1, s::docs_sink(&db)).await;
    let err = sink_error(&report);
    assert!(
        matches!(err, SinkError::Write { collection, .. } if *collection == coll),
        "{err}"
    );
    assert!(err.is_retryable(), "a full disk may be freed: {err}");
    assert!(err.to_string().contains("full"), "the database's message: {err}");

    assert!(!err.to_string().contains("transaction depth"), "{err}");

    // Space again: the same Database commits.
    limit.store(1_000_000, Ordering::SeqCst);
    sqlx::query("PRAGMA max_page_count = 1000000")
        .execute(&pool)
        .await
        .unwrap();
    let report = run(&coll, ScriptedPaged::new(big("c")), 1, s::docs_sink(&db)).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    let reader = Reader::connect(&url).await;
    assert_eq!(reader.keys(&coll).await, keys(0, 150));
    assert_eq!(reader.data(&coll, "k7").await.unwrap()["tag"], "c");
}

#[tokio::test]
async fn a_high_water_floor_is_stored_even_without_items() {
    let (_dir, url) = sqlite_url();
    s::a_high_water_floor_is_stored_even_without_items(&url).await;
}
