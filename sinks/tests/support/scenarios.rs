//! Behaviours every SQL backend must have, run by `sqlite.rs` and `postgres.rs`.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use pipeline_core::testkit::{Fault, ScriptedPaged};
use pipeline_core::{
    CheckpointError, CheckpointStore, Cursor, Outcome, Pipeline, Report, Sink, SinkError, StageError, State,
};
use serde::Serialize;
use serde_json::{Value, json};
use sinks::{ColumnType, Database, DatabaseOptions, Error};

use super::{Reader, docs, keys, unique};

/// Runs `pages` through `sink` as collection `coll`, one page per batch.
pub async fn run<S: Sink<Value>>(
    coll: &str,
    source: ScriptedPaged<Value>,
    resume: Option<Cursor>,
    batch: usize,
    sink: S,
) -> Report {
    Pipeline::paged(coll, source)
        .resume_from(resume)
        .batch_size(batch)
        .capacity(batch.max(1024))
        .sink(sink)
        .spawn()
        .expect("spawn")
        .join()
        .await
}

/// The sink error a failed report carries.
pub fn sink_error(report: &Report) -> &SinkError {
    match report.outcome.failure().map(|f| &f.error) {
        Some(StageError::Sink { source, .. }) => source,
        other => panic!("expected a sink failure, got {other:?}"),
    }
}

