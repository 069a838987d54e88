//! Several sinks of one inferred table (the children of a child collection
//! share theirs) finding the same new field with different types at once:
//! the first type wins, is what `pipeline_schemas` records and what the
//! column is, and the other sinks' values follow `on_mismatch`.

#[allow(unused_imports)]
mod support;

use crawlpipe_core::{RawItem, Sink, SinkContext};
use crawlpipe_sinks::{Database, SqlSink};
use serde_json::{Value, json};
use support::{Reader, pg_url, sqlite_url, unique};

fn sink(db: &Database, table: &str) -> SqlSink<RawItem> {
    db.documents()
        .table(table)
        .key_pointer("/id")
        .infer_columns()
        .build_raw()
        .expect("build")
}

fn raw(items: &[Value]) -> Vec<RawItem> {
    items.iter().map(RawItem::from_value).collect()
}

/// The type `pipeline_schemas` records for `table.column`, and the
/// column's type in the database, lower-cased.
async fn types(r: &Reader, table: &str, column: &str) -> (Vec<String>, Vec<String>) {
    let recorded = texts(
        r,
        &format!(
            "SELECT \"type\" FROM pipeline_schemas WHERE table_name = '{table}' AND column_name = '{column}'"
        ),
    )
    .await;
    let physical = match r {
        Reader::Sqlite(_) => {
            format!("SELECT lower(type) FROM pragma_table_info('{table}') WHERE name = '{column}'")
        }
        Reader::Pg(_) => format!(
            "SELECT lower(data_type) FROM information_schema.columns WHERE table_schema = current_schema() \
             AND table_name = '{table}' AND column_name = '{column}'"
        ),
    };
    (recorded, texts(r, &physical).await)
}

async fn texts(r: &Reader, sql: &str) -> Vec<String> {
    r.strings(sql)
        .await
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect()
}

fn integer(r: &Reader) -> &'static str {
    match r {
        Reader::Sqlite(_) => "integer",
        Reader::Pg(_) => "bigint",
    }
}

/// Opens sink `a` (collection `a_coll`, on `one`) and sink `b` (`b_coll`,
/// on `two`) of `table`, both before the table has `size`, then has `a`
/// write an item whose `size` is an integer; returns `b`.
async fn first_writes_size(
    one: &Database,
    two: &Database,
    a_coll: &str,
    b_coll: &str,
    table: &str,
) -> SqlSink<RawItem> {
    let (mut a, mut b) = (sink(one, table), sink(two, table));
    a.open(&SinkContext::new(a_coll, false)).await.expect("open a");
    b.open(&SinkContext::new(b_coll, false)).await.expect("open b");
    a.write(raw(&[json!({"id": "a1", "size": 1})]), None)
        .await
        .expect("a writes");
    b
}

/// Drops `table`, its recorded columns and `b_coll`'s rejected items, then
/// closes `r`.
async fn clean_up(r: &Reader, table: &str, b_coll: &str) {
    r.exec(&format!(
        "DROP TABLE IF EXISTS \"{table}\"; DELETE FROM pipeline_schemas WHERE table_name = '{table}'; \
         DELETE FROM pipeline_rejected WHERE collection = '{b_coll}'"
    ))
    .await;
    r.close().await;
}

/// Two sinks of one process: the second adopts the first's type.
async fn sinks_of_one_process_agree(url: &str) {
    let table = unique("agree");
    let (a_coll, b_coll) = (format!("{table}_a"), format!("{table}_b"));
    let db = Database::open(url).await.expect("open");
    let mut b = first_writes_size(&db, &db, &a_coll, &b_coll, &table).await;
    // `b` opened before `size` existed: its batch finds it again, as text.
    b.write(
        raw(&[
            json!({"id": "b1", "size": "large"}),
            json!({"id": "b2", "size": "7"}),
        ]),
        None,
    )
    .await
    .expect("b writes");
    let r = Reader::connect(url).await;
    assert_eq!(
        types(&r, &table, "size").await,
        (vec!["integer".to_owned()], vec![integer(&r).to_owned()]),
        "the first sink's type is recorded and is the column's"
    );
    assert_eq!(r.text(&table, "size", "a1").await.as_deref(), Some("1"));
    assert_eq!(
        r.text(&table, "size", "b2").await.as_deref(),
        Some("7"),
        "a string holding an integer fits"
    );
    assert_eq!(
        texts(
            &r,
            &format!(
                "SELECT \"key\" || ' ' || \"column\" FROM pipeline_rejected WHERE collection = '{b_coll}'"
            )
        )
        .await,
        ["b1 size"],
        "the value that does not fit is rejected, not written as another type"
    );
    clean_up(&r, &table, &b_coll).await;
    db.close().await;
}

/// Two processes (two handles): the second one's batch is refused whole
/// with a clear error, the recorded type stays the first's, and its next
/// run uses it.
async fn sinks_of_two_processes_agree(url: &str) {
    let table = unique("agree2");
    let (a_coll, b_coll) = (format!("{table}_a"), format!("{table}_b"));
    let (one, two) = (
        Database::open(url).await.expect("open"),
        Database::open(url).await.expect("open"),
    );
    let mut b = first_writes_size(&one, &two, &a_coll, &b_coll, &table).await;
    let error = b
        .write(raw(&[json!({"id": "b1", "size": "large"})]), None)
        .await
        .expect_err("b's batch inferred another type")
        .to_string();
    assert!(error.contains("another writer of the table"), "{error}");
    let r = Reader::connect(url).await;
    assert_eq!(
        types(&r, &table, "size").await,
        (vec!["integer".to_owned()], vec![integer(&r).to_owned()])
    );
    assert_eq!(r.keys(&table).await.into_iter().collect::<Vec<_>>(), ["a1"]);
    // The next run of `b` reads the recorded type.
    let mut again = sink(&two, &table);
    again
        .open(&SinkContext::new(b_coll.clone(), false))
        .await
        .expect("open b again");
    again
        .write(
            raw(&[
                json!({"id": "b1", "size": "large"}),
                json!({"id": "b2", "size": 2}),
            ]),
            None,
        )
        .await
        .expect("b writes");
    assert_eq!(r.keys(&table).await.into_iter().collect::<Vec<_>>(), ["a1", "b2"]);
    clean_up(&r, &table, &b_coll).await;
    one.close().await;
    two.close().await;
}

support::on_both!(sinks_of_one_process_agree, sinks_of_two_processes_agree);
