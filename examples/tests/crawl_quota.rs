//! Request budgets the server announces (`X-RateLimit-*`, the IETF
//! `RateLimit` fields), through the `crawl` binary: a crawl of several
//! times the budget meets no 429 and takes about what the budget allows;
//! collections sending one token share a budget, two tokens have two,
//! three cluster processes share one; `rate_limit_headers = false` turns
//! it off.

mod support;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crawlpipe_sinks::sqlx::{self, PgPool};
use crawlpipe_sources::mock::{MockConfig, MockServer};
use support::{crawl, sqlite_keys, wait_bounded, write};

/// The mock's budget: `LIMIT` requests per `WINDOW` seconds per token.
const LIMIT: u64 = 20;
const WINDOW: u64 = 2;
const PER_PAGE: usize = 5;

/// How long `pages` requests take at the rate the budget allows, the
/// first starting at `first` (wall clock): the first window's budget in
/// what is left of it, then `LIMIT` a window.
fn allowed(pages: usize, first: SystemTime) -> Duration {
    let window = Duration::from_secs(WINDOW);
    let into = first.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() % u128::from(WINDOW * 1000);
    let first_window = window - Duration::from_millis(into as u64);
    let later = (pages as u64).saturating_sub(LIMIT);
    first_window + Duration::from_secs_f64(later as f64 * WINDOW as f64 / LIMIT as f64)
}

/// The least time `pages` requests can take without a 429: all but the
/// budget of the first (partial) window wait for later windows.
fn fastest_possible(pages: usize) -> Duration {
    let later_windows = (pages as u64).div_ceil(LIMIT).saturating_sub(1);
    Duration::from_secs(later_windows.saturating_sub(1) * WINDOW)
}

/// A collection crawling `/quota` with `token` (none: no `auth`).
fn collection(server: &MockServer, name: &str, token: Option<&str>, style: &str, extra: &str) -> String {
    let auth = token
        .map(|t| format!("auth = {{ type = \"bearer\", token = \"{t}\" }}\n"))
        .unwrap_or_default();
    format!(
        "[[collection]]\nname = \"{name}\"\nurl = \"{}/quota?limit={LIMIT}&window={WINDOW}&style={style}\"\n\
         items = \"/items\"\npagination = {{ style = \"page\", param = \"page\", start = 1, has_more = \"/has_more\" }}\n\
         {auth}{extra}\n",
        server.base_url()
    )
}

fn sqlite_config(dir: &Path, runtime: &str, collections: &[String]) -> (String, std::path::PathBuf) {
    let db = dir.join("crawl.db");
    let text = format!(
        "[runtime]\ndatabase = \"sqlite://{}\"\n{runtime}\n\n{}",
        db.display(),
        collections.concat()
    );
    (write(dir, "crawl.toml", &text), db)
}

/// When the server saw the first `/quota` request (wall clock), and how
/// long from it to the last.
fn span(server: &MockServer) -> (SystemTime, Duration) {
    let times: Vec<Duration> = server
        .request_times()
        .into_iter()
        .filter(|(_, path)| path.starts_with("/quota"))
        .map(|(t, _)| t)
        .collect();
    let (first, last) = (
        times.first().copied().unwrap_or_default(),
        times.last().copied().unwrap_or_default(),
    );
    (server.started_at() + first, last - first)
}

/// `pages` requests spaced by the budget: none refused, no faster than the
/// budget lets anyone go, and within `tolerance` (a fraction: 0.10 is 10%)
/// of the time it allows (plus a millisecond or two a page for a loaded
/// machine).
fn assert_paced(server: &MockServer, pages: usize, what: &str, tolerance: f64) {
    assert_eq!(server.quota_refusals(), 0, "{what}: the server refused requests");
    let (first, took) = span(server);
    let allowed = allowed(pages, first);
    let slack = Duration::from_millis(2 * pages as u64);
    assert!(
        took <= allowed.mul_f64(1.0 + tolerance) + slack && took >= allowed.mul_f64(1.0 - tolerance),
        "{what}: {pages} pages took {took:?}, the budget allows {allowed:?}"
    );
    assert!(
        took >= fastest_possible(pages),
        "{what}: {pages} pages took only {took:?}"
    );
    eprintln!("{what}: {pages} pages in {took:?}; the budget allows {allowed:?}");
}