fn page_index(cursor: Option<&Cursor>) -> usize {
    cursor
        .and_then(|c| c.as_str().strip_prefix("page-"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

pub async fn upsert_is_idempotent(url: &str) {
    let db = Database::open(url).await.unwrap();
    let reader = Reader::connect(url).await;
    let coll = unique("upsert");
    for tag in ["a", "b"] {
        let sink = db.documents(&coll).build().await.unwrap();
        let report = run(&coll, ScriptedPaged::new(docs(3, 10, tag)), None, 10, sink).await;
        assert!(report.outcome.is_completed(), "{:?}", report.outcome);
        assert_eq!(report.items_written, 30);
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
    let sink = db.documents(&coll).build().await.unwrap();
    let report = run(&coll, ScriptedPaged::new(vec![page]), None, 10, sink).await;
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
    let sink = db.documents(&coll).build().await.unwrap();
    let report = run(&coll, source, None, 10, sink).await;
    assert!(!report.outcome.is_completed());
    let cp = db.checkpoint_store().load(&coll).await.unwrap().unwrap();
    assert_eq!(cp.cursor, Some(ScriptedPaged::<Value>::cursor(3)));
    assert_eq!(cp.state, State::Failed);
    assert!(cp.last_error.unwrap().contains(&coll));
    assert_eq!(report.resume_from, cp.cursor);
    assert_eq!(reader.keys(&coll).await, keys(0, 30));

    let source = ScriptedPaged::new(docs(6, 10, "a"));
    let log = source.fetch_log();
    let sink = db.documents(&coll).build().await.unwrap();
    let report = run(&coll, source, cp.cursor, 10, sink).await;
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
    let cursor = db
        .checkpoint_store()
        .load(coll)
        .await
        .unwrap()
        .and_then(|c| c.cursor);
    let sink = db.documents(coll).build().await.expect("child sink");
    let source = ScriptedPaged::new(docs(KILL_PAGES, KILL_PER, "kill"))
        .delay(Duration::from_millis(3))
        .delay_page(KILL_HANG, Duration::from_secs(3600));
    let _ = run(coll, source, cursor, KILL_PER, sink).await;
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

    let cp = store
        .load(&coll)
        .await
        .unwrap()
        .expect("a checkpoint was committed");
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
    let sink = db.documents(&coll).build().await.unwrap();
    let report = run(&coll, source, cp.cursor.clone(), KILL_PER, sink).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(log.requests().first(), Some(&at), "resumed at the stored cursor");
    assert_eq!(reader.keys(&coll).await, keys(0, KILL_PAGES * KILL_PER));
    assert_eq!(reader.count(&coll).await, KILL_PAGES * KILL_PER);
    reader.cleanup(&[&coll]).await;
}

pub async fn staging_swaps_on_completion_and_keeps_live_on_failure(url: &str) {
    let db = Database::open(url).await.unwrap();
    let reader = Reader::connect(url).await;
    let store = db.checkpoint_store();
    let coll = unique("staged");
    let staging = format!("{coll}__staging");

    let sink = db.documents(&coll).staging(true).build().await.unwrap();
    let report = run(&coll, ScriptedPaged::new(docs(3, 20, "a")), None, 20, sink).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(reader.keys(&coll).await, keys(0, 60));
    assert!(!reader.table_exists(&staging).await);

    // A second crawl fails halfway: live is untouched, staging holds the progress.
    let pages_b = docs(4, 10, "b");
    let source = ScriptedPaged::new(pages_b.clone()).fail(2, Fault::Permanent, usize::MAX);
    let sink = db.documents(&coll).staging(true).build().await.unwrap();
    assert_eq!(sink.target_table(), staging);
    let report = run(&coll, source, None, 10, sink).await;
    assert!(!report.outcome.is_completed());
    assert_eq!(reader.keys(&coll).await, keys(0, 60));
    assert_eq!(reader.data(&coll, "k0").await.unwrap()["tag"], "a");
    assert_eq!(reader.keys(&staging).await, keys(0, 20));
    let cp = store.load(&coll).await.unwrap().unwrap();
    assert_eq!(cp.cursor, Some(ScriptedPaged::<Value>::cursor(2)));

    // The resume appends to staging, then activates it: live is exactly crawl B.
    let source = ScriptedPaged::new(pages_b);
    let log = source.fetch_log();
    let sink = db.documents(&coll).staging(true).build().await.unwrap();
    let report = run(&coll, source, cp.cursor, 10, sink).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(log.requests(), [2, 3]);
    assert_eq!(reader.keys(&coll).await, keys(0, 40));
    assert_eq!(reader.data(&coll, "k0").await.unwrap()["tag"], "b");
    assert!(!reader.table_exists(&staging).await);
    let cp = store.load(&coll).await.unwrap().unwrap();
    assert_eq!((cp.state, cp.cursor), (State::Completed, None));
    reader.cleanup(&[&coll]).await;
}

pub async fn a_fresh_staging_run_starts_empty(url: &str) {
    let db = Database::open(url).await.unwrap();
    let reader = Reader::connect(url).await;
    let coll = unique("fresh");
    let staging = format!("{coll}__staging");
    let source = ScriptedPaged::new(docs(4, 10, "b")).fail(2, Fault::Permanent, usize::MAX);
    let sink = db.documents(&coll).staging(true).build().await.unwrap();
    let report = run(&coll, source, None, 10, sink).await;
    assert!(!report.outcome.is_completed());
    assert_eq!(reader.keys(&staging).await, keys(0, 20));

    // Starting over (not resuming) must not activate leftovers of the failed run.
    let sink = db
        .documents(&coll)
        .staging(true)
        .fresh(true)
        .build()
        .await
        .unwrap();
    assert_eq!(reader.count(&staging).await, 0);
    let report = run(&coll, ScriptedPaged::new(docs(1, 5, "c")), None, 10, sink).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(reader.keys(&coll).await, keys(0, 5));

    // A stored cursor whose staging table is gone cannot be resumed silently.
    let source = ScriptedPaged::new(docs(4, 10, "d")).fail(2, Fault::Permanent, usize::MAX);
    let sink = db.documents(&coll).staging(true).build().await.unwrap();
    let _ = run(&coll, source, None, 10, sink).await;
    reader.exec(&format!("DROP TABLE \"{staging}\"")).await;
    let err = db.documents(&coll).staging(true).build().await.unwrap_err();
    assert!(
        matches!(&err, Error::Config { collection, .. } if *collection == coll),
        "{err}"
    );
    assert!(err.to_string().contains("fresh"), "{err}");
    assert_eq!(reader.keys(&coll).await, keys(0, 5), "live untouched");
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
    let sink = db.documents(&coll).build().await.unwrap();
    assert!(
        sink.rows_per_statement() * 2 < n,
        "the batch needs several statements"
    );
    let report = run(&coll, ScriptedPaged::new(vec![page]), None, total, sink).await;
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
        let sink = db.documents(coll).build().await.unwrap();
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

pub async fn bad_names_are_rejected_when_building(url: &str) {
    let db = Database::open(url).await.unwrap();
    let reader = Reader::connect(url).await;
    for bad in ["bad-name", "x\"; DROP TABLE t; --", "1abc", ""] {
        let err = db.documents(bad).build().await.unwrap_err();
        assert!(matches!(err, Error::Config { .. }), "{bad:?}: {err}");
        assert!(err.to_string().contains(".table("), "{err}");
        let err = db.documents("ok").table(bad).build().await.unwrap_err();
        assert!(
            matches!(err, Error::Identifier { kind: "table", .. }),
            "{bad:?}: {err}"
        );
        let err = db
            .rows::<Value>("ok")
            .table(unique("t"))
            .column(bad, ColumnType::Text)
            .build()
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Identifier { kind: "column", .. }),
            "{bad:?}: {err}"
        );
    }
    let err = db
        .rows::<Value>("ok")
        .column("Key", ColumnType::Text)
        .build()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("reserved"), "{err}");
    let err = db
        .documents("nopointer")
        .key_pointer("id")
        .build()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("must start with '/'"), "{err}");
    let err = db
        .documents(unique("staged"))
        .table("a".repeat(60))
        .staging(true)
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Identifier {
                kind: "staging table",
                ..
            }
        ),
        "{err}"
    );
    let err = Database::open_with(url, DatabaseOptions::new().checkpoint_table("a b"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Identifier {
                kind: "checkpoint table",
                ..
            }
        ),
        "{err}"
    );
    assert!(!reader.table_exists("bad-name").await);
    assert!(!reader.table_exists("ok").await);
    reader.close().await;
}

