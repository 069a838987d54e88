//! Conditional requests on re-crawls through the real `crawl` binary,
//! against the mock server's `/validated` pages (an `ETag` and a
//! `Last-Modified` per page, `304` on a match): a second run of an unchanged
//! collection is answered with `304`s, keeps the same rows (not even
//! rewritten) and costs a fraction of the bytes; a changed page is fetched
//! again and its rows updated; a staging run still produces the complete
//! table; `conditional = false` sends no validator. SQLite and PostgreSQL.

mod support;

use std::collections::BTreeMap;
use std::process::Output;

use crawlpipe_sinks::sqlx::{self, AssertSqlSafe, Row};
use crawlpipe_sources::mock::{MockConfig, MockServer, ValidatedCounts};
use support::{crawl, write};

const ITEMS: usize = 500;
const PER_PAGE: usize = 100;
const PAGES: u64 = (ITEMS / PER_PAGE) as u64;

fn assert_success(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn toml(database: &str, base: &str, name: &str, extra: &str) -> String {
    format!(
        r#"[runtime]
database = "{database}"
{extra}

[[collection]]
name = "{name}"
url = "{base}/validated?page=1"
items = "/items"
pagination = {{ style = "next_url", next = "/next" }}
"#
    )
}

/// A table's rows: key → (rev of the item, fetched_at as text).
type Rows = BTreeMap<String, (i64, String)>;

/// Reads the rows of `table` (on either database, through `query`'s text).
async fn rows_sqlite(url: &str, table: &str) -> Rows {
    let pool = sqlx::SqlitePool::connect(url).await.unwrap();
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT key, json_extract(data, '$.rev'), fetched_at FROM \"{table}\""
    )))
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    rows.iter()
        .map(|r| (r.get::<String, _>(0), (r.get::<i64, _>(1), r.get::<String, _>(2))))
        .collect()
}

async fn rows_pg(url: &str, table: &str) -> Rows {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT key, (data->>'rev')::bigint, fetched_at::text FROM \"{table}\""
    )))
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    rows.iter()
        .map(|r| (r.get::<String, _>(0), (r.get::<i64, _>(1), r.get::<String, _>(2))))
        .collect()
}

/// The database a test runs against.
#[derive(Clone, Copy)]
enum Db<'a> {
    Sqlite(&'a str),
    Postgres(&'a str),
}

impl Db<'_> {
    fn url(&self) -> &str {
        match self {
            Db::Sqlite(u) | Db::Postgres(u) => u,
        }
    }

    async fn rows(&self, table: &str) -> Rows {
        match self {
            Db::Sqlite(u) => rows_sqlite(u, table).await,
            Db::Postgres(u) => rows_pg(u, table).await,
        }
    }

    /// `(live, staged)` validator rows of `collection`.
    async fn validators(&self, collection: &str) -> (i64, i64) {
        let sql = "SELECT COALESCE(SUM(CASE WHEN staged = 0 THEN 1 ELSE 0 END), 0), \
                   COALESCE(SUM(CASE WHEN staged = 1 THEN 1 ELSE 0 END), 0) \
                   FROM pipeline_validators WHERE collection = ";
        let read = |r: &dyn Fn(usize) -> i64| (r(0), r(1));
        match self {
            Db::Sqlite(u) => {
                let pool = sqlx::SqlitePool::connect(u).await.unwrap();
                let row = sqlx::query(AssertSqlSafe(format!("{sql}?")))
                    .bind(collection)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                pool.close().await;
                read(&|i| row.get::<i64, _>(i))
            }
            Db::Postgres(u) => {
                let pool = sqlx::PgPool::connect(u).await.unwrap();
                let row = sqlx::query(AssertSqlSafe(format!("{sql}$1")))
                    .bind(collection)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                pool.close().await;
                read(&|i| row.get::<i64, _>(i))
            }
        }
    }
}

fn delta(after: ValidatedCounts, before: ValidatedCounts) -> ValidatedCounts {
    ValidatedCounts {
        bytes: after.bytes - before.bytes,
        not_modified: after.not_modified - before.not_modified,
        conditional: after.conditional - before.conditional,
    }
}

/// Runs the crawl once; returns its summary and what the server sent for it.
fn run(server: &MockServer, config: &str, dir: &std::path::Path) -> (String, ValidatedCounts) {
    let before = server.validated_counts();
    let stdout = assert_success(&crawl(&[config, "--quiet"], dir));
    (stdout, delta(server.validated_counts(), before))
}

fn revs(rows: &Rows) -> BTreeMap<String, i64> {
    rows.iter().map(|(k, (rev, _))| (k.clone(), *rev)).collect()
}

