//! Typed document tables on SQLite files and PostgreSQL: declared and
//! inferred columns, `on_mismatch`, evolution with backfill, `migrate`,
//! unnested child tables, replaying rejected items, staging.

#[allow(unused_imports)]
mod support;

use crawlpipe_core::testkit::ScriptedPaged;
use crawlpipe_core::{Pipeline, RawItem, Report};
use crawlpipe_sinks::{ColumnType, Database, OnMismatch, SqlSink, Unnest};
use serde_json::{Value, json};
use support::{Reader, pg_url, sqlite_url, unique};

/// Runs `pages` of raw items into `sink` as collection `coll`.
async fn crawl(coll: &str, pages: Vec<Vec<Value>>, sink: SqlSink<RawItem>) -> Report {
    let pages = pages
        .into_iter()
        .map(|p| p.iter().map(RawItem::from_value).collect())
        .collect();
    Pipeline::paged(coll, ScriptedPaged::new(pages))
        .batch_size(3)
        .sink(sink)
        .spawn()
        .expect("spawn")
        .join()
        .await
}

/// The failure's message.
fn failure(report: &Report) -> String {
    match report.outcome.failure() {
        Some(f) => f.error.to_string(),
        None => panic!("expected a failure, got {:?}", report.outcome),
    }
}

/// `(column, declared type)` of `table`, lower-cased types.
async fn column_types(r: &Reader, table: &str) -> Vec<(String, String)> {
    let sql = match r {
        Reader::Sqlite(_) => {
            format!("SELECT name || ' ' || lower(type) FROM pragma_table_info('{table}') ORDER BY cid")
        }
        Reader::Pg(_) => format!(
            "SELECT column_name || ' ' || lower(data_type) FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = '{table}' ORDER BY ordinal_position"
        ),
    };
    strings(r, &sql)
        .await
        .into_iter()
        .map(|s| {
            let (a, b) = s.split_once(' ').expect("two words");
            (a.to_owned(), b.to_owned())
        })
        .collect()
}