pub async fn a_missing_key_fails_the_batch_naming_the_collection(url: &str) {
    let db = Database::open(url).await.unwrap();
    let reader = Reader::connect(url).await;
    let coll = unique("nokey");
    let mut pages = docs(3, 10, "a");
    pages[1][4] = json!({"name": "no id"});
    let sink = db.documents(&coll).build().await.unwrap();
    let report = run(&coll, ScriptedPaged::new(pages), None, 10, sink).await;
    let err = sink_error(&report);
    assert!(
        matches!(err, SinkError::Encode { collection, .. } if *collection == coll),
        "{err}"
    );
    assert!(err.to_string().contains("key \"/id\" is missing"), "{err}");
    assert_eq!(
        reader.keys(&coll).await,
        keys(0, 10),
        "only the batch before is committed"
    );
    let cp = db.checkpoint_store().load(&coll).await.unwrap();
    assert_eq!(
        cp.and_then(|c| c.cursor),
        None,
        "checkpoint page-1 came with the bad batch"
    );

    let nested = vec![vec![json!({"id": {"a": 1}})]];
    let sink = db.documents(&coll).build().await.unwrap();
    let report = run(&coll, ScriptedPaged::new(nested), None, 10, sink).await;
    assert!(
        sink_error(&report)
            .to_string()
            .contains("is an object, not a scalar")
    );
    reader.cleanup(&[&coll]).await;
}

pub async fn a_dropped_table_fails_naming_the_collection(url: &str) {
    let db = Database::open(url).await.unwrap();
    let reader = Reader::connect(url).await;
    let coll = unique("dropped");
    let sink = db
        .documents(&coll)
        .retry_budget(Duration::from_millis(300))
        .build()
        .await
        .unwrap();
    reader.exec(&format!("DROP TABLE \"{coll}\"")).await;
    let report = run(&coll, ScriptedPaged::new(docs(2, 5, "a")), None, 5, sink).await;
    let err = sink_error(&report);
    assert!(
        matches!(err, SinkError::Write { collection, .. } if *collection == coll),
        "{err}"
    );
    let cp = db.checkpoint_store().load(&coll).await.unwrap();
    assert_eq!(cp.and_then(|c| c.cursor), None, "the checkpoint did not advance");
    reader.cleanup(&[&coll]).await;
}

#[derive(Debug, Clone, Serialize)]
struct Scraped {
    key: String,
    url: String,
    title: Option<String>,
    price: f64,
    stock: i64,
    tags: Vec<String>,
}