/// Waits (bounded) for a running crawl to end successfully.
fn finish(mut child: Child, limit: Duration) {
    let status = wait_bounded(&mut child, limit).expect("the crawl ended in time");
    assert!(status.success(), "the crawl failed: {status:?}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

#[tokio::test(flavor = "multi_thread")]
async fn five_budgets_of_pages_meet_no_429_and_take_what_the_budget_allows() {
    let pages = 100;
    let server = MockServer::start(MockConfig::new(pages * PER_PAGE, PER_PAGE))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let runtime = format!("metrics_addr = \"127.0.0.1:{port}\"");
    let (config, db) = sqlite_config(
        dir.path(),
        &runtime,
        &[collection(&server, "paced", Some("token-a"), "github", "")],
    );
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_crawl"))
        .args([&config, "--quiet"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the crawl binary starts");

    // While it crawls, /status and /metrics show the budget: its key is a
    // digest, never the token.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (quota, metrics) = loop {
        let status: Vec<serde_json::Value> =
            match reqwest::get(format!("http://127.0.0.1:{port}/status")).await {
                Ok(r) => r.json().await.unwrap_or_default(),
                Err(_) => Vec::new(),
            };
        let quota = status.first().map(|s| s["quota"].clone()).unwrap_or_default();
        if quota.is_object() {
            let metrics = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            break (quota, metrics);
        }
        assert!(Instant::now() < deadline, "no quota in /status: {status:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let host = server.base_url().trim_start_matches("http://").to_owned();
    assert_eq!(quota["host"], host.as_str());
    assert_eq!(quota["limit"], LIMIT);
    assert!(quota["remaining"].as_u64().unwrap() < LIMIT);
    assert!(quota["reset_at"].as_u64().unwrap() > 1_700_000_000_000);
    let budget = quota["budget"].as_str().unwrap().to_owned();
    assert_eq!(budget.len(), 12);
    assert!(!budget.contains("token"));
    let series = format!("pipeline_quota_remaining{{host=\"{host}\",budget=\"{budget}\"}}");
    assert!(metrics.contains(&series), "{series} missing from:\n{metrics}");
    assert!(
        metrics.contains("pipeline_quota_reset_timestamp_seconds{"),
        "{metrics}"
    );

    finish(child, Duration::from_secs(60));
    assert_eq!(sqlite_keys(&db, "paced").await.0, (pages * PER_PAGE) as i64);
    assert_paced(&server, pages, "X-RateLimit headers", 0.10);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ietf_fields_pace_alike() {
    let pages = 60;
    let server = MockServer::start(MockConfig::new(pages * PER_PAGE, PER_PAGE))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (config, db) = sqlite_config(
        dir.path(),
        "",
        &[collection(&server, "ietf", Some("token-i"), "ietf", "")],
    );
    let out = crawl(&[&config, "--quiet"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(sqlite_keys(&db, "ietf").await.0, (pages * PER_PAGE) as i64);
    assert_paced(&server, pages, "IETF RateLimit fields", 0.10);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_token_is_one_budget_and_two_tokens_are_two() {
    let pages = 40;
    let dir = tempfile::tempdir().unwrap();

    // Two collections, one token: their 80 requests share the budget.
    let server = MockServer::start(MockConfig::new(pages * PER_PAGE, PER_PAGE))
        .await
        .unwrap();
    let both = [
        collection(&server, "shared_a", Some("token-s"), "github", ""),
        collection(&server, "shared_b", Some("token-s"), "github", ""),
    ];
    let (config, _) = sqlite_config(dir.path(), "concurrency = 2", &both);
    let out = crawl(&[&config, "--quiet"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_paced(&server, 2 * pages, "two collections, one token", 0.10);

    // Two tokens: each collection spends its own budget, at once.
    let server = MockServer::start(MockConfig::new(pages * PER_PAGE, PER_PAGE))
        .await
        .unwrap();
    let apart = [
        collection(&server, "apart_a", Some("token-x"), "github", ""),
        collection(&server, "apart_b", Some("token-y"), "github", ""),
    ];
    let (config, db) = sqlite_config(dir.path(), "concurrency = 2", &apart);
    let out = crawl(&[&config, "--quiet"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_paced(&server, pages, "two tokens", 0.10);
    assert_eq!(sqlite_keys(&db, "apart_b").await.0, (pages * PER_PAGE) as i64);
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limit_headers_false_ignores_the_budget() {
    let pages = 30;
    let server = MockServer::start(MockConfig::new(pages * PER_PAGE, PER_PAGE))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let runtime = "[defaults]\nrate_limit_headers = false";
    let (config, db) = sqlite_config(
        dir.path(),
        runtime,
        &[collection(&server, "unpaced", None, "github", "")],
    );
    let out = crawl(&[&config, "--quiet"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Without pacing the first window's budget runs out: 429s, Retry-After, done.
    assert!(
        server.quota_refusals() > 0,
        "the budget was paced though switched off"
    );
    assert_eq!(sqlite_keys(&db, "unpaced").await.0, (pages * PER_PAGE) as i64);
}

/// The test database, or `None` (skipped) when it is not configured.
fn pg_url() -> Option<String> {
    match std::env::var("PIPELINE_TEST_PG_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var("PIPELINE_TEST_PG_REQUIRED").is_ok_and(|v| v == "1") => {
            panic!("PIPELINE_TEST_PG_REQUIRED=1 but PIPELINE_TEST_PG_URL is not set")
        }
        Err(_) => {
            eprintln!("skipped: PIPELINE_TEST_PG_URL is not set");
            None
        }
    }
}

#[cfg_attr(no_pg_tests, ignore = "needs PostgreSQL: set PIPELINE_TEST_PG_URL")]
#[tokio::test(flavor = "multi_thread")]
async fn three_cluster_processes_share_one_budget() {
    let Some(pg) = pg_url() else { return };
    let pool = PgPool::connect(&pg).await.unwrap();
    let pages = 20;
    // Answers take a while and each process has one in flight, so a
    // process's view of the budget is always a few requests old: only the
    // shared count keeps the three from overspending it together.
    let config = MockConfig::new(pages * PER_PAGE, PER_PAGE).latency(Duration::from_millis(60));
    let server = MockServer::start(config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let names: Vec<String> = (0..3)
        .map(|i| format!("quota_{}_{nanos}_{i}", std::process::id()))
        .collect();
    // Each process crawls one collection at a time: the three collections
    // go to three processes.
    let mut text = format!(
        "[runtime]\ndatabase = \"{pg}\"\ncluster = true\nconcurrency = 1\n\n[defaults]\nmax_in_flight_per_host = 3\n\n"
    );
    for name in &names {
        text.push_str(&collection(&server, name, Some("token-cluster"), "github", ""));
    }
    let config = write(dir.path(), "crawl.toml", &text);
    let children: Vec<Child> = (0..3)
        .map(|_| {
            std::process::Command::new(env!("CARGO_BIN_EXE_crawl"))
                .args([&config, "--quiet"])
                .current_dir(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("the crawl binary starts")
        })
        .collect();
    for child in children {
        finish(child, Duration::from_secs(60));
    }
    for name in &names {
        let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM \"{name}\"")))
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(rows, (pages * PER_PAGE) as i64, "{name}");
    }
    // Each window's first request (one process's probe) is answered after
    // the mock's latency, and the other processes ask the table again
    // every 50 ms meanwhile: a few tenths of a second over the run.
    assert_paced(&server, 3 * pages, "three processes, one token", 0.25);
    // The budget the processes shared is one row, keyed by a digest.
    let host = server.base_url().trim_start_matches("http://").to_owned();
    let budgets: Vec<(String, i64)> =
        sqlx::query_as("SELECT \"budget\", \"limit\" FROM pipeline_quotas WHERE \"host\" = $1")
            .bind(&host)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(budgets.len(), 1, "{budgets:?}");
    assert_eq!(budgets[0].1, LIMIT as i64);
    assert!(!budgets[0].0.contains("token"));
    for name in &names {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE IF EXISTS \"{name}\"")))
            .execute(&pool)
            .await;
        for table in ["pipeline_checkpoints", "pipeline_leases"] {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE collection = $1"
            )))
            .bind(name)
            .execute(&pool)
            .await;
        }
    }
    let _ = sqlx::query("DELETE FROM pipeline_quotas WHERE \"host\" = $1")
        .bind(&host)
        .execute(&pool)
        .await;
}
