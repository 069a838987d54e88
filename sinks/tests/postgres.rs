//! The PostgreSQL sink and checkpoint store, on a real server
//! (`PIPELINE_TEST_PG_URL`; skipped when unset).
#![cfg(feature = "postgres")]

mod support;

use std::str::FromStr;
use std::time::Duration;

use crawlpipe_core::testkit::ScriptedPaged;
use crawlpipe_core::{Outcome, Sink, SinkContext, SinkError};
use crawlpipe_sinks::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use crawlpipe_sinks::{Database, DatabaseConfig};
use serde_json::Value;
use support::proxy::Proxy;
use support::scenarios::{self as s, run, sink_error};
use support::{Reader, docs, keys, pg_url, unique};

macro_rules! pg_test {
    ($name:ident, $scenario:path $(, $arg:expr)*) => {
        #[cfg_attr(no_pg_tests, ignore = "needs PostgreSQL: set PIPELINE_TEST_PG_URL")]
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let Some(url) = pg_url(stringify!($name)).await else { return };
            $scenario(&url $(, $arg)*).await;
        }
    };
}

pg_test!(upsert_is_idempotent, s::upsert_is_idempotent);
pg_test!(
    composite_keys_keep_every_tuple_apart,
    s::composite_keys_keep_every_tuple_apart
);
pg_test!(
    a_parent_key_part_keeps_two_parents_children_apart,
    s::a_parent_key_part_keeps_two_parents_children_apart
);
pg_test!(
    keyless_rows_resume_exactly_and_a_rerun_replaces_the_last,
    s::keyless_rows_resume_exactly_and_a_rerun_replaces_the_last
);
pg_test!(
    keyless_children_replace_only_their_parents_rows,
    s::keyless_children_replace_only_their_parents_rows
);
pg_test!(
    a_high_water_floor_is_stored_even_without_items,
    s::a_high_water_floor_is_stored_even_without_items
);
pg_test!(
    raw_documents_follow_the_key_rules,
    s::raw_documents_follow_the_key_rules
);
pg_test!(
    raw_documents_are_stored_as_received,
    s::raw_documents_are_stored_as_received
);
pg_test!(
    failed_source_resumes_from_the_committed_cursor,
    s::failed_source_resumes_from_the_committed_cursor
);
pg_test!(
    staging_swaps_on_completion_and_keeps_live_on_failure,
    s::staging_swaps_on_completion_and_keeps_live_on_failure
);
pg_test!(
    a_fresh_staging_run_starts_empty,
    s::a_fresh_staging_run_starts_empty
);
pg_test!(
    staging_keeps_the_latest_write_of_each_key_across_a_resume,
    s::staging_keeps_the_latest_write_of_each_key_across_a_resume
);
// 65535 binds / 2 per row = 32767 rows per statement: three statements.
pg_test!(
    a_batch_larger_than_the_bind_limit_is_chunked,
    s::a_batch_larger_than_the_bind_limit_is_chunked,
    70_000
);
pg_test!(
    concurrent_collections_share_one_database,
    s::concurrent_collections_share_one_database
);
pg_test!(bad_names_are_rejected, s::bad_names_are_rejected);
pg_test!(
    a_bad_key_writes_everything_before_it,
    s::a_bad_key_writes_everything_before_it
);
pg_test!(
    a_dropped_table_fails_naming_the_collection,
    s::a_dropped_table_fails_naming_the_collection
);
pg_test!(
    keys_of_different_types_never_share_a_row,
    s::keys_of_different_types_never_share_a_row
);
pg_test!(
    a_second_lock_holder_fails_fast_naming_the_first,
    s::a_second_lock_holder_fails_fast_naming_the_first
);
pg_test!(
    typed_rows_map_fields_to_columns,
    s::typed_rows_map_fields_to_columns
);
pg_test!(
    checkpoint_store_records_state_only_and_reports_corruption,
    s::checkpoint_store_records_state_only_and_reports_corruption
);
pg_test!(
    recorded_states_are_written_together_and_keep_cursors,
    s::recorded_states_are_written_together_and_keep_cursors
);

#[cfg_attr(no_pg_tests, ignore = "needs PostgreSQL: set PIPELINE_TEST_PG_URL")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_batches_resumes_without_loss_or_duplicates() {
    if s::is_child() {
        return s::kill_child_main().await;
    }
    let Some(url) = pg_url("killed_between_batches_resumes_without_loss_or_duplicates").await else {
        return;
    };
    s::killed_mid_run_resumes_exactly(&url, "killed_between_batches_resumes_without_loss_or_duplicates")
        .await;
}

