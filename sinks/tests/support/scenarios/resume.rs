//! Upserts, resuming, crashes, big batches, concurrency, a vanished table.

use std::process::{Command, Stdio};
use std::time::Duration;

use crawlpipe_core::testkit::{Fault, ScriptedPaged};
use crawlpipe_core::{CheckpointStore, Outcome, Pipeline, SinkError, State};
use crawlpipe_sinks::Database;
use serde_json::{Value, json};

use super::super::{Reader, docs, keys, unique};
use super::{docs_sink, page_index, run, run_with, sink_error};

pub async fn upsert_is_idempotent(url: &str) {
    let db = Database::open(url).await.unwrap();
    let reader = Reader::connect(url).await;
    let coll = unique("upsert");
    for tag in ["a", "b"] {
        let sink = docs_sink(&db);
        let report = run(&coll, ScriptedPaged::new(docs(3, 10, tag)), 10, sink).await;
        assert!(report.outcome.is_completed(), "{:?}", report.outcome);
        assert_eq!(report.progress.items_written, 30);
    }
    assert_eq!(reader.keys(&coll).await, keys(0, 30));
    assert_eq!(reader.count(&coll).await, 30);
    assert_eq!(reader.data(&coll, "k5").await.unwrap()["tag"], "b");

    // The same key twice in one batch (one statement): the last one wins.
    let page = vec![
        json!({"id": "k1", "tag": "x"}),
        json!({"id": "k2", "tag": "x"}),
        json!({"id": "k1", "tag": "y"}),
    ];
    let sink = docs_sink(&db);
    let report = run(&coll, ScriptedPaged::new(vec![page]), 10, sink).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(reader.count(&coll).await, 30);
    assert_eq!(reader.data(&coll, "k1").await.unwrap()["tag"], "y");
    assert_eq!(reader.data(&coll, "k2").await.unwrap()["tag"], "x");

    let cp = db.checkpoint_store().load(&coll).await.unwrap().unwrap();
    assert_eq!(cp.state, State::Completed);
    assert_eq!(cp.cursor, None, "a completed run starts over next time");
    reader.cleanup(&[&coll]).await;
}

pub async fn failed_source_resumes_from_the_committed_cursor(url: &str) {
    let db = Database::open(url).await.unwrap();
    let reader = Reader::connect(url).await;
    let coll = unique("resume");
    let source = ScriptedPaged::new(docs(6, 10, "a")).fail(3, Fault::Permanent, usize::MAX);
    let sink = docs_sink(&db);
    let report = run(&coll, source, 10, sink).await;
    assert!(!report.outcome.is_completed());
    let cp = db.checkpoint_store().load(&coll).await.unwrap().unwrap();
    assert_eq!(cp.cursor, Some(ScriptedPaged::<Value>::cursor(3)));
    assert_eq!(cp.state, State::Failed);
    assert!(cp.last_error.unwrap().contains(&coll));
    assert_eq!(report.cursor, cp.cursor);
    assert_eq!(reader.keys(&coll).await, keys(0, 30));

    let source = ScriptedPaged::new(docs(6, 10, "a"));
    let log = source.fetch_log();
    let sink = docs_sink(&db);
    let report = run(&coll, source, 10, sink).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(log.requests(), [3, 4, 5]);
    assert_eq!(reader.keys(&coll).await, keys(0, 60));
    assert_eq!(reader.count(&coll).await, 60);
    reader.cleanup(&[&coll]).await;
}

pub const CHILD_ENV: &str = "SINKS_TEST_KILL_CHILD";
const KILL_PAGES: usize = 40;
const KILL_PER: usize = 25;
const KILL_HANG: usize = 30;

/// Whether this process is the child of [`killed_mid_run_resumes_exactly`].
pub fn is_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

/// The child: crawls until killed (page `KILL_HANG` never returns).
pub async fn kill_child_main() {
    let spec = std::env::var(CHILD_ENV).expect("child spec");
    let (url, coll) = spec.split_once('|').expect("url|collection");
    let db = Database::open(url).await.expect("child open");
    let sink = docs_sink(&db);
    let source = ScriptedPaged::new(docs(KILL_PAGES, KILL_PER, "kill"))
        .delay(Duration::from_millis(3))
        .delay_page(KILL_HANG, Duration::from_secs(3600));
    let _ = run(coll, source, KILL_PER, sink).await;
}

