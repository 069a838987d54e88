//! Typed document tables meeting child sinks and staging, through the Rust
//! API on SQLite files and PostgreSQL: a typed child sink (`child_of`) writes
//! `parent` and its columns; unnested child tables of a staged sink appear
//! with the parent's swap and not before.

#[allow(unused_imports)]
mod support;

use crawlpipe_core::testkit::ScriptedPaged;
use crawlpipe_core::{Pipeline, RawItem, Report};
use crawlpipe_sinks::{ColumnType, Database, KeyPart, ParentColumns, SqlSink, Unnest};
use serde_json::{Value, json};
use support::{Reader, pg_url, sqlite_url, unique};

/// Runs `pages` of raw items into `sink` as collection `coll`.
async fn crawl(coll: &str, pages: Vec<Vec<Value>>, sink: SqlSink<RawItem>) -> Report {
    let pages = pages
        .into_iter()
        .map(|p| p.iter().map(RawItem::from_value).collect())
        .collect();
    Pipeline::paged(coll, ScriptedPaged::new(pages))
        .batch_size(2)
        .sink(sink)
        .spawn()
        .expect("spawn")
        .join()
        .await
}

fn item(id: i64, tags: usize) -> Value {
    let tags: Vec<Value> = (0..tags).map(|t| json!({"name": format!("t{t}")})).collect();
    json!({"id": id, "n": id * 10, "tags": tags})
}

async fn typed_child_sink(url: &str) {
    let table = unique("kids");
    let db = Database::open(url).await.expect("open");
    // A child's completion is recorded in the children's table.
    db.child_queue(&table, "parents", ParentColumns::Document)
        .expect("queue")
        .prepare(true)
        .await
        .expect("children's table");
    for parent in ["p1", "p2"] {
        let sink = db
            .documents()
            .table(&table)
            .child_of(&table, parent)
            .key_parts([KeyPart::Parent, KeyPart::pointer("/id")])
            .column("n", "/n", ColumnType::Integer)
            .unnest(Unnest::new("tags", "/tags").column("name", "/name", ColumnType::Text))
            .build_raw()
            .expect("build");
        let pages = vec![vec![item(1, 2), item(2, 1)], vec![item(3, 0)]];
        let report = crawl(&format!("{table}/{parent}"), pages, sink).await;
        assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    }
    let r = Reader::connect(url).await;
    assert_eq!(r.count(&table).await, 6);
    assert_eq!(
        r.text(&table, "parent", "[\"p2\",3]").await.as_deref(),
        Some("p2")
    );
    assert_eq!(r.text(&table, "n", "[\"p1\",2]").await.as_deref(), Some("20"));
    assert_eq!(r.count(&format!("{table}__tags")).await, 6);
    // A column named like the table's own `parent` is refused at build.
    let err = db
        .documents()
        .child_of(&table, "p1")
        .column("parent", "/p", ColumnType::Text)
        .build_raw()
        .unwrap_err();
    assert!(err.to_string().contains("parent"), "{err}");
    r.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_typed_child_sink_writes_parent_and_columns_on_sqlite() {
    let (_dir, url) = sqlite_url();
    typed_child_sink(&url).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_typed_child_sink_writes_parent_and_columns_on_postgres() {
    if let Some(url) = pg_url("typed child sink").await {
        typed_child_sink(&url).await;
    }
}

async fn staged_unnest(url: &str) {
    let coll = unique("stg");
    let db = Database::open(url).await.expect("open");
    let sink = |db: &Database| {
        db.documents()
            .staging(true)
            .column("n", "/n", ColumnType::Integer)
            .unnest(Unnest::new("tags", "/tags").column("name", "/name", ColumnType::Text))
            .build_raw()
            .expect("build")
    };
    let first = vec![vec![item(1, 3), item(2, 2)], vec![item(3, 1)]];
    assert!(crawl(&coll, first, sink(&db)).await.outcome.is_completed());
    let r = Reader::connect(url).await;
    let child = format!("{coll}__tags");
    assert_eq!(r.count(&child).await, 6);
    // A staged run that fails on its second page leaves the live tables as
    // they were: its child rows are in the staging child table only.
    let pages = vec![
        vec![RawItem::from_value(&item(1, 1)), RawItem::from_value(&item(2, 0))],
        vec![RawItem::new(r#"{"id": 3, "n": 1.5}"#).expect("json")],
    ];
    let staged = db
        .documents()
        .staging(true)
        .column("n", "/n", ColumnType::Integer)
        .on_mismatch(crawlpipe_sinks::OnMismatch::Fail)
        .unnest(Unnest::new("tags", "/tags").column("name", "/name", ColumnType::Text))
        .build_raw()
        .expect("build");
    let report = Pipeline::paged(&coll, ScriptedPaged::new(pages))
        .batch_size(2)
        .sink(staged)
        .spawn()
        .expect("spawn")
        .join()
        .await;
    assert!(report.outcome.failure().is_some(), "{:?}", report.outcome);
    assert_eq!(r.count(&child).await, 6, "the live child table is untouched");
    assert_eq!(r.count(&r.staging(&child)).await, 1, "item 1's one tag is staged");
    // A fresh staged run swaps both in together.
    let next = vec![vec![item(1, 1), item(2, 0)], vec![item(3, 2)]];
    let fresh = Pipeline::paged(
        &coll,
        ScriptedPaged::new(
            next.into_iter()
                .map(|p| p.iter().map(RawItem::from_value).collect())
                .collect(),
        ),
    )
    .fresh(true)
    .sink(sink(&db))
    .spawn()
    .expect("spawn")
    .join()
    .await;
    assert!(fresh.outcome.is_completed(), "{:?}", fresh.outcome);
    assert_eq!(r.count(&child).await, 3);
    assert_eq!(r.text(&coll, "n", "3").await.as_deref(), Some("30"));
    assert!(
        !r.table_exists(&r.staging(&child)).await,
        "no staging table is left"
    );
    r.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn staged_unnest_swaps_in_with_the_parent_on_sqlite() {
    let (_dir, url) = sqlite_url();
    staged_unnest(&url).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn staged_unnest_swaps_in_with_the_parent_on_postgres() {
    if let Some(url) = pg_url("staged unnest").await {
        staged_unnest(&url).await;
    }
}
