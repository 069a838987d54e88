//! Date windows and incremental values through the `crawl` binary: a
//! windowed crawl killed mid-way resumes exactly; windows feed incremental
//! refresh (the next run starts where the last window ended, minus the
//! lookback); `since` sent as epoch seconds with a lookback, an end bound
//! and `${VAR}` in `initial`.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crawlpipe_sinks::sqlx::{self, AssertSqlSafe, Row};
use crawlpipe_sources::mock::{MockConfig, MockServer, event_time};
use support::{crawl, sqlite_keys, wait_bounded, wait_for_rows, write};

fn keys(range: std::ops::Range<usize>) -> std::collections::BTreeSet<String> {
    range.map(|i| i.to_string()).collect()
}

fn windows_config(
    dir: &Path,
    server: &MockServer,
    end: &str,
    incremental: &str,
) -> (String, std::path::PathBuf) {
    let db = dir.join("crawl.db");
    let text = format!(
        r#"[runtime]
database = "sqlite://{db}"

[[collection]]
name = "events"
url = "{url}"
items = "/events"
pagination = {{ style = "page", has_more = "/has_more" }}
windows = {{ start = "2024-01-01", end = "{end}", step = "1d", start_param = "from", end_param = "to", format = "date" }}
{incremental}
"#,
        db = db.display(),
        url = server.url("/events")
    );
    (write(dir, "crawl.toml", &text), db)
}

