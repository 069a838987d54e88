//! `text_keys = true` through the real `crawl` binary against the mock
//! server's `/shapes/mixed_ids` (integer ids with a few strings): every item
//! stored under its text, `7` and `"7"` one row; without it the first
//! string key is rejected, naming both types.

mod support;

use std::collections::BTreeSet;

use crawlpipe_sources::mock::{MockConfig, MockServer, shape_mixed};
use serde_json::Value;
use support::{crawl, sqlite_keys, write};

fn config(db: &std::path::Path, base: &str, text_keys: bool) -> String {
    format!(
        r#"[runtime]
database = "sqlite://{db}"

[[collection]]
name = "mixed"
url = "{base}/shapes/mixed_ids?page=1"
items = "/items"
key = "/id"
{text}
pagination = {{ style = "page", param = "page", page_size = 10 }}
"#,
        db = db.display(),
        text = if text_keys { "text_keys = true" } else { "" }
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn integer_and_string_keys_share_a_table_as_text() {
    let server = MockServer::start(MockConfig::new(23, 10)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crawl.db");
    let path = write(dir.path(), "crawl.toml", &config(&db, server.base_url(), true));
    let out = crawl(&[&path, "--quiet"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let expected: BTreeSet<String> = (0..23)
        .map(|i| match &shape_mixed(i)["id"] {
            Value::String(s) => s.clone(),
            n => n.to_string(),
        })
        .collect();
    // Item 3's id "1" is item 1's id as text: one row for both.
    assert_eq!(expected.len(), 22);
    assert_eq!(sqlite_keys(&db, "mixed").await, (22, expected));

    // Without text keys the table's keys are integers, fixed by the first:
    // the string "1" is rejected naming both types.
    let other = tempfile::tempdir().unwrap();
    let db = other.path().join("crawl.db");
    let path = write(other.path(), "crawl.toml", &config(&db, server.base_url(), false));
    let out = crawl(&[&path, "--quiet"], other.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("this table's keys are integers"), "{stderr}");
    server.shutdown().await;
}
