//! The raw-JSON path (`build_raw`, `RawItem`s): the same key identity as
//! the `Value` path, and each item's text stored as received.

use std::collections::BTreeSet;

use crawlpipe_core::testkit::ScriptedPaged;
use crawlpipe_core::{CheckpointStore, Cursor, Pipeline, RawItem, Report, StageError, State};
use crawlpipe_sinks::{Database, SqlSink};
use serde_json::{Value, json};

use super::super::{Reader, docs, keys, unique};

fn raw(pages: Vec<Vec<Value>>) -> ScriptedPaged<RawItem> {
    ScriptedPaged::new(
        pages
            .iter()
            .map(|page| page.iter().map(RawItem::from_value).collect())
            .collect(),
    )
}

async fn run_raw(coll: &str, source: ScriptedPaged<RawItem>, sink: SqlSink<RawItem>) -> Report {
    Pipeline::paged(coll, source)
        .batch_size(10)
        .sink(sink)
        .spawn()
        .expect("spawn")
        .join()
        .await
}

fn raw_sink(db: &Database) -> SqlSink<RawItem> {
    db.documents().build_raw().expect("build")
}

fn rejection(report: &Report) -> (Option<Cursor>, usize, String) {
    match report.outcome.failure().map(|f| &f.error) {
        Some(StageError::Rejected {
            cursor,
            index,
            reason,
            ..
        }) => (cursor.clone(), *index, reason.clone()),
        other => panic!("expected a rejected item, got {other:?}"),
    }
}

pub async fn raw_documents_follow_the_key_rules(url: &str) {
    let db = Database::open(url).await.unwrap();
    let reader = Reader::connect(url).await;
    let mut created = Vec::new();
    // A missing or null key: everything before it is written, the page's cursor kept.
    for bad in [json!({"name": "no id"}), json!({"id": null})] {
        let coll = unique("rawbadkey");
        created.push(coll.clone());
        let mut pages = docs(3, 10, "a");
        pages[1][3] = bad.clone();
        let (cursor, index, reason) = rejection(&run_raw(&coll, raw(pages), raw_sink(&db)).await);
        assert_eq!(cursor, Some(ScriptedPaged::<RawItem>::cursor(1)), "{bad}");
        assert_eq!(index, 3);
        assert!(reason.contains("key \"/id\""), "{reason}");
        assert_eq!(reader.keys(&coll).await, keys(0, 13));
        let cp = db.checkpoint_store().load(&coll).await.unwrap().unwrap();
        assert_eq!(cp.cursor, Some(ScriptedPaged::<RawItem>::cursor(1)));
        assert_eq!(cp.state, State::Failed);
    }
    // The first key fixes the type: "7" after 7 is rejected.
    let coll = unique("rawkeytypes");
    created.push(coll.clone());
    let page = vec![
        json!({"id": 7}),
        json!({"id": 8}),
        json!({"id": "7"}),
        json!({"id": 9}),
    ];
    let (_, index, reason) = rejection(&run_raw(&coll, raw(vec![page]), raw_sink(&db)).await);
    assert_eq!(index, 2);
    assert!(
        reason.contains("is a string (\"7\") but this table's keys are integers"),
        "{reason}"
    );
    assert_eq!(reader.keys(&coll).await, BTreeSet::from(["7".into(), "8".into()]));
    for (bad, what) in [
        (json!(7.0), "a float"),
        (json!(true), "a boolean"),
        (json!([1]), "an array"),
    ] {
        // The table's keys are integers (stored with the first run's rows).
        let page = vec![json!({"id": 10}), json!({"id": bad})];
        let (_, index, reason) = rejection(&run_raw(&coll, raw(vec![page]), raw_sink(&db)).await);
        assert_eq!(index, 1);
        assert!(reason.contains(what), "{reason}");
    }
    // Big integers keep their decimal text; the same key twice is one row, the last wins.
    let coll = unique("rawdup");
    created.push(coll.clone());
    let page = vec![
        json!({"id": u64::MAX, "v": "a"}),
        json!({"id": 2}),
        json!({"id": u64::MAX, "v": "b"}),
    ];
    let report = run_raw(&coll, raw(vec![page]), raw_sink(&db)).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(reader.count(&coll).await, 2);
    assert_eq!(reader.data(&coll, &u64::MAX.to_string()).await.unwrap()["v"], "b");
    let cp = db.checkpoint_store().load(&coll).await.unwrap().unwrap();
    assert_eq!(cp.items_written, 2, "rows, not items");
    let names: Vec<&str> = created.iter().map(String::as_str).collect();
    reader.cleanup(&names).await;
}

pub async fn raw_documents_are_stored_as_received(url: &str) {
    let db = Database::open(url).await.unwrap();
    let reader = Reader::connect(url).await;
    let coll = unique("rawtext");
    let texts = [
        r#"{ "z": 1, "meta": {"a/b": "k1"},  "n": 1.50 }"#,
        r#"{"meta":{"a/b":"k2"},"list":[true, null, "\u00e9"]}"#,
    ];
    let page: Vec<RawItem> = texts.iter().map(|t| RawItem::new(*t).unwrap()).collect();
    let sink = db.documents().key_pointer("/meta/a~1b").build_raw().unwrap();
    let report = run_raw(&coll, ScriptedPaged::new(vec![page]), sink).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    for (key, text) in ["k1", "k2"].iter().zip(texts) {
        let stored = reader.text(&coll, "data", key).await.unwrap();
        if matches!(reader, Reader::Sqlite(_)) {
            assert_eq!(stored, text, "SQLite keeps the text byte for byte");
        }
        let want: Value = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&stored).unwrap(), want);
    }

    // The same documents through both paths store the same data.
    let by_value = unique("byvalue");
    let by_raw = unique("byraw");
    let pages = docs(2, 10, "t");
    let report = Pipeline::paged(&by_value, ScriptedPaged::new(pages.clone()))
        .sink(db.documents().build().unwrap())
        .spawn()
        .unwrap()
        .join()
        .await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    // A key closure gets each raw item parsed.
    let sink = db
        .documents()
        .key_fn(|v| v["id"].as_str().map(str::to_owned))
        .build_raw()
        .unwrap();
    let report = run_raw(&by_raw, raw(pages), sink).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(reader.keys(&by_raw).await, reader.keys(&by_value).await);
    for key in reader.keys(&by_value).await {
        assert_eq!(
            reader.data(&by_raw, &key).await,
            reader.data(&by_value, &key).await
        );
    }

    // Staging (binary COPY on PostgreSQL) stores raw text as the upserts do.
    let staged = unique("rawstaged");
    let sink = db
        .documents()
        .key_fn(|v| v["id"].as_str().map(str::to_owned))
        .staging(true)
        .build_raw()
        .unwrap();
    let report = run_raw(&staged, raw(docs(2, 10, "t")), sink).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(reader.keys(&staged).await, reader.keys(&by_value).await);
    for key in reader.keys(&by_value).await {
        assert_eq!(
            reader.data(&staged, &key).await,
            reader.data(&by_value, &key).await,
            "staged raw document {key}"
        );
    }
    reader.cleanup(&[&coll, &by_value, &by_raw, &staged]).await;
}
