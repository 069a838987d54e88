//! The PostgreSQL sink and checkpoint store, on a real server
//! (`PIPELINE_TEST_PG_URL`; skipped when unset).
#![cfg(feature = "postgres")]

mod support;

use std::str::FromStr;
use std::time::Duration;

use pipeline_core::SinkError;
use pipeline_core::testkit::ScriptedPaged;
use sinks::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sinks::{Database, DatabaseConfig};
use support::proxy::Proxy;
use support::scenarios::{self as s, run, sink_error};
use support::{Reader, docs, keys, pg_url, unique};

macro_rules! pg_test {
    ($name:ident, $scenario:path $(, $arg:expr)*) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let Some(url) = pg_url(stringify!($name)).await else { return };
            $scenario(&url $(, $arg)*).await;
        }
    };
}

pg_test!(upsert_is_idempotent, s::upsert_is_idempotent);
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
