//! End-to-end: the real `crawl` binary, on config files, against the mock
//! server, into real SQLite files and (when configured) PostgreSQL.

mod support;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use crawlpipe_sinks::sqlx::{self, AssertSqlSafe, Row};
use crawlpipe_sources::mock::{MockConfig, MockServer};
use support::{crawl, mock_keys, page_config, rerun_resumes_and_completes, spawn_crawl, sqlite_keys, write};

fn every_style(base: &str, db: &str) -> String {
    format!(
        r#"[runtime]
concurrency = 3
database = "{db}"

[defaults]
retry = {{ max_attempts = 3, initial_backoff_ms = 10, max_backoff_ms = 100 }}

[[collection]]
name = "by_link"
url = "{base}/link?page=1"
pagination = {{ style = "link_header" }}

[[collection]]
name = "by_next_url"
url = "{base}/next_url?page=1"
items = "/value"
pagination = {{ style = "next_url", next = "/@odata.nextLink" }}

[[collection]]
name = "by_cursor"
url = "{base}/cursor"
items = "/items"
pagination = {{ style = "cursor", param = "cursor", next = "/response_metadata/next_cursor" }}

[[collection]]
name = "by_offset"
url = "{base}/offset"
items = "/results"
pagination = {{ style = "offset", limit = 50, total = "/total" }}

[[collection]]
name = "by_page"
url = "{base}/page"
items = "/items"
pagination = {{ style = "page", param = "page", start = 1 }}

[[collection]]
name = "site"
url = "{base}/html?page=1"
key = "anchor"
scrape = {{ item = "section", next = "link[rel=next] @href", fields = {{ title = "h2", anchor = "@id" }} }}
"#
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn crawls_every_style_into_sqlite_exactly_once() {
    let server = MockServer::start(MockConfig::new(437, 40).html(6, 7, 0))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crawl.db");
    let config = write(
        dir.path(),
        "crawl.toml",
        &every_style(server.base_url(), &format!("sqlite://{}", db.display())),
    );
    let out = crawl(&[&config, "--quiet"], dir.path());
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains("collection") && summary.contains("completed"),
        "{summary}"
    );

    for table in ["by_link", "by_next_url", "by_cursor", "by_offset", "by_page"] {
        let (rows, keys) = sqlite_keys(&db, table).await;
        assert_eq!(rows, 437, "{table}: no duplicates");
        assert_eq!(keys, mock_keys(437), "{table}: exactly the served items");
    }
    let (rows, keys) = sqlite_keys(&db, "site").await;
    assert_eq!(rows, 42);
    assert_eq!(keys, (0..42).map(|i| format!("item-{i}")).collect());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_collection_exits_1_and_the_others_complete() {
    let server = MockServer::start(MockConfig::new(120, 30)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crawl.db");
    let config = format!(
        r#"[runtime]
database = "sqlite://{db}"
max_resumes = 1

[[collection]]
name = "good"
url = "{base}/link?page=1"
pagination = {{ style = "link_header" }}

[[collection]]
name = "gone"
url = "{base}/status/404"
"#,
        db = db.display(),
        base = server.base_url()
    );
    let config = write(dir.path(), "crawl.toml", &config);
    let out = crawl(&[&config, "--quiet"], dir.path());
    assert_eq!(
        out.status.code(),
        Some(1),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    let gone = summary
        .lines()
        .find(|l| l.starts_with("gone"))
        .expect("a summary line for gone");
    assert!(gone.contains("failed") && gone.contains("404"), "{gone}");
    assert_eq!(sqlite_keys(&db, "good").await.0, 120);
}

#[test]
fn bad_config_exits_2_naming_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "bad.toml",
        "[runtime]\nconcurrency = 2\n\n[[collection]]\nname = \"x\"\nurl = \"http://127.0.0.1:9/\"\npaginaton = { style = \"link_header\" }\n",
    );
    let out = crawl(&[&config], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("line 7") && err.contains("paginaton"),
        "{err}"
    );

    let config = write(
        dir.path(),
        "env.toml",
        "[[collection]]\nname = \"x\"\nurl = \"http://127.0.0.1:9/\"\nheaders = { Authorization = \"Bearer ${CRAWL_TEST_UNSET_TOKEN}\" }\n",
    );
    let out = crawl(&[&config], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CRAWL_TEST_UNSET_TOKEN"));

    let out = crawl(&["--no-such-flag"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let out = crawl(&[], dir.path());
    assert_eq!(out.status.code(), Some(2), "neither a config nor --demo");
}

#[test]
fn unknown_only_name_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "c.toml",
        "[[collection]]\nname = \"x\"\nurl = \"http://127.0.0.1:9/\"\n",
    );
    let out = crawl(&[&config, "--only", "y"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--only y"));
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_mid_crawl_resumes_without_loss_or_duplicates() {
    // 60 pages of 50 items, 25 ms per request: a full crawl takes well over a second.
    let server = MockServer::start(MockConfig::new(3_000, 50).latency(Duration::from_millis(25)))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (config, db) = page_config(dir.path(), &server, "items", "");

    let mut child = spawn_crawl(&config, dir.path(), Stdio::null);
    // Kill once some progress is committed (polling the real database file).
    let url = format!("sqlite://{}", db.display());
    let mut committed = 0i64;
    for _ in 0..400 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        if let Ok(pool) = sqlx::SqlitePool::connect(&url).await {
            committed = sqlx::query("SELECT count(*) FROM items")
                .fetch_one(&pool)
                .await
                .map(|r| r.get::<i64, _>(0))
                .unwrap_or(0);
            pool.close().await;
            if committed >= 500 {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    assert!(
        (500..3_000).contains(&committed),
        "killed mid-crawl after {committed} items"
    );
    rerun_resumes_and_completes(&config, dir.path(), &db, &server).await;
}

#[cfg_attr(no_pg_tests, ignore = "needs PostgreSQL: set PIPELINE_TEST_PG_URL")]
#[tokio::test(flavor = "multi_thread")]
async fn crawls_into_postgres() {
    let Ok(pg) = std::env::var("PIPELINE_TEST_PG_URL") else {
        eprintln!("skipped: PIPELINE_TEST_PG_URL is not set");
        return;
    };
    let server = MockServer::start(MockConfig::new(333, 25).html(3, 4, 0))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let suffix = std::process::id();
    let config = format!(
        r#"[runtime]
database = "{pg}"
mode = "staging"

[[collection]]
name = "e2e_link_{suffix}"
url = "{base}/link?page=1"
pagination = {{ style = "link_header" }}

[[collection]]
name = "e2e_site_{suffix}"
url = "{base}/html?page=1"
scrape = {{ item = "section", next = "link[rel=next] @href", fields = {{ title = "h2" }} }}
"#,
        base = server.base_url()
    );
    let config = write(dir.path(), "crawl.toml", &config);
    let out = crawl(&[&config, "--quiet"], dir.path());
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let pool = sqlx::PgPool::connect(&pg).await.expect("PostgreSQL reachable");
    let keys: BTreeSet<String> = sqlx::query(AssertSqlSafe(format!("SELECT key FROM \"e2e_link_{suffix}\"")))
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
    assert_eq!(keys, mock_keys(333));
    let (n, titled): (i64, i64) = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT count(*), count(title) FROM \"e2e_site_{suffix}\""
    )))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((n, titled), (12, 12));
    for t in ["link", "site"] {
        let _ = sqlx::query(AssertSqlSafe(format!(
            "DROP TABLE IF EXISTS \"e2e_{t}_{suffix}\""
        )))
        .execute(&pool)
        .await;
        let _ = sqlx::query(AssertSqlSafe(format!(
            "DROP TABLE IF EXISTS \"e2e_{t}_{suffix}__staging\""
        )))
        .execute(&pool)
        .await;
    }
}

#[test]
fn demo_runs_to_completion() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("demo.db").display());
    let out = crawl(&["--demo", "--database", &db], dir.path());
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    for name in [
        "users",
        "events",
        "flaky_orders",
        "rate_limited",
        "outage",
        "docs",
        "repos",
    ] {
        let line = summary
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} in {summary}"));
        assert!(line.contains("completed"), "{line}");
    }
    for group in ["issues/*", "comments/*"] {
        let line = summary
            .lines()
            .find(|l| l.starts_with(group))
            .unwrap_or_else(|| panic!("{group} in {summary}"));
        assert!(line.contains(" 0 failed"), "{line}");
    }
    let outage = summary.lines().find(|l| l.starts_with("outage")).unwrap();
    let resumes: u32 = outage.split_whitespace().nth(4).unwrap().parse().unwrap();
    assert!(
        resumes >= 1,
        "the outage collection was resumed by the runner: {outage}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("/metrics"));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_drains_exits_130_and_the_next_run_resumes() {
    let server = MockServer::start(MockConfig::new(3_000, 50).latency(Duration::from_millis(25)))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (config, db) = page_config(dir.path(), &server, "items", "");
    let child = spawn_crawl(&config, dir.path(), Stdio::piped);
    // Interrupt once the crawl is under way.
    while server.request_count() < 10 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted"));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary
            .lines()
            .any(|l| l.starts_with("items") && l.contains("cancelled")),
        "{summary}"
    );
    let (rows, _) = sqlite_keys(&db, "items").await;
    assert!(rows < 3_000, "stopped early, after {rows} items");
    rerun_resumes_and_completes(&config, dir.path(), &db, &server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_and_status_are_served_while_crawling() {
    let server = MockServer::start(MockConfig::new(2_000, 50).latency(Duration::from_millis(30)))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics_addr = format!(
        "metrics_addr = \"127.0.0.1:{port}\"
"
    );
    let (config, _) = page_config(dir.path(), &server, "watched", &metrics_addr);
    let mut child = spawn_crawl(&config, dir.path(), Stdio::null);
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut status = String::new();
    for _ in 0..500 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        if let Ok(r) = client.get(format!("{base}/status")).send().await {
            status = r.text().await.unwrap_or_default();
            if status.contains("\"crawling\"")
                && status.contains("\"items_written\":")
                && !status.contains("\"items_written\":0")
            {
                break;
            }
        }
    }
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    child.kill().unwrap();
    let _ = child.wait();
    assert!(
        status.contains("\"collection\":\"watched\"") && status.contains("\"state\":\"crawling\""),
        "{status}"
    );
    for name in [
        "# TYPE pipeline_items_total counter",
        "# TYPE pipeline_pages_total counter",
        "# TYPE pipeline_edge_items gauge",
        "# TYPE pipeline_fetch_duration_seconds histogram",
        "# TYPE pipeline_sink_batch_duration_seconds histogram",
        "# TYPE pipeline_collections gauge",
        "pipeline_collections{state=\"crawling\"} 1",
        "pipeline_items_total{collection=\"watched\",stage=\"source\"}",
    ] {
        assert!(metrics.contains(name), "{name} missing from:\n{metrics}");
    }
}