async fn strings(r: &Reader, sql: &str) -> Vec<String> {
    use crawlpipe_sinks::sqlx::{self, AssertSqlSafe, Row};
    let rows: Vec<Option<String>> = match r {
        Reader::Sqlite(p) => sqlx::query(AssertSqlSafe(sql))
            .fetch_all(p)
            .await
            .map(|rows| rows.iter().map(|r| r.get(0)).collect()),
        Reader::Pg(p) => sqlx::query(AssertSqlSafe(sql))
            .fetch_all(p)
            .await
            .map(|rows| rows.iter().map(|r| r.get(0)).collect()),
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.into_iter()
        .map(|v| v.unwrap_or_else(|| "NULL".to_owned()))
        .collect()
}

fn typed(db: &Database) -> crawlpipe_sinks::DocumentSinkBuilder {
    db.documents()
        .column("title", "/title", ColumnType::Text)
        .column("comments", "/comments", ColumnType::Integer)
        .column("score", "/score", ColumnType::Real)
        .column("open", "/open", ColumnType::Boolean)
        .column("created_at", "/created_at", ColumnType::Timestamp)
        .column("day", "/day", ColumnType::Date)
        .column("labels", "/labels", ColumnType::Json)
}

fn issue(id: i64) -> Value {
    json!({"id": id, "title": format!("t{id}"), "comments": id * 2, "score": 1.5,
           "open": id % 2 == 0, "created_at": "2024-05-01T12:00:00+02:00", "day": "2024-05-01",
           "labels": [{"name": "bug"}], "extra": {"x": 1}})
}

async fn each_type_round_trips(url: &str) {
    let coll = unique("typed");
    let db = Database::open(url).await.expect("open");
    let pages = vec![(1..=4).map(issue).collect(), vec![json!({"id": 5})]];
    let report = crawl(&coll, pages, typed(&db).build_raw().expect("build")).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    let r = Reader::connect(url).await;
    let types = column_types(&r, &coll).await;
    let want: &[(&str, &str, &str)] = &[
        ("data", "text", "jsonb"),
        ("title", "text", "text"),
        ("comments", "integer", "bigint"),
        ("score", "real", "double precision"),
        ("open", "integer", "boolean"),
        ("created_at", "text", "timestamp with time zone"),
        ("day", "text", "date"),
        ("labels", "text", "jsonb"),
    ];
    for (name, sqlite, pg) in want {
        let ty = if matches!(r, Reader::Sqlite(_)) {
            sqlite
        } else {
            pg
        };
        assert!(
            types.contains(&((*name).to_owned(), (*ty).to_owned())),
            "{name} {ty} in {types:?}"
        );
    }
    let row = |col: &str, key: &str| {
        let (r, coll) = (r.clone(), coll.clone());
        let (col, key) = (col.to_owned(), key.to_owned());
        async move { r.text(&coll, &col, &key).await }
    };
    assert_eq!(row("title", "2").await.as_deref(), Some("t2"));
    assert_eq!(row("comments", "2").await.as_deref(), Some("4"));
    assert_eq!(
        row("score", "2")
            .await
            .as_deref()
            .map(|s| s.parse::<f64>().unwrap()),
        Some(1.5)
    );
    let created = row("created_at", "2").await.unwrap();
    assert!(
        created == "2024-05-01T10:00:00Z" || created.starts_with("2024-05-01 10:00:00"),
        "{created}"
    );
    assert_eq!(row("day", "2").await.as_deref(), Some("2024-05-01"));
    let labels: Value = serde_json::from_str(&row("labels", "2").await.unwrap()).unwrap();
    assert_eq!(labels, json!([{"name": "bug"}]));
    assert_eq!(row("title", "5").await, None, "a missing field is NULL");
    assert_eq!(
        r.data(&coll, "3").await,
        Some(issue(3)),
        "data is the item as it was"
    );
    r.close().await;
    db.close().await;
}

async fn mismatches_follow_the_mode(url: &str) {
    let db = Database::open(url).await.expect("open");
    let r = Reader::connect(url).await;
    let pages = || {
        vec![vec![
            json!({"id": 1, "n": 1}),
            json!({"id": 2, "n": "two"}),
            json!({"id": 3, "n": "3"}),
        ]]
    };
    let sink = |mode| {
        db.documents()
            .column("n", "/n", ColumnType::Integer)
            .on_mismatch(mode)
            .build_raw()
            .unwrap()
    };
    // reject
    let coll = unique("rej");
    let report = crawl(&coll, pages(), sink(OnMismatch::Reject)).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(
        (report.progress.items_written, report.progress.items_rejected),
        (2, 1)
    );
    assert_eq!(db.rejected_count(&coll).await.unwrap(), 1);
    assert_eq!(r.keys(&coll).await, ["1", "3"].map(String::from).into());
    let rejected = strings(
        &r,
        &format!(
            "SELECT \"key\" || ' ' || \"column\" || ' ' || \"error\" FROM pipeline_rejected WHERE collection = '{coll}'"
        ),
    )
    .await;
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert!(
        rejected[0].starts_with("2 n column n (/n): expected an integer, got a string"),
        "{rejected:?}"
    );
    // null
    let coll = unique("nul");
    let report = crawl(&coll, pages(), sink(OnMismatch::Null)).await;
    assert!(report.outcome.is_completed());
    assert_eq!(r.count(&coll).await, 3);
    assert_eq!(r.text(&coll, "n", "2").await, None);
    assert_eq!(r.text(&coll, "n", "3").await.as_deref(), Some("3"));
    // fail
    let coll = unique("fai");
    let report = crawl(&coll, pages(), sink(OnMismatch::Fail)).await;
    let message = failure(&report);
    for part in ["key \"2\"", "column n", "got a string", "cursor"] {
        assert!(message.contains(part), "{part} in {message}");
    }
    assert_eq!(r.keys(&coll).await, ["1"].map(String::from).into());
    r.close().await;
    db.close().await;
}

async fn added_columns_are_backfilled_and_changes_refused(url: &str) {
    let coll = unique("evo");
    let db = Database::open(url).await.expect("open");
    let pages = || {
        vec![
            (1..=7)
                .map(|i| json!({"id": i, "a": i, "b": format!("b{i}")}))
                .collect(),
        ]
    };
    let first = db
        .documents()
        .column("a", "/a", ColumnType::Integer)
        .build_raw()
        .unwrap();
    assert!(crawl(&coll, pages(), first).await.outcome.is_completed());
    // A column added to the declaration: backfilled when the sink opens.
    let added = db
        .documents()
        .column("a", "/a", ColumnType::Integer)
        .column("b", "/b", ColumnType::Text)
        .build_raw()
        .unwrap();
    let report = crawl(&coll, vec![vec![json!({"id": 1, "a": 1, "b": "new"})]], added).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    let r = Reader::connect(url).await;
    assert_eq!(r.text(&coll, "b", "5").await.as_deref(), Some("b5"), "backfilled");
    assert_eq!(r.text(&coll, "b", "1").await.as_deref(), Some("new"));
    // A changed type is refused, naming the column, unless migrated.
    let changed = || db.documents().column("a", "/a", ColumnType::Text);
    let report = crawl(&coll, vec![vec![]], changed().build_raw().unwrap()).await;
    let message = failure(&report);
    assert!(
        message.contains("column a is stored as integer") && message.contains("--migrate"),
        "{message}"
    );
    let report = crawl(&coll, vec![vec![]], changed().migrate(true).build_raw().unwrap()).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    let types = column_types(&r, &coll).await;
    assert!(types.contains(&("a".to_owned(), "text".to_owned())), "{types:?}");
    assert_eq!(r.text(&coll, "a", "6").await.as_deref(), Some("6"));
    // A column no longer declared stays, unwritten.
    let fewer = db
        .documents()
        .column("b", "/b", ColumnType::Text)
        .build_raw()
        .unwrap();
    assert!(crawl(&coll, vec![vec![]], fewer).await.outcome.is_completed());
    assert!(r.columns(&coll).await.contains(&"a".to_owned()));
    r.close().await;
    db.close().await;
}

async fn inference_adds_late_fields_and_rejects_changed_types(url: &str) {
    let coll = unique("inf");
    let db = Database::open(url).await.expect("open");
    let mut pages: Vec<Vec<Value>> = (0..6)
        .map(|p| {
            (0..3)
                .map(|i| json!({"id": p * 3 + i, "n": i, "when": "2024-01-01T00:00:00Z", "nested": {"a": 1}}))
                .collect()
        })
        .collect();
    pages.push(vec![
        json!({"id": 100, "n": 1, "late": true}),
        json!({"id": 101, "n": "x"}),
    ]);
    let sink = db.documents().infer_columns().build_raw().unwrap();
    let report = crawl(&coll, pages, sink).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    let r = Reader::connect(url).await;
    let columns = r.columns(&coll).await;
    for c in ["n", "when", "late"] {
        assert!(columns.contains(&c.to_owned()), "{c} in {columns:?}");
    }
    assert!(!columns.contains(&"nested".to_owned()));
    assert_eq!(
        r.text(&coll, "late", "100")
            .await
            .map(|s| s == "1" || s == "true"),
        Some(true)
    );
    assert_eq!(r.text(&coll, "late", "3").await, None);
    let rejected = strings(
        &r,
        &format!("SELECT \"key\" FROM pipeline_rejected WHERE collection = '{coll}'"),
    )
    .await;
    assert_eq!(rejected, ["101"]);
    // Another sink agrees on the stored schema: no new column, same types.
    let again = db.documents().infer_columns().build_raw().unwrap();
    let report = crawl(&coll, vec![vec![json!({"id": 1, "n": 5})]], again).await;
    assert!(report.outcome.is_completed());
    assert_eq!(r.text(&coll, "n", "1").await.as_deref(), Some("5"));
    r.close().await;
    db.close().await;
}

async fn unnested_children_are_replaced_and_rejected_items_replayed(url: &str) {
    let coll = unique("unn");
    let db = Database::open(url).await.expect("open");
    let sink = || {
        db.documents()
            .column("n", "/n", ColumnType::Integer)
            .unnest(Unnest::new("labels", "/labels").column("name", "/name", ColumnType::Text))
            .build_raw()
            .unwrap()
    };
    let labels = |n: usize| {
        (0..n)
            .map(|i| json!({"name": format!("l{i}")}))
            .collect::<Vec<_>>()
    };
    let page = vec![
        json!({"id": 1, "n": 1, "labels": labels(3)}),
        json!({"id": 2, "n": 2, "labels": labels(2)}),
        json!({"id": 3, "n": "bad", "labels": labels(1)}),
    ];
    assert!(crawl(&coll, vec![page], sink()).await.outcome.is_completed());
    let r = Reader::connect(url).await;
    let child = format!("{coll}__labels");
    let count = |r: Reader, child: String| async move {
        strings(&r, &format!("SELECT CAST(COUNT(*) AS TEXT) FROM \"{child}\"")).await[0].clone()
    };
    assert_eq!(count(r.clone(), child.clone()).await, "5");
    // Shorter arrays on a re-crawl replace the old elements.
    let page = vec![
        json!({"id": 1, "n": 1, "labels": labels(1)}),
        json!({"id": 2, "n": 2}),
    ];
    assert!(crawl(&coll, vec![page], sink()).await.outcome.is_completed());
    assert_eq!(count(r.clone(), child.clone()).await, "1");
    let names = strings(
        &r,
        &format!("SELECT parent_key || ':' || idx || ':' || name FROM \"{child}\""),
    )
    .await;
    assert_eq!(names, ["1:0:l0"]);
    // Item 3 was rejected; with the column fixed, replay moves it back.
    let fixed = db
        .documents()
        .column("n", "/n", ColumnType::Text)
        .migrate(true)
        .unnest(Unnest::new("labels", "/labels").column("name", "/name", ColumnType::Text))
        .build_raw()
        .unwrap();
    let mut fixed = fixed;
    let report = fixed.replay_rejected(&coll).await.expect("replay");
    assert_eq!((report.replayed, report.still_rejected), (1, 0));
    assert_eq!(r.text(&coll, "n", "3").await.as_deref(), Some("bad"));
    assert_eq!(count(r.clone(), child.clone()).await, "2");
    let left = strings(
        &r,
        &format!("SELECT \"key\" FROM pipeline_rejected WHERE collection = '{coll}'"),
    )
    .await;
    assert!(left.is_empty(), "{left:?}");
    r.close().await;
    db.close().await;
}

async fn staging_carries_the_columns(url: &str) {
    let coll = unique("stg");
    let db = Database::open(url).await.expect("open");
    let sink = db
        .documents()
        .column("n", "/n", ColumnType::Integer)
        .column("at", "/at", ColumnType::Timestamp)
        .staging(true)
        .build_raw()
        .unwrap();
    let pages = vec![
        (1..=5)
            .map(|i| json!({"id": i, "n": i, "at": "2024-01-01T00:00:00Z"}))
            .collect(),
    ];
    let report = crawl(&coll, pages, sink).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    let r = Reader::connect(url).await;
    assert_eq!(r.count(&coll).await, 5);
    assert_eq!(r.text(&coll, "n", "4").await.as_deref(), Some("4"));
    assert!(r.text(&coll, "at", "4").await.unwrap().starts_with("2024-01-01"));
    r.close().await;
    db.close().await;
}

async fn typed_rows_add_columns_and_refuse_misnamed_ones(url: &str) {
    let coll = unique("rows");
    let db = Database::open(url).await.expect("open");
    let run = |sink: SqlSink<Value>, items: Vec<Value>| {
        let coll = coll.clone();
        async move {
            Pipeline::paged(&coll, ScriptedPaged::new(vec![items]))
                .sink(sink)
                .spawn()
                .expect("spawn")
                .join()
                .await
        }
    };
    let one = db
        .rows::<Value>()
        .column("a", ColumnType::Integer)
        .build()
        .unwrap();
    assert!(
        run(one, vec![json!({"key": "k1", "a": 1})])
            .await
            .outcome
            .is_completed()
    );
    // A column added later: the table gets it, no write fails.
    let two = db
        .rows::<Value>()
        .column("a", ColumnType::Integer)
        .column("b", ColumnType::Text)
        .build()
        .unwrap();
    let report = run(two, vec![json!({"key": "k2", "a": 2, "b": "x"})]).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    let r = Reader::connect(url).await;
    assert_eq!(r.text(&coll, "b", "k2").await.as_deref(), Some("x"));
    assert_eq!(r.text(&coll, "b", "k1").await, None);
    // A column no item has a field for fails the first batch, naming it.
    let typo = db
        .rows::<Value>()
        .column("a", ColumnType::Integer)
        .column("bb", ColumnType::Text)
        .build()
        .unwrap();
    let report = run(typo, vec![json!({"key": "k3", "a": 3, "b": "y"})]).await;
    let message = failure(&report);
    assert!(message.contains("column bb matches no field"), "{message}");
    assert_eq!(r.count(&coll).await, 2, "nothing written");
    r.close().await;
    db.close().await;
}

support::on_both!(
    each_type_round_trips,
    mismatches_follow_the_mode,
    added_columns_are_backfilled_and_changes_refused,
    inference_adds_late_fields_and_rejects_changed_types,
    unnested_children_are_replaced_and_rejected_items_replayed,
    staging_carries_the_columns,
    typed_rows_add_columns_and_refuse_misnamed_ones,
);
