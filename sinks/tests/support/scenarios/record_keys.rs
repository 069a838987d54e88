//! Composite keys (a parent's key as a part included) and keyless
//! collections: exact rows, resume without duplicates, a re-run replacing
//! the previous run.

use std::collections::BTreeSet;

use crawlpipe_core::RawItem;
use crawlpipe_core::testkit::{Fault, ScriptedPaged};
use crawlpipe_sinks::{Database, KeyPart, ParentColumns};
use serde_json::{Value, json};

use super::super::{Reader, unique};
use super::run;

/// Makes sure the children's table (which a child sink's completion
/// updates) exists.
async fn children_table(db: &Database, child: &str) {
    db.child_queue(child, "unused_parent", ParentColumns::Document)
        .unwrap()
        .prepare(false)
        .await
        .unwrap();
}

/// Tasks whose ids repeat across projects 1 to 3.
fn tasks(pages: usize, per: usize) -> Vec<Vec<Value>> {
    (0..pages)
        .map(|p| {
            (0..per)
                .map(|i| {
                    let n = p * per + i;
                    json!({"project_id": 1 + n % 3, "id": format!("t{}", n / 3), "n": n})
                })
                .collect()
        })
        .collect()
}

fn task_keys(n: usize) -> BTreeSet<String> {
    (0..n)
        .map(|n| format!("[{},\"t{}\"]", 1 + n % 3, n / 3))
        .collect()
}

fn parts() -> [KeyPart; 2] {
    [KeyPart::pointer("/project_id"), KeyPart::pointer("/id")]
}

pub async fn composite_keys_keep_every_tuple_apart(url: &str) {
    let db = Database::open(url).await.unwrap();
    let reader = Reader::connect(url).await;
    let coll = unique("tasks");
    let sink = db.documents().key_parts(parts()).build().unwrap();
    let report = run(&coll, ScriptedPaged::new(tasks(4, 6)), 10, sink).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(reader.keys(&coll).await, task_keys(24));
    assert_eq!(
        reader.count(&coll).await,
        24,
        "ids repeat across projects: one row each"
    );
    assert_eq!(reader.data(&coll, "[2,\"t0\"]").await.unwrap()["n"], 1);

    // The raw path reads the same parts from the text.
    let raw_coll = unique("tasks_raw");
    let pages: Vec<Vec<RawItem>> = tasks(4, 6)
        .iter()
        .map(|p| p.iter().map(RawItem::from_value).collect())
        .collect();
    let sink = db.documents().key_parts(parts()).build_raw().unwrap();
    let report = crawlpipe_core::Pipeline::paged(raw_coll.as_str(), ScriptedPaged::new(pages))
        .sink(sink)
        .spawn()
        .unwrap()
        .join()
        .await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(reader.keys(&raw_coll).await, task_keys(24));
    reader.cleanup(&[&coll, &raw_coll]).await;
}

pub async fn a_parent_key_part_keeps_two_parents_children_apart(url: &str) {
    let db = Database::open(url).await.unwrap();
    let reader = Reader::connect(url).await;
    let table = unique("members");
    children_table(&db, &table).await;
    let members = || {
        vec![vec![
            json!({"email": "a@example.test"}),
            json!({"email": "b@example.test"}),
        ]]
    };
    for parent in ["1", "2"] {
        let sink = db
            .documents()
            .table(&table)
            .child_of(&table, parent)
            .key_parts([KeyPart::Parent, KeyPart::pointer("/email")])
            .build()
            .unwrap();
        let report = run(
            &format!("{table}_{parent}"),
            ScriptedPaged::new(members()),
            10,
            sink,
        )
        .await;
        assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    }
    let want: BTreeSet<String> = ["1", "2"]
        .iter()
        .flat_map(|p| ["a", "b"].map(|e| format!("[\"{p}\",\"{e}@example.test\"]")))
        .collect();
    assert_eq!(reader.keys(&table).await, want);
    let err = db.documents().key_parts([KeyPart::Parent]).build().unwrap_err();
    assert!(err.to_string().contains("child_of"), "{err}");
    reader
        .cleanup(&[&table, &format!("{table}_1"), &format!("{table}_2")])
        .await;
}