async fn high_water(db: &Path, collection: &str) -> Option<String> {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT since FROM pipeline_high_water WHERE collection = '{collection}'"
    )))
    .fetch_optional(&pool)
    .await
    .unwrap();
    pool.close().await;
    row.and_then(|r| r.get::<Option<String>, _>(0))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_windowed_crawl_killed_mid_way_resumes_exactly() {
    // 60 one-day windows of 24 hourly events, 3 pages each: 180 requests.
    let server = MockServer::start(MockConfig::new(2_000, 10).latency(Duration::from_millis(10)))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (config, db) = windows_config(dir.path(), &server, "2024-03-01", "");
    let mut child = Command::new(env!("CARGO_BIN_EXE_crawl"))
        .args([&config, "--quiet"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rows = wait_for_rows(&db, "events", 300).await;
    assert!(rows >= 300, "the crawl made progress before the kill: {rows}");
    child.kill().unwrap(); // SIGKILL
    let _ = wait_bounded(&mut child, Duration::from_secs(10));
    let before = server.request_count();

    let out = crawl(&[&config, "--quiet"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(sqlite_keys(&db, "events").await, (1_440, keys(0..1_440)));
    let again = (server.request_count() - before) as i64;
    assert!(
        again <= 180 - rows / 8 + 3,
        "resumed, not restarted: {again} requests after {rows} rows"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn windows_feed_incremental_refresh_from_the_last_window_minus_the_lookback() {
    // Events stop at 2024-01-03.
    let server = MockServer::start(MockConfig::new(48, 10)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (config, db) = windows_config(
        dir.path(),
        &server,
        "2024-01-03",
        "incremental = { windows = true }",
    );
    let out = crawl(&[&config, "--quiet"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(sqlite_keys(&db, "events").await, (48, keys(0..48)));
    assert_eq!(
        high_water(&db, "events").await.as_deref(),
        Some("2024-01-03T00:00:00Z")
    );

    // The next run starts where the last window ended: nothing to fetch.
    let before = server.request_count();
    let out = crawl(&[&config, "--quiet"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(server.request_count(), before);

    // With a lookback of a day, the last day again, and the mark stays.
    let (config, _) = windows_config(
        dir.path(),
        &server,
        "2024-01-03",
        "incremental = { windows = true, lookback = \"1d\" }",
    );
    let out = crawl(&[&config, "--quiet"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let requests = server.requests()[before as usize..].to_vec();
    assert_eq!(
        requests,
        (1..=3)
            .map(|p| format!("/events?from=2024-01-02&to=2024-01-03&page={p}"))
            .collect::<Vec<_>>()
    );
    assert_eq!(sqlite_keys(&db, "events").await, (48, keys(0..48)));
    assert_eq!(
        high_water(&db, "events").await.as_deref(),
        Some("2024-01-03T00:00:00Z")
    );

    // Windows without events still move the mark to their end.
    let (config, _) = windows_config(
        dir.path(),
        &server,
        "2024-01-05",
        "incremental = { windows = true }",
    );
    let before = server.request_count() as usize;
    let out = crawl(&[&config, "--quiet"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        server.requests()[before..],
        [
            "/events?from=2024-01-03&to=2024-01-04&page=1",
            "/events?from=2024-01-04&to=2024-01-05&page=1"
        ]
    );
    assert_eq!(
        high_water(&db, "events").await.as_deref(),
        Some("2024-01-05T00:00:00Z")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn since_is_sent_as_epoch_seconds_with_a_lookback_an_end_bound_and_an_env_initial() {
    let server = MockServer::start(MockConfig::new(100, 50)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crawl.db");
    let text = format!(
        r#"[runtime]
database = "sqlite://{db}"

[[collection]]
name = "events"
url = "{url}"
items = "/events"
pagination = {{ style = "page", has_more = "/has_more" }}
incremental = {{ param = "from", field = "/at", initial = "${{EVENTS_START}}", format = "epoch", lookback = "2h", end_param = "to" }}
"#,
        db = db.display(),
        url = server.url("/events?kind=(all)")
    );
    let config = write(dir.path(), "crawl.toml", &text);
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_crawl"))
            .args([&config, "--quiet"])
            .current_dir(dir.path())
            .env("EVENTS_START", "2024-01-02")
            .output()
            .unwrap()
    };
    let out = run();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // From 2024-01-02 minus the lookback (22:00 the day before): events 22..100.
    assert_eq!(sqlite_keys(&db, "events").await, (78, keys(22..100)));
    let out = run();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let requests = server.requests();
    let from = |i: usize| event_time(i).as_second();
    for (request, first) in requests.iter().zip([from(22), from(22), from(97)]) {
        let prefix = format!("/events?kind=(all)&from={first}&to=");
        assert!(request.starts_with(&prefix), "{request} starts with {prefix}");
        let to: i64 = request[prefix.len()..]
            .split('&')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(to > from(99), "the end bound is now: {request}");
    }
    assert_eq!(requests.len(), 3, "{requests:?}");
    assert_eq!(high_water(&db, "events").await, Some(event_time(99).to_string()));
}

#[test]
fn bad_window_and_incremental_values_exit_2_naming_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    for (line, key) in [
        (
            "windows = { start = \"2024-01-01\", step = \"a day\", start_param = \"from\" }",
            "windows",
        ),
        (
            "incremental = { param = \"since\", field = \"/at\", lookback = \"soon\" }",
            "incremental",
        ),
        ("incremental = { windows = true }", "incremental"),
    ] {
        let text =
            format!("[[collection]]\nname = \"events\"\nurl = \"http://127.0.0.1:9/events\"\n{line}\n");
        let config = write(dir.path(), "crawl.toml", &text);
        let out = crawl(&[&config], dir.path());
        assert_eq!(out.status.code(), Some(2), "{line}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key) && err.contains("line 4"), "{line}: {err}");
    }
}

#[cfg_attr(no_pg_tests, ignore = "needs PostgreSQL: set PIPELINE_TEST_PG_URL")]
#[tokio::test(flavor = "multi_thread")]
async fn windows_feed_incremental_refresh_on_postgres() {
    let Ok(pg) = std::env::var("PIPELINE_TEST_PG_URL") else {
        assert_ne!(
            std::env::var("PIPELINE_TEST_PG_REQUIRED").as_deref(),
            Ok("1"),
            "PIPELINE_TEST_PG_REQUIRED=1 but PIPELINE_TEST_PG_URL is not set"
        );
        eprintln!("skipped: PIPELINE_TEST_PG_URL is not set");
        return;
    };
    let server = MockServer::start(MockConfig::new(48, 10)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let name = format!("win_{}_{}", std::process::id(), fastrand::u32(..));
    let config = |end: &str| {
        let text = format!(
            r#"[runtime]
database = "{pg}"

[[collection]]
name = "{name}"
url = "{url}"
items = "/events"
pagination = {{ style = "page", has_more = "/has_more" }}
windows = {{ start = "2024-01-01", end = "{end}", step = "1d", start_param = "from", end_param = "to", format = "date" }}
incremental = {{ windows = true }}
"#,
            url = server.url("/events")
        );
        write(dir.path(), "crawl.toml", &text)
    };
    let pool = sqlx::PgPool::connect(&pg).await.unwrap();
    let state = || async {
        let keys: std::collections::BTreeSet<String> =
            sqlx::query(AssertSqlSafe(format!("SELECT key FROM \"{name}\"")))
                .fetch_all(&pool)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
        let mark: Option<String> = sqlx::query(AssertSqlSafe(format!(
            "SELECT since FROM pipeline_high_water WHERE collection = '{name}'"
        )))
        .fetch_one(&pool)
        .await
        .unwrap()
        .get(0);
        (keys, mark)
    };
    let out = crawl(&[&config("2024-01-03"), "--quiet"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        state().await,
        (keys(0..48), Some("2024-01-03T00:00:00Z".to_owned()))
    );
    let before = server.request_count() as usize;
    let out = crawl(&[&config("2024-01-05"), "--quiet"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        server.requests()[before..],
        [
            "/events?from=2024-01-03&to=2024-01-04&page=1",
            "/events?from=2024-01-04&to=2024-01-05&page=1"
        ]
    );
    assert_eq!(
        state().await,
        (keys(0..48), Some("2024-01-05T00:00:00Z".to_owned()))
    );
    sqlx::query(AssertSqlSafe(format!("DROP TABLE \"{name}\"")))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn calendar_month_windows_end_their_full_steps_early_by_end_minus() {
    // Hourly events from 2024-01-01 to 2024-04-10 (2,400), a page holds them all.
    let server = MockServer::start(MockConfig::new(2_400, 1_000)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crawl.db");
    let text = format!(
        r#"[runtime]
database = "sqlite://{db}"

[[collection]]
name = "events"
url = "{url}"
items = "/events"
pagination = {{ style = "page", has_more = "/has_more" }}
windows = {{ start = "2024-01-31", end = "2024-04-15", step = "1M", end_minus = "1h", start_param = "from", end_param = "to", format = "%Y-%m-%dT%H:%M:%SZ" }}
"#,
        db = db.display(),
        url = server.url("/events")
    );
    let config = write(dir.path(), "crawl.toml", &text);
    let out = crawl(&[&config, "--quiet"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Calendar months from January 31 (the day clamped to February's end,
    // then kept), each sent an hour before its step's end; the last, cut
    // short by `end`, is sent as `end`.
    let requests: Vec<String> = server.requests().iter().map(|r| r.replace("%3A", ":")).collect();
    assert_eq!(
        requests,
        [
            "/events?from=2024-01-31T00:00:00Z&to=2024-02-28T23:00:00Z&page=1",
            "/events?from=2024-02-29T00:00:00Z&to=2024-03-28T23:00:00Z&page=1",
            "/events?from=2024-03-29T00:00:00Z&to=2024-04-15T00:00:00Z&page=1",
        ]
    );
    // The events of each full step's last hour are outside its window.
    let (n, stored) = sqlite_keys(&db, "events").await;
    let expected: std::collections::BTreeSet<String> = keys(720..2_400)
        .into_iter()
        .filter(|k| k != "1415" && k != "2111")
        .collect();
    assert_eq!((n, stored), (1_678, expected));
}
