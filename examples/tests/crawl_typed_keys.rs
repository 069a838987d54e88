//! End-to-end: typed tables with composite and keyless keys through the
//! `crawl` binary, on SQLite files and PostgreSQL: the keys of rows,
//! rejected items and unnested elements; a keyless re-crawl replacing the
//! previous run with its elements; `on_mismatch = "reject"` refused on a
//! keyless collection.

mod support;

use crawlpipe_sinks::sqlx::{self, AssertSqlSafe, Row};
use crawlpipe_sources::mock::{MockConfig, MockServer};
use support::{crawl, write};

const PER_PAGE: usize = 10;

fn unique(prefix: &str) -> String {
    format!("{prefix}_{}_{}", std::process::id(), fastrand::u32(..))
}

/// A SQLite file in `dir`, or PostgreSQL when `pg` (`None`: not configured).
fn database(dir: &tempfile::TempDir, pg: bool) -> Option<String> {
    if !pg {
        return Some(format!("sqlite://{}", dir.path().join("crawl.db").display()));
    }
    match std::env::var("PIPELINE_TEST_PG_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(
                std::env::var("PIPELINE_TEST_PG_REQUIRED").as_deref() != Ok("1"),
                "PIPELINE_TEST_PG_REQUIRED=1 but PIPELINE_TEST_PG_URL is not set"
            );
            eprintln!("skipped: PIPELINE_TEST_PG_URL is not set");
            None
        }
    }
}

/// Every row of `sql`'s first column, as text (NULL as "NULL").
async fn strings(url: &str, sql: &str) -> Vec<String> {
    let rows: Vec<Option<String>> = if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.expect("pg");
        let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(&pool).await;
        pool.close().await;
        rows.map(|rows| rows.iter().map(|r| r.get(0)).collect())
    } else {
        let pool = sqlx::SqlitePool::connect(url).await.expect("sqlite");
        let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(&pool).await;
        pool.close().await;
        rows.map(|rows| rows.iter().map(|r| r.get(0)).collect())
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.into_iter()
        .map(|v| v.unwrap_or_else(|| "NULL".into()))
        .collect()
}

fn config(url: &str, base: &str, name: &str, table: &str, query: &str) -> String {
    format!(
        "[runtime]\ndatabase = \"{url}\"\n\n[[collection]]\nname = \"{name}\"\n\
         url = \"{base}/typed?{query}\"\nitems = \"/items\"\npagination = {{ style = \"page\" }}\n{table}\n"
    )
}

fn run_ok(path: &str, dir: &std::path::Path) -> String {
    let out = crawl(&[path, "--quiet"], dir);
    assert!(
        out.status.success(),
        "crawl {path}: stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const TABLE: &str = r#"columns = { comments = { pointer = "/comments", type = "integer" }, login = "/user/login" }
unnest = { labels = { pointer = "/labels", columns = { name = "/name" } } }"#;

async fn composite_keyed_typed_table(pg: bool) {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = database(&dir, pg) else { return };
    let server = MockServer::start(MockConfig::new(30, PER_PAGE)).await.unwrap();
    let name = unique("ctyped");
    let table = format!("key = [\"/user/login\", \"/id\"]\n{TABLE}");
    let text = config(&url, server.base_url(), &name, &table, "bad=13");
    let said = run_ok(&write(dir.path(), "crawl.toml", &text), dir.path());
    assert!(
        said.contains(&format!("{name}: 1 item(s) kept in pipeline_rejected")),
        "{said}"
    );
    // Item i's key is ["user-<i % 5>",i]; item 13 is rejected under its key.
    let rows = strings(
        &url,
        &format!("SELECT \"key\" || '=' || CAST(comments AS TEXT) || ',' || login FROM \"{name}\" WHERE comments = 36"),
    )
    .await;
    assert_eq!(rows, [r#"["user-2",12]=36,user-2"#]);
    let count = strings(&url, &format!("SELECT CAST(COUNT(*) AS TEXT) FROM \"{name}\"")).await;
    assert_eq!(count, ["29"]);
    let rejected = strings(
        &url,
        &format!("SELECT \"key\" FROM pipeline_rejected WHERE collection = '{name}'"),
    )
    .await;
    assert_eq!(rejected, [r#"["user-3",13]"#]);
    // Item 3 has 3 labels, under its composite key.
    let labels = strings(
        &url,
        &format!("SELECT name FROM \"{name}__labels\" WHERE parent_key = '[\"user-3\",3]' ORDER BY idx"),
    )
    .await;
    assert_eq!(labels, ["label-0", "label-1", "label-2"]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn composite_keyed_typed_table_on_sqlite() {
    composite_keyed_typed_table(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn composite_keyed_typed_table_on_postgres() {
    composite_keyed_typed_table(true).await;
}

async fn keyless_typed_table(pg: bool) {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = database(&dir, pg) else { return };
    let name = unique("ktyped");
    let table = format!("key = false\n{TABLE}");
    // 30 items, then a re-crawl of 12 (with other labels) replaces them.
    for (items, v) in [(30, 0), (12, 1)] {
        let server = MockServer::start(MockConfig::new(items, PER_PAGE)).await.unwrap();
        let query = format!("bad=7&v={v}");
        let text = config(&url, server.base_url(), &name, &table, &query);
        run_ok(&write(dir.path(), "crawl.toml", &text), dir.path());
        server.shutdown().await;
        let rows = strings(
            &url,
            &format!("SELECT CAST(\"position\" AS TEXT) AS p FROM \"{name}\" ORDER BY \"position\""),
        )
        .await;
        let want: Vec<String> = (0..items).map(|i| i.to_string()).collect();
        assert_eq!(rows, want, "run of {items}");
        // Item i has (i + v) % 4 labels; no element of an older row is left.
        let elements = strings(
            &url,
            &format!("SELECT CAST(COUNT(*) AS TEXT) FROM \"{name}__labels\""),
        )
        .await;
        let want: usize = (0..items).map(|i| (i + v) % 4).sum();
        assert_eq!(elements, [want.to_string()], "run of {items}");
    }
    // on_mismatch defaults to null on a keyless table: item 7 is kept.
    let seven = strings(
        &url,
        &format!("SELECT COALESCE(CAST(comments AS TEXT), 'null') || ',' || CAST(data AS TEXT) FROM \"{name}\" WHERE \"key\" = '7'"),
    )
    .await;
    assert!(
        seven[0].starts_with("null,") && seven[0].contains("many"),
        "{seven:?}"
    );
    assert!(
        strings(
            &url,
            &format!("SELECT \"key\" FROM pipeline_rejected WHERE collection = '{name}'")
        )
        .await
        .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn keyless_typed_table_on_sqlite() {
    keyless_typed_table(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn keyless_typed_table_on_postgres() {
    keyless_typed_table(true).await;
}

#[test]
fn reject_on_a_keyless_collection_exits_2_naming_the_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[runtime]\ndatabase = \"sqlite://{}\"\n\n[[collection]]\nname = \"c\"\nurl = \"http://127.0.0.1:9/typed\"\nkey = false\non_mismatch = \"reject\"\n",
        dir.path().join("x.db").display()
    );
    let out = crawl(&[&write(dir.path(), "bad.toml", &text), "--quiet"], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("line 8")
            && err.contains("collection \"c\": on_mismatch")
            && err.contains("key = false"),
        "{err}"
    );
}