pub async fn typed_rows_map_fields_to_columns(url: &str) {
    let db = Database::open(url).await.unwrap();
    let reader = Reader::connect(url).await;
    let coll = unique("rows");
    let sink = db
        .rows::<Scraped>(&coll)
        .column("url", ColumnType::Text)
        .column("title", ColumnType::Text)
        .column("price", ColumnType::Real)
        .column("stock", ColumnType::Integer)
        .column("tags", ColumnType::Json)
        .build()
        .await
        .unwrap();
    let items: Vec<Scraped> = (0..3)
        .map(|i| Scraped {
            key: format!("p{i}"),
            url: format!("https://shop.example/p{i}"),
            title: (i != 1).then(|| format!("Product {i}")),
            price: 9.5,
            stock: i,
            tags: vec!["new".into()],
        })
        .collect();
    let report = Pipeline::paged(&coll, ScriptedPaged::new(vec![items]))
        .sink(sink)
        .spawn()
        .unwrap()
        .join()
        .await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(
        reader.keys(&coll).await,
        BTreeSet::from(["p0".into(), "p1".into(), "p2".into()])
    );
    assert_eq!(
        reader.text(&coll, "url", "p2").await.as_deref(),
        Some("https://shop.example/p2")
    );
    assert_eq!(reader.text(&coll, "title", "p1").await, None);
    assert_eq!(reader.text(&coll, "stock", "p2").await.as_deref(), Some("2"));
    let tags: Value = serde_json::from_str(&reader.text(&coll, "tags", "p0").await.unwrap()).unwrap();
    assert_eq!(tags, json!(["new"]));
    assert!(reader.text(&coll, "fetched_at", "p0").await.is_some());
    reader.cleanup(&[&coll]).await;
}

pub async fn checkpoint_store_round_trips_and_reports_corruption(url: &str) {
    let db = Database::open(url).await.unwrap();
    let reader = Reader::connect(url).await;
    let store = db.checkpoint_store();
    let coll = unique("store");
    assert!(store.load(&coll).await.unwrap().is_none());
    let saved = pipeline_core::Checkpoint::new(&coll, State::Retrying)
        .with_cursor(Some(Cursor::new("https://api.example/items?page=3")))
        .with_counts(3, 300)
        .with_error(Some("HTTP 503".into()));
    store.save(&saved).await.unwrap();
    let loaded = store.load(&coll).await.unwrap().unwrap();
    assert_eq!(loaded.cursor, saved.cursor);
    assert_eq!(
        (loaded.state, loaded.pages, loaded.items_written),
        (State::Retrying, 3, 300)
    );
    assert_eq!(loaded.last_error.as_deref(), Some("HTTP 503"));
    let drift = loaded
        .updated_at
        .duration_since(saved.updated_at)
        .unwrap_or_default();
    assert!(
        drift < Duration::from_millis(1),
        "updated_at kept to the millisecond"
    );

    let mut created = vec![coll.clone()];
    for (column, value) in [("state", "'bogus'"), ("pages", "-1")] {
        let bad = unique("corrupt");
        created.push(bad.clone());
        store
            .save(&pipeline_core::Checkpoint::new(&bad, State::Crawling))
            .await
            .unwrap();
        reader
            .exec(&format!(
                "UPDATE pipeline_checkpoints SET \"{column}\" = {value} WHERE collection = '{bad}'"
            ))
            .await;
        let err = store.load(&bad).await.unwrap_err();
        assert!(
            matches!(&err, CheckpointError::Corrupt { collection, .. } if *collection == bad),
            "{err}"
        );
        // A staging sink refuses to guess from it; fresh(true) is the way out.
        let err = db.documents(&bad).staging(true).build().await.unwrap_err();
        assert!(err.to_string().contains("corrupt"), "{err}");
        db.documents(&bad)
            .staging(true)
            .fresh(true)
            .build()
            .await
            .unwrap();
        let reset = store.load(&bad).await.unwrap().unwrap();
        assert_eq!((reset.cursor, reset.pages), (None, 0));
    }
    let names: Vec<&str> = created.iter().map(String::as_str).collect();
    reader.cleanup(&names).await;
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