/// The whole story on one database: first run, unchanged second run, one
/// changed page, and (with `staging`) the same through staging tables.
async fn unchanged_pages_cost_304s(db: Db<'_>, name: &str, staging: bool) {
    let server = MockServer::start(MockConfig::new(ITEMS, PER_PAGE)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mode = if staging { "mode = \"staging\"" } else { "" };
    let config = write(
        dir.path(),
        "crawl.toml",
        &toml(db.url(), server.base_url(), name, mode),
    );

    let (_, first) = run(&server, &config, dir.path());
    assert_eq!(
        (first.not_modified, first.conditional),
        (0, 0),
        "{name}: nothing stored yet"
    );
    let rows = db.rows(name).await;
    assert_eq!(rows.len(), ITEMS, "{name}: every item stored");
    assert_eq!(
        db.validators(name).await,
        (PAGES as i64, 0),
        "{name}: one validator per page"
    );

    let (summary, second) = run(&server, &config, dir.path());
    assert_eq!(
        (second.not_modified, second.conditional),
        (PAGES, PAGES),
        "{name}: every page asked for conditionally and answered 304"
    );
    assert!(
        summary.contains(&format!("{PAGES} page(s) not modified")),
        "{name}: the summary counts them: {summary}"
    );
    let ratio = second.bytes as f64 / first.bytes as f64;
    eprintln!(
        "{name}: second run of an unchanged collection: {} of {} bytes ({:.1}%)",
        second.bytes,
        first.bytes,
        ratio * 100.0
    );
    assert!(ratio < 0.25, "{name}: a fraction of the bytes, got {ratio}");
    let again = db.rows(name).await;
    if staging {
        // The staging run's table is complete: unchanged pages were carried over.
        assert_eq!(revs(&again), revs(&rows), "{name}: the same rows");
    } else {
        // Nothing was written: not even fetched_at moved.
        assert_eq!(again, rows, "{name}: the same rows, untouched");
    }
    assert_eq!(db.validators(name).await, (PAGES as i64, 0), "{name}");

    server.change_validated_page(3);
    let (_, third) = run(&server, &config, dir.path());
    assert_eq!(third.not_modified, PAGES - 1, "{name}: only page 3 changed");
    let changed = db.rows(name).await;
    assert_eq!(changed.len(), ITEMS, "{name}: still complete");
    for (key, (rev, _)) in &changed {
        let id: usize = key.parse().unwrap();
        let want = i64::from((2 * PER_PAGE..3 * PER_PAGE).contains(&id));
        assert_eq!(
            *rev, want,
            "{name}: item {id}: page 3's rows updated, the others kept"
        );
    }
    assert_eq!(db.validators(name).await, (PAGES as i64, 0), "{name}");

    // A fourth run: page 3's new validator is the one stored.
    let (_, fourth) = run(&server, &config, dir.path());
    assert_eq!(fourth.not_modified, PAGES, "{name}");
    server.shutdown().await;
}

/// Without conditional requests, no validator is sent and nothing is
/// stored for them.
async fn switch_off_sends_no_validators(db: Db<'_>, name: &str) {
    let server = MockServer::start(MockConfig::new(ITEMS, PER_PAGE)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut text = toml(db.url(), server.base_url(), name, "");
    text.push_str("conditional = false\n");
    let config = write(dir.path(), "crawl.toml", &text);
    for _ in 0..2 {
        let (_, counts) = run(&server, &config, dir.path());
        assert_eq!((counts.conditional, counts.not_modified), (0, 0), "{name}");
    }
    assert_eq!(db.rows(name).await.len(), ITEMS, "{name}");
    server.shutdown().await;
}

fn sqlite(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("conditional.db").display())
}

#[tokio::test(flavor = "multi_thread")]
async fn unchanged_collection_is_answered_with_304s_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite(&dir);
    unchanged_pages_cost_304s(Db::Sqlite(&url), "validated", false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn staging_run_carries_unchanged_pages_over_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite(&dir);
    unchanged_pages_cost_304s(Db::Sqlite(&url), "validated", true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn conditional_false_sends_no_validators_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite(&dir);
    switch_off_sends_no_validators(Db::Sqlite(&url), "plain").await;
    assert_eq!(Db::Sqlite(&url).validators("plain").await, (0, 0));
}

fn pg_url() -> Option<String> {
    let Ok(pg) = std::env::var("PIPELINE_TEST_PG_URL") else {
        assert_ne!(
            std::env::var("PIPELINE_TEST_PG_REQUIRED").as_deref(),
            Ok("1"),
            "PIPELINE_TEST_PG_REQUIRED=1 but PIPELINE_TEST_PG_URL is not set"
        );
        eprintln!("skipped: PIPELINE_TEST_PG_URL is not set");
        return None;
    };
    Some(pg)
}

fn tag() -> String {
    format!("{}_{}", std::process::id(), fastrand::u32(..))
}

#[cfg_attr(no_pg_tests, ignore = "needs PostgreSQL: set PIPELINE_TEST_PG_URL")]
#[tokio::test(flavor = "multi_thread")]
async fn unchanged_collection_is_answered_with_304s_on_postgres() {
    let Some(pg) = pg_url() else { return };
    let tag = tag();
    unchanged_pages_cost_304s(Db::Postgres(&pg), &format!("cond_live_{tag}"), false).await;
    unchanged_pages_cost_304s(Db::Postgres(&pg), &format!("cond_staged_{tag}"), true).await;
    let plain = format!("cond_plain_{tag}");
    switch_off_sends_no_validators(Db::Postgres(&pg), &plain).await;
    assert_eq!(Db::Postgres(&pg).validators(&plain).await, (0, 0));
}