#[cfg_attr(no_pg_tests, ignore = "needs PostgreSQL: set PIPELINE_TEST_PG_URL")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_server_fails_after_the_retry_budget_and_resumes_later() {
    let Some(url) = pg_url("a_vanished_server_fails_after_the_retry_budget_and_resumes_later").await else {
        return;
    };
    let direct = PgConnectOptions::from_str(&url).unwrap();
    let upstream = tokio::net::lookup_host((direct.get_host().to_owned(), direct.get_port()))
        .await
        .unwrap()
        .next()
        .unwrap();
    let proxy = Proxy::start(upstream).await;
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_millis(500))
        .connect_with(direct.clone().host("127.0.0.1").port(proxy.addr.port()))
        .await
        .unwrap();
    let config = DatabaseConfig::new().retry_budget(Duration::from_millis(800));
    let db = Database::from_pg_pool(pool, config).await.unwrap();
    let coll = unique("vanished");
    // Open once so the table exists; the next run loses the server while writing.
    let report = run(&coll, ScriptedPaged::new(vec![Vec::new()]), 10, s::docs_sink(&db)).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    let sink = s::docs_sink(&db);
    let source = ScriptedPaged::new(docs(3, 10, "a")).delay(Duration::from_millis(200));
    let gone = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        proxy.shutdown().await;
    });
    let report = run(&coll, source, 10, sink).await;
    gone.await.unwrap();
    let err = sink_error(&report);
    assert!(
        matches!(err, SinkError::Write { collection, .. } if *collection == coll),
        "{err}"
    );
    assert!(err.to_string().contains("gave up after"), "{err}");

    let direct_db = Database::open(&url).await.unwrap();
    let reader = Reader::connect(&url).await;
    s::assert_nothing_committed(&reader, &direct_db, &coll).await;
    let report = run(
        &coll,
        ScriptedPaged::new(docs(3, 10, "a")),
        10,
        s::docs_sink(&direct_db),
    )
    .await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(reader.keys(&coll).await, keys(0, 30));
    reader.cleanup(&[&coll]).await;
}

/// Staging batches commit without waiting for the disk, so a server crash
/// can lose batches the sink saw commit (their rows and checkpoint row
/// together). Simulated here by undoing the last batch behind the sink's
/// back: the next batch and the swap fail, resumably, instead of going on
/// past the gap, and the resume fills it.
#[cfg_attr(no_pg_tests, ignore = "needs PostgreSQL: set PIPELINE_TEST_PG_URL")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_staging_commits_fail_the_run_and_the_resume_restores_them() {
    let Some(url) = pg_url("lost_staging_commits_fail_the_run_and_the_resume_restores_them").await else {
        return;
    };
    let db = Database::open(&url).await.unwrap();
    let reader = Reader::connect(&url).await;
    let coll = unique("staged_lost");
    let staging = reader.staging(&coll);
    let pages = docs(3, 10, "a");
    let cursor = ScriptedPaged::<Value>::cursor;
    let mut sink = db.documents().staging(true).build().unwrap();
    assert_eq!(
        sink.open(&SinkContext::new(coll.clone(), false)).await.unwrap(),
        None
    );
    sink.write(pages[0].clone(), Some(&cursor(1))).await.unwrap();
    sink.write(pages[1].clone(), Some(&cursor(2))).await.unwrap();
    assert_eq!(reader.keys(&staging).await, keys(0, 20));

    // The server "loses" the second batch: its rows and its checkpoint row.
    reader
        .exec(&format!(
            "DELETE FROM {staging} WHERE \"key\" IN (SELECT \"key\" FROM {staging} \
             ORDER BY \"pipeline_ordinal\" OFFSET 10)"
        ))
        .await;
    reader
        .exec(&format!(
            "UPDATE \"pipeline_checkpoints\" SET \"cursor\" = '{}', \"items_written\" = 10 \
             WHERE \"collection\" = '{coll}'",
            cursor(1).as_str()
        ))
        .await;
    let err = sink.write(pages[2].clone(), Some(&cursor(3))).await.unwrap_err();
    assert!(
        matches!(&err, SinkError::Write { collection, .. } if *collection == coll),
        "{err}"
    );
    assert!(err.is_retryable(), "{err}");
    assert!(
        err.to_string()
            .contains("no longer holds what this run last committed"),
        "{err}"
    );
    assert_eq!(
        reader.keys(&staging).await,
        keys(0, 10),
        "nothing of the refused batch"
    );
    // Nor is the partial staging table activated.
    let err = sink.finish(&Outcome::Completed).await.unwrap_err();
    assert!(err.to_string().contains("no longer holds"), "{err}");
    assert!(reader.table_exists(&staging).await);
    assert_eq!(reader.count(&coll).await, 0);

    // The resume starts from what the server kept and completes the crawl.
    let source = ScriptedPaged::new(pages);
    let log = source.fetch_log();
    let report = run(&coll, source, 10, db.documents().staging(true).build().unwrap()).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(
        log.requests(),
        [1, 2],
        "resumed at the checkpoint the server kept"
    );
    assert_eq!(reader.keys(&coll).await, keys(0, 30));
    assert_eq!(reader.count(&coll).await, 30);
    assert!(!reader.table_exists(&staging).await);
    reader.cleanup(&[&coll]).await;
}

#[cfg_attr(no_pg_tests, ignore = "needs PostgreSQL: set PIPELINE_TEST_PG_URL")]
#[tokio::test]
async fn open_understands_postgres_urls() {
    let Some(url) = pg_url("open_understands_postgres_urls").await else {
        return;
    };
    let db = Database::open(&url).await.unwrap();
    assert_eq!(db.backend_name(), "postgres");
    let alt = url.replacen("postgres://", "postgresql://", 1);
    let db = Database::open(&alt).await.unwrap();
    assert_eq!(db.backend_name(), "postgres");
}
