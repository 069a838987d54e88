//! The SQL sink's page validators (conditional requests), through the
//! `Sink` API on a SQLite file: it offers a store when it opens, stores a
//! page's validator (with its rows' keys) in the batch of the page's last
//! rows, never for a batch that did not commit whole, and offers none to a
//! keyless collection or a fresh run.
#![cfg(feature = "sqlite")]

#[allow(unused_imports)]
mod support;

use crawlpipe_core::{Cursor, PageEnd, PageValidator, Sink, SinkContext, Validation};
use crawlpipe_sinks::Database;
use serde_json::{Value, json};
use support::{sqlite_url, unique};

fn fetched(request: &str, next: Option<&str>) -> Option<Validation> {
    Some(Validation::Fetched(PageValidator {
        request: request.to_owned(),
        etag: Some(format!("\"{request}\"")),
        last_modified: None,
        next: next.map(Cursor::new),
    }))
}

fn items(ids: std::ops::Range<u64>) -> Vec<Value> {
    ids.map(|id| json!({ "id": id })).collect()
}

#[tokio::test]
async fn a_page_validator_is_stored_with_its_last_rows_and_read_back() {
    let (_dir, url) = sqlite_url();
    let db = Database::open(&url).await.unwrap();
    let coll = unique("validated");
    let mut sink = db.documents().build().unwrap();
    let ctx = SinkContext::new(coll.clone(), false);
    sink.open(&ctx).await.unwrap();
    let store = ctx.validators().expect("a keyed SQL sink offers validators");
    assert_eq!(store.get("p1").await.unwrap(), None);

    // Page p1 is items 0..3, cut over two batches; p2 has no validator.
    sink.page_ends(Vec::new());
    sink.write(items(0..2), None).await.unwrap();
    sink.page_ends(vec![
        PageEnd {
            end: 1,
            validation: fetched("p1", Some("c2")),
        },
        PageEnd {
            end: 1,
            validation: None,
        },
    ]);
    sink.write(items(2..3), Some(&Cursor::new("c2"))).await.unwrap();

    // A new run's store reads what the last one committed.
    let mut next = db.documents().build().unwrap();
    let ctx = SinkContext::new(coll.clone(), false);
    next.open(&ctx).await.unwrap();
    let store = ctx.validators().unwrap();
    let stored = store.get("p1").await.unwrap().expect("stored");
    assert_eq!(stored.etag.as_deref(), Some("\"p1\""));
    assert_eq!(stored.next.as_ref().map(Cursor::as_str), Some("c2"));
    assert_eq!(store.get("p2").await.unwrap(), None);
    let pool = crawlpipe_sinks::sqlx::SqlitePool::connect(&url).await.unwrap();
    let (keys,): (String,) = crawlpipe_sinks::sqlx::query_as(
        "SELECT keys FROM pipeline_validators WHERE collection = ? AND request = 'p1'",
    )
    .bind(&coll)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(keys, r#"["0","1","2"]"#, "the page's rows, both batches");
    pool.close().await;
}

#[tokio::test]
async fn a_batch_that_does_not_commit_whole_stores_no_validator() {
    let (_dir, url) = sqlite_url();
    let db = Database::open(&url).await.unwrap();
    let coll = unique("refused");
    let mut sink = db.documents().build().unwrap();
    let ctx = SinkContext::new(coll.clone(), false);
    sink.open(&ctx).await.unwrap();
    sink.page_ends(vec![PageEnd {
        end: 2,
        validation: fetched("p1", None),
    }]);
    // The second item has no key: the first is committed, the page's validator is not.
    let refused = sink
        .write(vec![json!({ "id": 1 }), json!({ "name": "no id" })], None)
        .await;
    assert!(refused.is_err());
    let store = {
        let mut again = db.documents().build().unwrap();
        let ctx = SinkContext::new(coll.clone(), false);
        again.open(&ctx).await.unwrap();
        ctx.validators().unwrap()
    };
    assert_eq!(store.get("p1").await.unwrap(), None);
}

#[tokio::test]
async fn keyless_collections_and_fresh_runs_are_offered_no_validators() {
    let (_dir, url) = sqlite_url();
    let db = Database::open(&url).await.unwrap();
    let mut keyless = db.documents().keyless().build().unwrap();
    let ctx = SinkContext::new(unique("keyless"), false);
    keyless.open(&ctx).await.unwrap();
    assert!(ctx.validators().is_none(), "a keyless run replaces every row");
    let mut fresh = db.documents().build().unwrap();
    let ctx = SinkContext::new(unique("fresh"), true);
    fresh.open(&ctx).await.unwrap();
    assert!(
        ctx.validators().is_none(),
        "a fresh run fetches every page in full"
    );
}
