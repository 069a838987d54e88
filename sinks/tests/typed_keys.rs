//! Typed document tables with every key form, on SQLite files and
//! PostgreSQL: composite keys (and the parent's key as a part), keyless
//! tables appended by position (a new run replacing the last, with its
//! unnested rows; a resume writing nothing twice), the stored key type and
//! incremental marks.

#[allow(unused_imports)]
mod support;

use crawlpipe_core::testkit::{Fault, ScriptedPaged};
use crawlpipe_core::{Pipeline, RawItem, Report};
use crawlpipe_sinks::{ColumnType, Database, KeyPart, OnMismatch, ParentColumns, SqlSink, Unnest};
use serde_json::{Value, json};
use support::{Reader, pg_url, sqlite_url, unique};

/// Runs `source` into `sink` as collection `coll`, three items a batch.
async fn run(coll: &str, source: ScriptedPaged<RawItem>, sink: SqlSink<RawItem>) -> Report {
    Pipeline::paged(coll, source)
        .batch_size(3)
        .sink(sink)
        .spawn()
        .expect("spawn")
        .join()
        .await
}

fn pages(pages: Vec<Vec<Value>>) -> ScriptedPaged<RawItem> {
    ScriptedPaged::new(
        pages
            .into_iter()
            .map(|p| p.iter().map(RawItem::from_value).collect())
            .collect(),
    )
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

fn tags(n: usize) -> Vec<Value> {
    (0..n).map(|i| json!({"name": format!("t{i}")})).collect()
}

async fn a_composite_keyed_typed_table_keys_rows_and_rejections_by_tuple(url: &str) {
    let coll = unique("ckey");
    let db = Database::open(url).await.expect("open");
    let sink = || {
        db.documents()
            .key_parts([KeyPart::pointer("/project"), KeyPart::pointer("/id")])
            .column("n", "/n", ColumnType::Integer)
            .unnest(Unnest::new("tags", "/tags").column("name", "/name", ColumnType::Text))
            .build_raw()
            .expect("build")
    };
    // The same id in two projects is two rows; item [8,"b"] does not fit.
    let first = vec![vec![
        json!({"project": 7, "id": "a", "n": 1, "tags": tags(2)}),
        json!({"project": 8, "id": "a", "n": 2, "tags": tags(1)}),
        json!({"project": 8, "id": "b", "n": "many"}),
    ]];
    let report = run(&coll, pages(first), sink()).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(report.progress.items_rejected, 1);
    let r = Reader::connect(url).await;
    assert_eq!(r.count(&coll).await, 2);
    assert_eq!(r.text(&coll, "n", r#"[7,"a"]"#).await.as_deref(), Some("1"));
    assert_eq!(r.text(&coll, "n", r#"[8,"a"]"#).await.as_deref(), Some("2"));
    let child = format!("{coll}__tags");
    let parents = strings(
        &r,
        &format!("SELECT parent_key || ':' || name FROM \"{child}\" ORDER BY parent_key, idx"),
    )
    .await;
    assert_eq!(parents, [r#"[7,"a"]:t0"#, r#"[7,"a"]:t1"#, r#"[8,"a"]:t0"#]);
    let rejected = strings(
        &r,
        &format!("SELECT \"key\" FROM pipeline_rejected WHERE collection = '{coll}'"),
    )
    .await;
    assert_eq!(rejected, [r#"[8,"b"]"#]);
    // A later run writing the tuple takes it out of pipeline_rejected and
    // replaces the elements of the tuples it writes.
    let second = vec![vec![
        json!({"project": 8, "id": "b", "n": 3}),
        json!({"project": 7, "id": "a", "n": 4}),
    ]];
    let report = run(&coll, pages(second), sink()).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(r.text(&coll, "n", r#"[8,"b"]"#).await.as_deref(), Some("3"));
    assert_eq!(r.text(&coll, "n", r#"[7,"a"]"#).await.as_deref(), Some("4"));
    let parents = strings(&r, &format!("SELECT parent_key FROM \"{child}\"")).await;
    assert_eq!(parents, [r#"[8,"a"]"#]);
    assert_eq!(db.rejected_count(&coll).await.expect("count"), 0);
    // Each part keeps the type its first value fixed: a string project
    // after integer ones is refused, naming the part.
    let third = vec![vec![
        json!({"project": 9, "id": "a", "n": 5}),
        json!({"project": "9", "id": "a", "n": 5}),
    ]];
    let report = run(&coll, pages(third), sink()).await;
    let message = report.outcome.failure().expect("fails").error.to_string();
    assert!(message.contains("key \"/project\" is a string"), "{message}");
    r.close().await;
    db.close().await;
}

async fn a_typed_child_sink_keys_by_its_parent_part(url: &str) {
    let coll = unique("members");
    let db = Database::open(url).await.expect("open");
    children_table(&db, &coll).await;
    let sink = |parent: &str| {
        db.documents()
            .table(&coll)
            .child_of(&coll, parent)
            .key_parts([KeyPart::Parent, KeyPart::pointer("/email")])
            .column("role", "/role", ColumnType::Text)
            .column("since", "/since", ColumnType::Date)
            .build_raw()
            .expect("build")
    };
    for (parent, n) in [("12", 2), ("13", 1)] {
        let items = (0..n)
            .map(|i| json!({"email": format!("m{i}@x"), "role": "dev", "since": "2024-02-03"}))
            .collect();
        let report = run(&format!("{coll}_{parent}"), pages(vec![items]), sink(parent)).await;
        assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    }
    let r = Reader::connect(url).await;
    assert_eq!(r.count(&coll).await, 3);
    assert_eq!(
        r.text(&coll, "role", r#"["12","m1@x"]"#).await.as_deref(),
        Some("dev")
    );
    assert_eq!(
        r.text(&coll, "since", r#"["13","m0@x"]"#).await.as_deref(),
        Some("2024-02-03")
    );
    r.close().await;
    db.close().await;
}

async fn keyless_typed_children_replace_only_their_parents_rows_and_elements(url: &str) {
    let coll = unique("kids");
    let db = Database::open(url).await.expect("open");
    children_table(&db, &coll).await;
    let child = |parent: &str, n: usize| {
        let sink = keyless(&db)
            .table(&coll)
            .child_of(&coll, parent)
            .build_raw()
            .expect("build");
        (format!("{coll}_{parent}"), pages(vec![numbered(n, 2)]), sink)
    };
    for (parent, n) in [("12", 3), ("13", 2), ("12", 1)] {
        let (name, source, sink) = child(parent, n);
        let report = run(&name, source, sink).await;
        assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    }
    let r = Reader::connect(url).await;
    let keys = strings(&r, &format!("SELECT \"key\" FROM \"{coll}\" ORDER BY \"key\"")).await;
    assert_eq!(keys, [r#"["12",0]"#, r#"["13",0]"#, r#"["13",1]"#]);
    let parents = strings(
        &r,
        &format!("SELECT DISTINCT parent_key FROM \"{coll}__tags\" ORDER BY parent_key"),
    )
    .await;
    assert_eq!(parents, keys);
    assert_eq!(r.count(&format!("{coll}__tags")).await, 6);
    r.close().await;
    db.close().await;
}

/// Creates `pipeline_children`, which a child sink's completion updates.
async fn children_table(db: &Database, child: &str) {
    db.child_queue(child, "unused_parent", ParentColumns::Document)
        .expect("queue")
        .prepare(false)
        .await
        .expect("prepare");
}

fn keyless(db: &Database) -> crawlpipe_sinks::DocumentSinkBuilder {
    db.documents()
        .keyless()
        .column("n", "/n", ColumnType::Integer)
        .unnest(Unnest::new("tags", "/tags").column("name", "/name", ColumnType::Text))
}

/// `n` keyless items, `tag_count` tags each; item 1's `n` does not fit.
fn numbered(n: usize, tag_count: usize) -> Vec<Value> {
    (0..n)
        .map(|i| match i {
            1 => json!({"n": "one", "tags": tags(tag_count)}),
            i => json!({"n": i, "tags": tags(tag_count)}),
        })
        .collect()
}

async fn a_keyless_typed_table_appends_and_a_new_run_replaces_it_with_its_children(url: &str) {
    let coll = unique("kl");
    let db = Database::open(url).await.expect("open");
    // `reject` has no key to keep an item under: refused when built.
    let refused = keyless(&db)
        .on_mismatch(OnMismatch::Reject)
        .build_raw()
        .unwrap_err();
    assert!(refused.to_string().contains("keyless"), "{refused}");
    let taken = keyless(&db)
        .column("position", "/p", ColumnType::Text)
        .build_raw()
        .unwrap_err();
    assert!(taken.to_string().contains("position"), "{taken}");
    let items = numbered(5, 2);
    let report = run(
        &coll,
        pages(vec![items[..2].to_vec(), items[2..].to_vec()]),
        keyless(&db).build_raw().unwrap(),
    )
    .await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    let r = Reader::connect(url).await;
    let rows = strings(
        &r,
        &format!("SELECT \"key\" || ':' || CAST(\"position\" AS TEXT) || ':' || COALESCE(CAST(n AS TEXT), 'null') FROM \"{coll}\" ORDER BY \"position\""),
    )
    .await;
    // The default is `null`: the item is kept, its `data` holds the value.
    assert_eq!(rows, ["0:0:0", "1:1:null", "2:2:2", "3:3:3", "4:4:4"]);
    assert_eq!(r.data(&coll, "1").await.expect("row")["n"], "one");
    let child = format!("{coll}__tags");
    assert_eq!(r.count(&child).await, 10);
    // A shorter new run replaces the rows and their elements.
    let report = run(
        &coll,
        pages(vec![numbered(2, 1)]),
        keyless(&db).build_raw().unwrap(),
    )
    .await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(r.count(&coll).await, 2);
    let parents = strings(
        &r,
        &format!("SELECT parent_key FROM \"{child}\" ORDER BY parent_key"),
    )
    .await;
    assert_eq!(parents, ["0", "1"]);
    // A table an earlier keyed run made takes keyless rows too.
    let keyed = unique("klk");
    let sink = db
        .documents()
        .column("n", "/n", ColumnType::Integer)
        .build_raw()
        .unwrap();
    let report = run(&keyed, pages(vec![vec![json!({"id": "a", "n": 1})]]), sink).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    let report = run(
        &keyed,
        pages(vec![numbered(3, 0)]),
        keyless(&db).build_raw().unwrap(),
    )
    .await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(r.text(&keyed, "position", "2").await.as_deref(), Some("2"));
    // An inferred keyless table keeps `position` its own.
    let inferred = unique("kli");
    let sink = db.documents().keyless().infer_columns().build_raw().unwrap();
    let items = vec![
        json!({"position": "top", "score": 1.5}),
        json!({"position": "low", "score": 2}),
    ];
    let report = run(&inferred, pages(vec![items]), sink).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    let positions = strings(&r, &format!("SELECT CAST(\"position\" AS TEXT) || ':' || CAST(score AS TEXT) FROM \"{inferred}\" ORDER BY \"position\"")).await;
    assert_eq!(positions.len(), 2);
    assert!(positions[0].starts_with("0:1.5"), "{positions:?}");
    r.close().await;
    db.close().await;
}

async fn a_keyless_typed_staging_run_swaps_in_its_positions_and_columns(url: &str) {
    let coll = unique("kls");
    let db = Database::open(url).await.expect("open");
    let sink = || {
        db.documents()
            .keyless()
            .column("n", "/n", ColumnType::Integer)
            .staging(true)
            .build_raw()
            .expect("build")
    };
    for n in [5, 3] {
        let items = (0..n).map(|i| json!({"n": i * 10})).collect();
        let report = run(&coll, pages(vec![items]), sink()).await;
        assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    }
    let r = Reader::connect(url).await;
    let rows = strings(
        &r,
        &format!("SELECT \"key\" || '=' || CAST(\"position\" AS TEXT) || ',' || CAST(n AS TEXT) FROM \"{coll}\" ORDER BY \"position\""),
    )
    .await;
    assert_eq!(rows, ["0=0,0", "1=1,10", "2=2,20"]);
    r.close().await;
    db.close().await;
}

async fn a_resumed_keyless_typed_run_writes_each_position_once(url: &str) {
    let coll = unique("klr");
    let db = Database::open(url).await.expect("open");
    let all: Vec<Vec<Value>> = (0..4)
        .map(|p| (0..2).map(|i| json!({"n": p * 2 + i, "tags": tags(2)})).collect())
        .collect();
    let failing = pages(all.clone()).fail(2, Fault::Permanent, 1);
    let report = run(&coll, failing, keyless(&db).build_raw().unwrap()).await;
    assert!(report.outcome.failure().is_some(), "{:?}", report.outcome);
    let report = run(&coll, pages(all), keyless(&db).build_raw().unwrap()).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    let r = Reader::connect(url).await;
    let rows = strings(
        &r,
        &format!("SELECT CAST(\"position\" AS TEXT) || '=' || CAST(n AS TEXT) FROM \"{coll}\" ORDER BY \"position\""),
    )
    .await;
    assert_eq!(rows, ["0=0", "1=1", "2=2", "3=3", "4=4", "5=5", "6=6", "7=7"]);
    assert_eq!(
        r.count(&format!("{coll}__tags")).await,
        16,
        "no duplicate elements"
    );
    r.close().await;
    db.close().await;
}

async fn a_typed_table_keeps_its_stored_key_type_and_incremental_mark(url: &str) {
    let coll = unique("kt");
    let db = Database::open(url).await.expect("open");
    let sink = || {
        db.documents()
            .column("at", "/at", ColumnType::Timestamp)
            .high_water("/at")
            .build()
            .expect("build")
    };
    let run = |items: Vec<Value>, sink: SqlSink<Value>| {
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
    let items = vec![
        json!({"id": 7, "at": "2024-01-02T00:00:00Z"}),
        json!({"id": 8, "at": "2024-01-05T00:00:00Z"}),
    ];
    let report = run(items, sink()).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(
        db.high_water(&coll).await.expect("mark").as_deref(),
        Some("2024-01-05T00:00:00Z")
    );
    // A new sink reads the key type the first run stored with its rows.
    let report = run(vec![json!({"id": "9", "at": "2024-01-06T00:00:00Z"})], sink()).await;
    let message = report.outcome.failure().expect("fails").error.to_string();
    assert!(message.contains("stored by an earlier run"), "{message}");
    db.close().await;
}

async fn a_runner_counts_the_items_a_typed_table_rejects(url: &str) {
    use crawlpipe_core::runner::{Collection, Runner};
    let coll = unique("rrej");
    let db = Database::open(url).await.expect("open");
    let sink_db = db.clone();
    let collection = Collection::new(&coll, move |name| {
        let sink = sink_db
            .documents()
            .key_parts([KeyPart::pointer("/project"), KeyPart::pointer("/id")])
            .column("n", "/n", ColumnType::Integer)
            .build_raw()
            .expect("build");
        let items = vec![
            json!({"project": 1, "id": 1, "n": 1}),
            json!({"project": 1, "id": 2, "n": "two"}),
            json!({"project": 2, "id": 1, "n": "x"}),
        ];
        Ok(Pipeline::paged(name, pages(vec![items])).sink(sink))
    });
    let runner = Runner::builder(std::sync::Arc::new(db.checkpoint_store()))
        .collection(collection)
        .build()
        .expect("runner");
    let summaries = runner.join().await;
    assert_eq!(summaries[0].progress.items_written, 1);
    assert_eq!(summaries[0].progress.items_rejected, 2);
    assert_eq!(db.rejected_count(&coll).await.expect("count"), 2);
    db.close().await;
}

support::on_both!(
    a_composite_keyed_typed_table_keys_rows_and_rejections_by_tuple,
    a_typed_child_sink_keys_by_its_parent_part,
    keyless_typed_children_replace_only_their_parents_rows_and_elements,
    a_keyless_typed_table_appends_and_a_new_run_replaces_it_with_its_children,
    a_resumed_keyless_typed_run_writes_each_position_once,
    a_keyless_typed_staging_run_swaps_in_its_positions_and_columns,
    a_runner_counts_the_items_a_typed_table_rejects,
    a_typed_table_keeps_its_stored_key_type_and_incremental_mark,
);
