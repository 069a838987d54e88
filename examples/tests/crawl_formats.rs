//! XML feeds and JSON Lines through the `crawl` binary: exact rows in
//! SQLite and PostgreSQL, `kill -9` and an exact resume of an XML feed, bad
//! format keys exiting 2 with their line, and `crawl suggest` proposing a
//! config for a feed, a JSON Lines body and a single object; and XML items
//! into typed columns through the Rust API.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crawlpipe_sinks::sqlx::{self, AssertSqlSafe, Row};
use crawlpipe_sources::mock::{MockConfig, MockServer};
use serde_json::{Value, json};
use support::{crawl, mock_keys, spawn_crawl, sqlite_keys, wait_bounded, wait_for_rows, write};

/// A config with one collection `name` whose keys after `url` are `rest`.
fn config(dir: &Path, database: &str, name: &str, url: &str, rest: &str) -> String {
    let text = format!(
        "[runtime]\ndatabase = \"{database}\"\n\n[[collection]]\nname = \"{name}\"\nurl = \"{url}\"\n{rest}"
    );
    write(dir, "crawl.toml", &text)
}

fn sqlite(dir: &Path) -> (String, PathBuf) {
    let db = dir.join("crawl.db");
    (format!("sqlite://{}", db.display()), db)
}

const ATOM: &str = "format = \"xml\"\nitems = \"/feed/entry\"\nkey = \"/id\"\nxml = { arrays = [\"category\"] }\npagination = { style = \"feed_next\" }\n";