/// `pages` pages of `per` equal-looking stats (no key; items repeat).
fn stats(pages: usize, per: usize, tag: &str) -> Vec<Vec<Value>> {
    (0..pages)
        .map(|p| {
            (0..per)
                .map(|i| json!({"day": format!("d{}", i % 2), "tag": tag, "n": p * per + i}))
                .collect()
        })
        .collect()
}

fn positions(n: usize) -> BTreeSet<String> {
    (0..n).map(|i| i.to_string()).collect()
}

/// Every row's `n` by position, read back in position order.
async fn ns_by_position(reader: &Reader, table: &str, n: usize) -> Vec<(String, Value, Value)> {
    let mut out = Vec::new();
    for i in 0..n {
        let key = i.to_string();
        let position = reader.text(table, "position", &key).await.unwrap_or_default();
        let data = reader.data(table, &key).await.unwrap_or(Value::Null);
        out.push((position, data["n"].clone(), data["tag"].clone()));
    }
    out
}

pub async fn keyless_rows_resume_exactly_and_a_rerun_replaces_the_last(url: &str) {
    let db = Database::open(url).await.unwrap();
    let reader = Reader::connect(url).await;
    let coll = unique("stats");
    // Pages 0 and 1 commit, page 2 fails: the resume must continue at 8.
    let source = ScriptedPaged::new(stats(5, 4, "a")).fail(2, Fault::Permanent, usize::MAX);
    let report = run(&coll, source, 4, db.documents().keyless().build().unwrap()).await;
    assert!(!report.outcome.is_completed());
    assert_eq!(reader.keys(&coll).await, positions(8));
    let source = ScriptedPaged::new(stats(5, 4, "a"));
    let report = run(&coll, source, 4, db.documents().keyless().build().unwrap()).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(reader.count(&coll).await, 20, "no item twice");
    let rows = ns_by_position(&reader, &coll, 20).await;
    for (i, (position, n, _)) in rows.iter().enumerate() {
        assert_eq!((position.as_str(), n), (i.to_string().as_str(), &json!(i)));
    }

    // A new run replaces the previous run's rows, even with fewer items.
    let source = ScriptedPaged::new(stats(2, 3, "b"));
    let report = run(&coll, source, 4, db.documents().keyless().build().unwrap()).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(reader.keys(&coll).await, positions(6));
    let rows = ns_by_position(&reader, &coll, 6).await;
    assert!(rows.iter().all(|(_, _, tag)| tag == "b"), "{rows:?}");

    // A new run without items empties the table.
    let report = run(
        &coll,
        ScriptedPaged::new(vec![Vec::new()]),
        4,
        db.documents().keyless().build().unwrap(),
    )
    .await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(reader.count(&coll).await, 0);
    reader.cleanup(&[&coll]).await;
}

pub async fn keyless_children_replace_only_their_parents_rows(url: &str) {
    let db = Database::open(url).await.unwrap();
    let reader = Reader::connect(url).await;
    let table = unique("child_stats");
    children_table(&db, &table).await;
    let child = |parent: &str, pages: usize, tag: &str| {
        let sink = db
            .documents()
            .table(&table)
            .child_of(&table, parent)
            .keyless()
            .build()
            .unwrap();
        (
            format!("{table}_{parent}"),
            ScriptedPaged::new(stats(pages, 3, tag)),
            sink,
        )
    };
    for parent in ["1", "2"] {
        let (name, source, sink) = child(parent, 2, "a");
        assert!(run(&name, source, 10, sink).await.outcome.is_completed());
    }
    assert_eq!(reader.count(&table).await, 12);
    let (name, source, sink) = child("1", 1, "b");
    assert!(run(&name, source, 10, sink).await.outcome.is_completed());
    let want: BTreeSet<String> = (0..3)
        .map(|i| format!("[\"1\",{i}]"))
        .chain((0..6).map(|i| format!("[\"2\",{i}]")))
        .collect();
    assert_eq!(reader.keys(&table).await, want);
    assert_eq!(reader.data(&table, "[\"1\",0]").await.unwrap()["tag"], "b");
    assert_eq!(reader.data(&table, "[\"2\",5]").await.unwrap()["tag"], "a");
    reader
        .cleanup(&[&table, &format!("{table}_1"), &format!("{table}_2")])
        .await;
}
