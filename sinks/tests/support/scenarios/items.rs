//! Names, keys and item rejections, typed rows.

use std::collections::BTreeSet;

use crawlpipe_core::SinkError;
use crawlpipe_core::testkit::ScriptedPaged;
use crawlpipe_core::{CheckpointStore, Cursor, Pipeline, Report, StageError, State};
use crawlpipe_sinks::{ColumnType, Database, DatabaseConfig, Error};
use serde::Serialize;
use serde_json::{Value, json};

use super::super::{Reader, docs, keys, unique};
use super::{docs_sink, run, sink_error};

pub async fn bad_names_are_rejected(url: &str) {
    let db = Database::open(url).await.unwrap();
    let reader = Reader::connect(url).await;
    let one_page = || ScriptedPaged::new(docs(1, 2, "a"));
    // Names that are no identifiers, or that belong to the framework.
    for bad in [
        "bad-name",
        "x\"; DROP TABLE t; --",
        "1abc",
        "github__staging",
        "pipeline_x",
        "Pipeline_Checkpoints",
    ] {
        let report = run(bad, one_page(), 10, docs_sink(&db)).await;
        let err = sink_error(&report);
        assert!(matches!(err, SinkError::Config { .. }), "{bad:?}: {err}");
        assert!(!err.is_retryable(), "{bad:?}");
        assert!(err.to_string().contains(&format!("collection {bad}")), "{err}");
        let sink = db.documents().table(bad).build().unwrap();
        let report = run("ok_table_name", one_page(), 10, sink).await;
        let err = sink_error(&report).to_string();
        assert!(err.contains("invalid table name"), "{bad:?}: {err}");
        if Ident::is_valid(bad) {
            continue;
        }
        let err = db
            .rows::<Value>()
            .column(bad, ColumnType::Text)
            .build()
            .unwrap_err();
        assert!(
            matches!(err, Error::Identifier { kind: "column", .. }),
            "{bad:?}: {err}"
        );
    }
    for reserved in ["github__staging", "pipeline_x"] {
        let err = sink_error(&run(reserved, one_page(), 10, docs_sink(&db)).await).to_string();
        assert!(err.contains("reserved"), "{err}");
    }
    let err = db
        .rows::<Value>()
        .column("Key", ColumnType::Text)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("reserved"), "{err}");
    let err = db.documents().key_pointer("id").build().unwrap_err();
    assert!(matches!(err, Error::Setting { .. }), "{err}");
    assert!(err.to_string().contains("must start with '/'"), "{err}");
    if matches!(reader, Reader::Sqlite(_)) {
        // The prefix makes a 50-character name too long for a staging table.
        let sink = db
            .documents()
            .table("a".repeat(50))
            .staging(true)
            .build()
            .unwrap();
        let err = sink_error(&run(&unique("staged"), one_page(), 10, sink).await).to_string();
        assert!(err.contains("invalid staging table name"), "{err}");
    }
    let err = Database::open_with(url, DatabaseConfig::new().checkpoint_table("a b"))
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
    assert!(!reader.table_exists("github__staging").await);
    assert!(!reader.table_exists("pipeline_x").await);
    reader.cleanup(&["ok_table_name"]).await;
}

/// Names the SQL sinks accept as identifiers (before reservation).
struct Ident;

impl Ident {
    fn is_valid(name: &str) -> bool {
        name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    }
}

/// The failure a report carries, as a rejection: (cursor, index, reason).
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

