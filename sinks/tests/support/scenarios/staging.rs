//! Staging tables: swapped on completion, emptied by a fresh run.

use std::collections::BTreeSet;

use crawlpipe_core::testkit::{Fault, ScriptedPaged};
use crawlpipe_core::{CheckpointStore, SinkError, State};
use crawlpipe_sinks::Database;
use serde_json::Value;

use super::super::{Reader, docs, keys, unique};
use super::{run, run_with, sink_error};

pub async fn staging_swaps_on_completion_and_keeps_live_on_failure(url: &str) {
    let db = Database::open(url).await.unwrap();
    let reader = Reader::connect(url).await;
    let store = db.checkpoint_store();
    let coll = unique("staged");
    let staging = reader.staging(&coll);
    // A table named like an old-style staging table belongs to no one here:
    // a staging run of `coll` must leave it alone.
    let bystander = format!("{coll}__staging");
    reader
        .exec(&format!(
            "CREATE TABLE \"{bystander}\" (\"key\" TEXT PRIMARY KEY)"
        ))
        .await;
    reader
        .exec(&format!("INSERT INTO \"{bystander}\" VALUES ('mine')"))
        .await;

    let staged = || db.documents().staging(true).build().unwrap();
    let report = run(&coll, ScriptedPaged::new(docs(3, 20, "a")), 20, staged()).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(reader.keys(&coll).await, keys(0, 60));
    assert!(!reader.table_exists(&staging).await);

    // A second crawl fails halfway: live is untouched, staging holds the progress.
    let pages_b = docs(4, 10, "b");
    let source = ScriptedPaged::new(pages_b.clone()).fail(2, Fault::Permanent, usize::MAX);
    let report = run(&coll, source, 10, staged()).await;
    assert!(!report.outcome.is_completed());
    assert_eq!(reader.keys(&coll).await, keys(0, 60));
    assert_eq!(reader.data(&coll, "k0").await.unwrap()["tag"], "a");
    assert_eq!(reader.keys(&staging).await, keys(0, 20));
    let cp = store.load(&coll).await.unwrap().unwrap();
    assert_eq!(cp.cursor, Some(ScriptedPaged::<Value>::cursor(2)));

    // The resume appends to staging, then activates it: live is exactly crawl B.
    let source = ScriptedPaged::new(pages_b);
    let log = source.fetch_log();
    let report = run(&coll, source, 10, staged()).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(log.requests(), [2, 3], "resumed at the stored cursor by itself");
    assert_eq!(reader.keys(&coll).await, keys(0, 40));
    assert_eq!(reader.data(&coll, "k0").await.unwrap()["tag"], "b");
    assert!(!reader.table_exists(&staging).await);
    let cp = store.load(&coll).await.unwrap().unwrap();
    assert_eq!((cp.state, cp.cursor), (State::Completed, None));
    // Pages with a committed checkpoint: the last page has none of its own.
    assert_eq!((cp.pages, cp.items_written), (3, 40), "resumed counts added up");
    assert_eq!(reader.keys(&bystander).await, BTreeSet::from(["mine".to_owned()]));
    reader.exec(&format!("DROP TABLE \"{bystander}\"")).await;
    reader.cleanup(&[&coll]).await;
}

pub async fn a_fresh_staging_run_starts_empty(url: &str) {
    let db = Database::open(url).await.unwrap();
    let reader = Reader::connect(url).await;
    let coll = unique("fresh");
    let staging = reader.staging(&coll);
    let staged = || db.documents().staging(true).build().unwrap();
    let source = ScriptedPaged::new(docs(4, 10, "b")).fail(2, Fault::Permanent, usize::MAX);
    let report = run(&coll, source, 10, staged()).await;
    assert!(!report.outcome.is_completed());
    assert_eq!(reader.keys(&staging).await, keys(0, 20));

    // Starting over (not resuming) must not activate leftovers of the failed run.
    let source = ScriptedPaged::new(docs(1, 5, "c"));
    let log = source.fetch_log();
    let report = run_with(&coll, source, 10, true, staged()).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(log.requests(), [0], "a fresh run starts at the first page");
    assert_eq!(reader.keys(&coll).await, keys(0, 5));

    // A stored cursor whose staging table is gone cannot be resumed silently.
    let source = ScriptedPaged::new(docs(4, 10, "d")).fail(2, Fault::Permanent, usize::MAX);
    let _ = run(&coll, source, 10, staged()).await;
    reader.exec(&format!("DROP TABLE {staging}")).await;
    let report = run(&coll, ScriptedPaged::new(docs(4, 10, "d")), 10, staged()).await;
    let err = sink_error(&report);
    assert!(matches!(err, SinkError::Config { .. }), "{err}");
    assert!(!err.is_retryable());
    assert!(
        err.to_string().contains(&coll) && err.to_string().contains("fresh"),
        "{err}"
    );
    assert_eq!(reader.keys(&coll).await, keys(0, 5), "live untouched");
    reader.cleanup(&[&coll]).await;
}

/// Pages whose keys repeat within a page, across pages and across batches:
/// page `p` writes `k{(3p + i) % 12}` for `i < 8`, then its first two keys
/// again; every document is tagged with its page and place.
fn repeating(pages: usize) -> Vec<Vec<Value>> {
    (0..pages)
        .map(|p| {
            (0..10)
                .map(|i| {
                    let k = (p * 3 + i % 8) % 12;
                    serde_json::json!({"id": format!("k{k}"), "tag": format!("p{p}-{i}")})
                })
                .collect()
        })
        .collect()
}

pub async fn staging_keeps_the_latest_write_of_each_key_across_a_resume(url: &str) {
    let db = Database::open(url).await.unwrap();
    let reader = Reader::connect(url).await;
    let coll = unique("staged_dups");
    let staging = reader.staging(&coll);
    let staged = || db.documents().staging(true).build().unwrap();
    let pages = repeating(6);
    // What sequential upserts leave: the last document of each key.
    let mut want = std::collections::BTreeMap::new();
    for doc in pages.iter().flatten() {
        want.insert(doc["id"].as_str().unwrap().to_owned(), doc.clone());
    }

    let source = ScriptedPaged::new(pages.clone()).fail(3, Fault::Permanent, usize::MAX);
    let report = run(&coll, source, 10, staged()).await;
    assert!(!report.outcome.is_completed());
    // PostgreSQL appends every batch's rows (8 distinct keys per page) with
    // COPY and deduplicates at the swap; SQLite upserts as it goes.
    let staged_rows = match reader {
        Reader::Pg(_) => 3 * 8,
        Reader::Sqlite(_) => 12,
    };
    assert_eq!(reader.count(&staging).await, staged_rows);

    let source = ScriptedPaged::new(pages);
    let log = source.fetch_log();
    let report = run(&coll, source, 10, staged()).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(log.requests(), [3, 4, 5], "resumed at the stored cursor");
    assert!(!reader.table_exists(&staging).await);
    assert_eq!(reader.count(&coll).await, want.len(), "one row per key");
    for (key, doc) in &want {
        assert_eq!(reader.data(&coll, key).await.as_ref(), Some(doc), "{key}");
    }
    // The activated table is shaped like one the upserts filled.
    assert_eq!(reader.columns(&coll).await, ["key", "data", "fetched_at"]);
    assert_eq!(reader.primary_key(&coll).await, ["key"]);
    reader.cleanup(&[&coll]).await;
}
