//! `text_keys = true` through the real `crawl` binary against the mock
//! server's `/shapes/mixed_ids` (integer ids with a few strings): every item
//! stored under its text, `7` and `"7"` one row; without it the first
//! string key is rejected, naming both types.

mod support;

use std::collections::BTreeSet;

use crawlpipe_sinks::sqlx::{self, AssertSqlSafe};
use crawlpipe_sources::mock::{MockConfig, MockServer, shape_mixed};
use serde_json::Value;
use support::{crawl, sqlite_keys, write};

fn config(database: &str, name: &str, base: &str, text_keys: bool) -> String {
    format!(
        r#"[runtime]
database = "{database}"

[[collection]]
name = "{name}"
url = "{base}/shapes/mixed_ids?page=1"
items = "/items"
key = "/id"
{text}
pagination = {{ style = "page", param = "page", page_size = 10 }}
"#,
        text = if text_keys { "text_keys = true" } else { "" }
    )
}

/// The stored keys of the 23 items: 22, item 3's `"1"` being item 1's `1`.
fn expected_keys() -> BTreeSet<String> {
    let keys: BTreeSet<String> = (0..23)
        .map(|i| match &shape_mixed(i)["id"] {
            Value::String(s) => s.clone(),
            n => n.to_string(),
        })
        .collect();
    assert_eq!(keys.len(), 22);
    keys
}

#[tokio::test(flavor = "multi_thread")]
async fn integer_and_string_keys_share_a_table_as_text() {
    let server = MockServer::start(MockConfig::new(23, 10)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crawl.db");
    let database = format!("sqlite://{}", db.display());
    let path = write(
        dir.path(),
        "crawl.toml",
        &config(&database, "mixed", server.base_url(), true),
    );
    let out = crawl(&[&path, "--quiet"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Item 3's id "1" is item 1's id as text: one row for both.
    assert_eq!(sqlite_keys(&db, "mixed").await, (22, expected_keys()));

    // Without text keys the table's keys are integers, fixed by the first:
    // the string "1" is rejected naming both types.
    let other = tempfile::tempdir().unwrap();
    let db = other.path().join("crawl.db");
    let database = format!("sqlite://{}", db.display());
    let path = write(
        other.path(),
        "crawl.toml",
        &config(&database, "mixed", server.base_url(), false),
    );
    let out = crawl(&[&path, "--quiet"], other.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("this table's keys are integers"), "{stderr}");
    server.shutdown().await;
}

#[cfg_attr(no_pg_tests, ignore = "needs PostgreSQL: set PIPELINE_TEST_PG_URL")]
#[tokio::test(flavor = "multi_thread")]
async fn integer_and_string_keys_share_a_table_as_text_on_postgres() {
    let Ok(pg) = std::env::var("PIPELINE_TEST_PG_URL") else {
        assert_ne!(
            std::env::var("PIPELINE_TEST_PG_REQUIRED").as_deref(),
            Ok("1"),
            "PIPELINE_TEST_PG_REQUIRED=1 but PIPELINE_TEST_PG_URL is not set"
        );
        eprintln!("skipped: PIPELINE_TEST_PG_URL is not set");
        return;
    };
    let server = MockServer::start(MockConfig::new(23, 10)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let name = format!("mixed_{}_{}", std::process::id(), fastrand::u32(..));
    let path = write(
        dir.path(),
        "crawl.toml",
        &config(&pg, &name, server.base_url(), true),
    );
    let out = crawl(&[&path, "--quiet"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pool = sqlx::PgPool::connect(&pg).await.unwrap();
    let keys: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!("SELECT key FROM \"{name}\"")))
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    assert_eq!(keys.len(), 22);
    assert_eq!(keys.into_iter().collect::<BTreeSet<_>>(), expected_keys());
    server.shutdown().await;
}