pub async fn a_bad_key_writes_everything_before_it(url: &str) {
    let db = Database::open(url).await.unwrap();
    let reader = Reader::connect(url).await;
    let store = db.checkpoint_store();
    let mut created = Vec::new();
    for bad in [json!({"name": "no id"}), json!({"id": null})] {
        let coll = unique("badkey");
        created.push(coll.clone());
        let mut pages = docs(3, 10, "a");
        pages[1][3] = bad.clone();
        let report = run(&coll, ScriptedPaged::new(pages), 10, docs_sink(&db)).await;
        let (cursor, index, reason) = rejection(&report);
        assert_eq!(cursor, Some(ScriptedPaged::<Value>::cursor(1)), "{bad}");
        assert_eq!(index, 3);
        assert!(reason.contains("key \"/id\""), "{reason}");
        let message = report.outcome.failure().unwrap().error.to_string();
        assert!(
            message.contains(&coll) && message.contains("page-1") && message.contains("item 3"),
            "{message}"
        );
        assert_eq!(
            reader.keys(&coll).await,
            keys(0, 13),
            "the first page and the 3 good items before the bad one"
        );
        let cp = store.load(&coll).await.unwrap().unwrap();
        assert_eq!(
            cp.cursor,
            Some(ScriptedPaged::<Value>::cursor(1)),
            "the page's cursor"
        );
        assert_eq!(cp.state, State::Failed);
    }
    let names: Vec<&str> = created.iter().map(String::as_str).collect();
    reader.cleanup(&names).await;
}

pub async fn keys_of_different_types_never_share_a_row(url: &str) {
    let db = Database::open(url).await.unwrap();
    let reader = Reader::connect(url).await;
    let coll = unique("keytypes");
    // Integer keys first: "7" (a string) would become the same row as 7.
    let page = vec![
        json!({"id": 7}),
        json!({"id": 8}),
        json!({"id": "7"}),
        json!({"id": 9}),
    ];
    let report = run(&coll, ScriptedPaged::new(vec![page]), 10, docs_sink(&db)).await;
    let (_, index, reason) = rejection(&report);
    assert_eq!(index, 2);
    assert!(
        reason.contains("is a string (\"7\") but this table's keys are integers"),
        "{reason}"
    );
    assert_eq!(reader.keys(&coll).await, BTreeSet::from(["7".into(), "8".into()]));
    assert_eq!(reader.data(&coll, "7").await.unwrap()["id"], 7);
    // Floats and booleans are no keys at all.
    for (bad, what) in [(json!(7.0), "a float"), (json!(true), "a boolean")] {
        let page = vec![json!({"id": 10}), json!({"id": bad})];
        let report = run(&coll, ScriptedPaged::new(vec![page]), 10, docs_sink(&db)).await;
        let (_, index, reason) = rejection(&report);
        assert_eq!(index, 1);
        assert!(reason.contains(what), "{reason}");
    }
    // The table's key type is stored: a later run (another handle, another
    // process) with string keys is refused, naming both types.
    let later = Database::open(url).await.unwrap();
    let page = vec![json!({"id": "11"})];
    let report = run(&coll, ScriptedPaged::new(vec![page]), 10, docs_sink(&later)).await;
    let (_, index, reason) = rejection(&report);
    assert_eq!(index, 0);
    assert!(
        reason.contains("is a string (\"11\") but this table's keys are integers (stored by an earlier run)"),
        "{reason}"
    );
    assert!(!reader.keys(&coll).await.contains("11"));
    let first = coll;

    // The same key twice in one batch is one row, and counted once.
    let coll = unique("dupkeys");
    let page = vec![
        json!({"id": 1, "v": "a"}),
        json!({"id": 2}),
        json!({"id": 1, "v": "b"}),
    ];
    let report = run(&coll, ScriptedPaged::new(vec![page]), 10, docs_sink(&db)).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(reader.count(&coll).await, 2);
    assert_eq!(reader.data(&coll, "1").await.unwrap()["v"], "b");
    let cp = db.checkpoint_store().load(&coll).await.unwrap().unwrap();
    assert_eq!(cp.items_written, 2, "rows, not items");
    reader.cleanup(&[&first, &coll]).await;
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
        .rows::<Scraped>()
        .column("url", ColumnType::Text)
        .column("title", ColumnType::Text)
        .column("price", ColumnType::Real)
        .column("stock", ColumnType::Integer)
        .column("tags", ColumnType::Json)
        .build()
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