/// The `data` of the row with key `key`.
async fn sqlite_data(db: &Path, table: &str, key: &str) -> Value {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let text: String = sqlx::query(AssertSqlSafe(format!(
        "SELECT data FROM \"{table}\" WHERE key = ?"
    )))
    .bind(key)
    .fetch_one(&pool)
    .await
    .unwrap()
    .get(0);
    pool.close().await;
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_atom_feed_crawls_into_exact_rows() {
    let server = MockServer::start(MockConfig::new(230, 20)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (url, db) = sqlite(dir.path());
    let path = config(dir.path(), &url, "entries", &server.url("/xml/atom"), ATOM);
    let out = crawl(&[&path, "--quiet"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(sqlite_keys(&db, "entries").await, (230, mock_keys(230)));
    assert_eq!(
        sqlite_data(&db, "entries", "7").await,
        json!({
            "id": "7",
            "title": {"@type": "text", "#text": "item-7"},
            "link": {"@rel": "alternate", "@href": format!("{}/item/7", server.base_url())},
            "category": [{"@term": "c1"}],
            "updated": "2024-01-01T00:00:00Z",
            "content": {"@type": "html", "#text": "<p>item 7 & more</p>"},
        })
    );
    assert_eq!(server.request_count(), 12);
}

#[tokio::test(flavor = "multi_thread")]
async fn json_lines_crawl_into_exact_rows() {
    let server = MockServer::start(MockConfig::new(130, 25)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (url, db) = sqlite(dir.path());
    let rest = "format = \"jsonl\"\npagination = { style = \"page\" }\n";
    let path = config(dir.path(), &url, "lines", &server.url("/jsonl"), rest);
    let out = crawl(&[&path, "--quiet"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(sqlite_keys(&db, "lines").await, (130, mock_keys(130)));
    assert_eq!(
        sqlite_data(&db, "lines", "129").await,
        crawlpipe_sources::mock::item(129)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_xml_feed_killed_mid_crawl_resumes_exactly() {
    // 100 pages of 20 entries, 10 ms a request.
    let server = MockServer::start(MockConfig::new(2_000, 20).latency(Duration::from_millis(10)))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (url, db) = sqlite(dir.path());
    let path = config(dir.path(), &url, "entries", &server.url("/xml/atom"), ATOM);
    let mut child = spawn_crawl(&path, dir.path(), Stdio::null);
    let rows = wait_for_rows(&db, "entries", 200).await;
    child.kill().unwrap(); // SIGKILL
    let _ = wait_bounded(&mut child, Duration::from_secs(10));
    assert!((200..2_000).contains(&rows), "killed mid-crawl after {rows} rows");
    let before = server.request_count();

    let out = crawl(&[&path, "--quiet"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(sqlite_keys(&db, "entries").await, (2_000, mock_keys(2_000)));
    let again = server.request_count() - before;
    assert!(
        again <= 100 - (rows as u64 / 20) + 2,
        "resumed at the committed page, not restarted: {again} requests"
    );
}

#[cfg_attr(no_pg_tests, ignore = "needs PostgreSQL: set PIPELINE_TEST_PG_URL")]
#[tokio::test(flavor = "multi_thread")]
async fn an_rss_feed_crawls_into_postgres() {
    let Ok(pg) = std::env::var("PIPELINE_TEST_PG_URL") else {
        eprintln!("skipped: PIPELINE_TEST_PG_URL is not set");
        return;
    };
    let server = MockServer::start(MockConfig::new(95, 10)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let table = format!("rss_{}", std::process::id());
    let rest = "format = \"xml\"\nkey = \"/guid/#text\"\npagination = { style = \"page\" }\n";
    let path = config(dir.path(), &pg, &table, &server.url("/xml/rss"), rest);
    let out = crawl(&[&path, "--quiet"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pool = sqlx::PgPool::connect(&pg).await.expect("PostgreSQL reachable");
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT key, data->>'title', data->'guid'->>'@isPermaLink' FROM \"{table}\""
    )))
    .fetch_all(&pool)
    .await
    .unwrap();
    let keys: BTreeSet<String> = rows.iter().map(|r| r.get::<String, _>(0)).collect();
    assert_eq!(keys, mock_keys(95));
    for row in &rows {
        let key: String = row.get(0);
        assert_eq!(row.get::<String, _>(1), format!("item-{key}"));
        assert_eq!(row.get::<String, _>(2), "false");
    }
    let _ = sqlx::query(AssertSqlSafe(format!("DROP TABLE IF EXISTS \"{table}\"")))
        .execute(&pool)
        .await;
}

/// Runs the binary on a config; asserts exit 2 and that stderr names every part.
fn assert_refused(rest: &str, parts: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let path = config(
        dir.path(),
        "sqlite://never.db",
        "feed",
        "http://127.0.0.1:9/",
        rest,
    );
    let out = crawl(&[&path], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for part in parts {
        assert!(err.contains(part), "{part:?} missing from: {err}");
    }
    assert!(!dir.path().join("never.db").exists());
}

#[test]
fn bad_format_keys_exit_2_naming_the_key_and_line() {
    assert_refused("format = \"yaml\"\n", &["line 7", "yaml", "jsonl"]);
    assert_refused(
        "format = \"xml\"\nxml = { max_depth = 100 }\n",
        &["line 8", "collection \"feed\": xml.max_depth", "out of range"],
    );
    assert_refused(
        "format = \"jsonl\"\npagination = { style = \"next_url\", next = \"/next\" }\n",
        &["line 8", "collection \"feed\": pagination", "JSON Lines"],
    );
    assert_refused(
        "pagination = { style = \"feed_next\" }\n",
        &[
            "line 7",
            "collection \"feed\": pagination",
            "set format = \"xml\"",
        ],
    );
    assert_refused(
        "format = \"xml\"\nitems = \"/rss//item\"\n",
        &["line 8", "collection \"feed\": items", "not an element name"],
    );
}

/// `crawl suggest URL`'s block, asserting success.
fn suggest(url: &str, dir: &Path) -> String {
    let out = crawl(&["suggest", url], dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Crawls a suggested block (named `name`) into SQLite; returns the database.
fn crawl_block(block: &str, name: &str, dir: &Path) -> PathBuf {
    let db = dir.join(format!("{name}.db"));
    let renamed: Vec<String> = block
        .lines()
        .map(|l| match l.starts_with("name =") {
            true => format!("name = \"{name}\""),
            false => l.to_owned(),
        })
        .collect();
    let text = format!(
        "[runtime]\ndatabase = \"sqlite://{}\"\n\n{}\n",
        db.display(),
        renamed.join("\n")
    );
    let path = write(dir, &format!("{name}.toml"), &text);
    let out = crawl(&[&path, "--quiet"], dir);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    db
}

#[tokio::test(flavor = "multi_thread")]
async fn suggested_blocks_for_a_feed_and_json_lines_crawl_exactly() {
    let server = MockServer::start(MockConfig::new(130, 25)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();

    let block = suggest(&server.url("/xml/atom"), dir.path());
    for line in [
        "format = \"xml\"",
        "items = \"/feed/entry\"",
        "key = \"/id\"",
        "style = \"feed_next\"",
    ] {
        assert!(block.contains(line), "{line:?} in {block}");
    }
    let db = crawl_block(&block, "atom", dir.path());
    assert_eq!(sqlite_keys(&db, "atom").await, (130, mock_keys(130)));

    let block = suggest(&server.url("/jsonl?page=1"), dir.path());
    for line in [
        "format = \"jsonl\"",
        "items = \"\"",
        "key = \"/id\"",
        "style = \"page\"",
    ] {
        assert!(block.contains(line), "{line:?} in {block}");
    }
    let db = crawl_block(&block, "lines", dir.path());
    assert_eq!(sqlite_keys(&db, "lines").await, (130, mock_keys(130)));

    let block = suggest(&server.url("/object"), dir.path());
    assert!(block.contains("items = \"\""), "{block}");
    assert!(block.contains("one object"), "{block}");
    assert!(block.contains("key = \"/id\""), "{block}");
    assert!(!block.contains("pagination ="), "{block}");
    let db = crawl_block(&block, "me", dir.path());
    assert_eq!(
        sqlite_keys(&db, "me").await,
        (1, BTreeSet::from(["42".to_owned()]))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn xml_items_fill_typed_columns_through_the_rust_api() {
    use crawlpipe_core::Pipeline;
    use crawlpipe_sinks::{ColumnType, Database};
    use crawlpipe_sources::{HttpContext, HttpSourceConfig, JsonSource, Pagination, XmlConfig};

    let server = MockServer::start(MockConfig::new(45, 10)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (url, db_path) = sqlite(dir.path());
    let config = HttpSourceConfig::new(server.url("/xml/rss"))
        .xml(XmlConfig::default())
        .pagination(Pagination::FeedNext);
    let source = JsonSource::from_config(&config, &HttpContext::new().unwrap()).unwrap();
    let db = Database::open(&url).await.unwrap();
    let sink = db
        .rows::<Value>()
        .table("podcast")
        .columns([
            ("title", ColumnType::Text),
            ("creator", ColumnType::Text),
            ("guid", ColumnType::Json),
        ])
        .key_pointer("/guid/#text")
        .build()
        .unwrap();
    // Prefixed names are not column names: a transform picks the fields.
    let report = Pipeline::paged("podcast", source)
        .map(|item: Value| json!({"title": item["title"], "creator": item["dc:creator"], "guid": item["guid"]}))
        .sink(sink)
        .spawn()
        .unwrap()
        .join()
        .await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    db.close().await;
    assert_eq!(sqlite_keys(&db_path, "podcast").await, (45, mock_keys(45)));
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let row = sqlx::query("SELECT title, creator, guid FROM podcast WHERE key = '44'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>(0), "item-44");
    assert_eq!(row.get::<String, _>(1), "ann");
    let guid: Value = serde_json::from_str(&row.get::<String, _>(2)).unwrap();
    assert_eq!(guid, json!({"@isPermaLink": "false", "#text": "44"}));
    pool.close().await;
}