/// A process SIGKILLed between (or during) batches resumes from its stored
/// cursor with no item lost and none duplicated.
pub async fn killed_mid_run_resumes_exactly(url: &str, test_name: &str) {
    let db = Database::open(url).await.unwrap();
    let reader = Reader::connect(url).await;
    let store = db.checkpoint_store();
    let coll = unique("killed");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, format!("{url}|{coll}"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child");
    let target = fastrand::usize(2..KILL_HANG - 2);
    // Poll for progress; a guard stops the test hanging if the child never makes any.
    for _ in 0..12_000 {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the child exited before it was killed: {status}");
        }
        let cp = store.load(&coll).await.unwrap();
        if page_index(cp.as_ref().and_then(|c| c.cursor.as_ref())) >= target {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // A statement the child sent before it died still runs to its end on
    // the server (a PostgreSQL batch is one autocommitted statement): wait
    // until the stored cursor stops moving.
    let mut cp = store.load(&coll).await.unwrap();
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let again = store.load(&coll).await.unwrap();
        if again.as_ref().map(|c| &c.cursor) == cp.as_ref().map(|c| &c.cursor) {
            break;
        }
        cp = again;
    }
    let cp = cp.expect("a checkpoint was committed");
    let at = page_index(cp.cursor.as_ref());
    assert!(
        at >= target,
        "the child made no progress (cursor {:?})",
        cp.cursor
    );
    let stored = reader.keys(&coll).await;
    assert!(
        stored.is_superset(&keys(0, at * KILL_PER)),
        "items covered by cursor page-{at} are missing"
    );
    assert!(stored.is_subset(&keys(0, KILL_HANG * KILL_PER)));
    assert_eq!(reader.count(&coll).await, stored.len());

    let source = ScriptedPaged::new(docs(KILL_PAGES, KILL_PER, "kill"));
    let log = source.fetch_log();
    let sink = docs_sink(&db);
    let report = run(&coll, source, KILL_PER, sink).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(log.requests().first(), Some(&at), "resumed at the stored cursor");
    assert_eq!(reader.keys(&coll).await, keys(0, KILL_PAGES * KILL_PER));
    assert_eq!(reader.count(&coll).await, KILL_PAGES * KILL_PER);
    reader.cleanup(&[&coll]).await;
}

pub async fn a_batch_larger_than_the_bind_limit_is_chunked(url: &str, n: usize) {
    let db = Database::open(url).await.unwrap();
    let reader = Reader::connect(url).await;
    let coll = unique("big");
    let mut page: Vec<Value> = (0..n)
        .map(|i| json!({"id": format!("k{i}"), "tag": "a"}))
        .collect();
    // Rewrites of early keys at the end land in a later statement: the last one wins.
    page.extend((0..100).map(|i| json!({"id": format!("k{i}"), "tag": "last"})));
    let total = page.len();
    let sink = docs_sink(&db);
    assert!(
        sink.rows_per_statement() * 2 < n,
        "the batch needs several statements"
    );
    let report = run(&coll, ScriptedPaged::new(vec![page]), total, sink).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(reader.count(&coll).await, n);
    assert_eq!(reader.data(&coll, "k0").await.unwrap()["tag"], "last");
    assert_eq!(reader.data(&coll, "k100").await.unwrap()["tag"], "a");
    reader.cleanup(&[&coll]).await;
}

pub async fn concurrent_collections_share_one_database(url: &str) {
    let db = Database::open(url).await.unwrap();
    let reader = Reader::connect(url).await;
    let colls: Vec<String> = (0..4).map(|_| unique("conc")).collect();
    let mut handles = Vec::new();
    for coll in &colls {
        let sink = docs_sink(&db);
        handles.push(
            Pipeline::paged(coll.clone(), ScriptedPaged::new(docs(20, 25, coll)))
                .batch_size(25)
                .sink(sink)
                .spawn()
                .unwrap(),
        );
    }
    for h in handles {
        let report = h.join().await;
        assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    }
    for coll in &colls {
        assert_eq!(reader.keys(coll).await, keys(0, 500));
        assert_eq!(reader.data(coll, "k7").await.unwrap()["tag"], coll.as_str());
        let cp = db.checkpoint_store().load(coll).await.unwrap().unwrap();
        assert_eq!(cp.items_written, 500);
    }
    let names: Vec<&str> = colls.iter().map(String::as_str).collect();
    reader.cleanup(&names).await;
}

pub async fn a_dropped_table_fails_naming_the_collection(url: &str) {
    let db = Database::open(url).await.unwrap();
    let reader = Reader::connect(url).await;
    let coll = unique("dropped");
    let sink = db
        .documents()
        .retry_budget(Duration::from_millis(300))
        .build()
        .unwrap();
    // The table disappears once the sink has opened (after its first page).
    let source = ScriptedPaged::new(docs(2, 5, "a")).delay_page(1, Duration::from_millis(1000));
    let drop_it = {
        let (reader, coll, db) = (reader.clone(), coll.clone(), db.clone());
        tokio::spawn(async move {
            // Drop it once the first page's checkpoint is committed (polled,
            // so a loaded machine cannot drop it before it exists).
            let first = Some(ScriptedPaged::<serde_json::Value>::cursor(1));
            for _ in 0..500 {
                let cp = db.checkpoint_store().load(&coll).await.unwrap();
                if cp.and_then(|c| c.cursor) == first {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            reader.exec(&format!("DROP TABLE \"{coll}\"")).await;
        })
    };
    let report = run(&coll, source, 5, sink).await;
    drop_it.await.unwrap();
    let err = sink_error(&report);
    assert!(
        matches!(err, SinkError::Write { collection, .. } if *collection == coll),
        "{err}"
    );
    // The first page committed with its checkpoint before the drop; the
    // failed last page moved nothing.
    let cp = db.checkpoint_store().load(&coll).await.unwrap();
    assert_eq!(
        cp.and_then(|c| c.cursor),
        Some(ScriptedPaged::<serde_json::Value>::cursor(1)),
        "the checkpoint did not advance past the failed batch"
    );
    // The next run on the same handle creates the table again: a sink
    // skips the DDL only for tables no write has failed on since.
    let sink = db.documents().build().unwrap();
    let again = run_with(&coll, ScriptedPaged::new(docs(2, 5, "a")), 5, true, sink).await;
    assert!(again.outcome.is_completed(), "{:?}", again.outcome);
    assert_eq!(reader.count(&coll).await, 10);
    reader.cleanup(&[&coll]).await;
}

/// Nothing of a batch that could not commit is stored, and neither is its checkpoint.
pub async fn assert_nothing_committed(reader: &Reader, db: &Database, coll: &str) {
    assert_eq!(reader.count(coll).await, 0);
    let cp = db.checkpoint_store().load(coll).await.unwrap();
    assert_eq!(cp.and_then(|c| c.cursor), None);
}

/// `Outcome` is re-exported for the test files.
pub fn is_failed(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Failed(_))
}
