//! Output and signals never block the crawl: the real `crawl` binary with a
//! closed or full stderr, with logs captured, and interrupted twice while
//! the database is blocked by another connection.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use crawlpipe_sinks::sqlx::{self, AssertSqlSafe, Connection, Row};
use crawlpipe_sources::mock::{MockConfig, MockServer};
use support::{
    crawl, mock_keys, page_config, rerun_resumes_and_completes, signal, spawn_crawl, sqlite_keys,
    wait_bounded, wait_for_rows,
};

/// Generous: the crawls below take about a second when nothing blocks.
const NO_HANG: Duration = Duration::from_secs(20);

/// Starts `crawl CONFIG` (not quiet, debug logs: plenty of stderr lines)
/// with the given stdout and stderr.
fn spawn_verbose(config: &str, dir: &std::path::Path, stdout: Stdio, stderr: Stdio) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_crawl"))
        .arg(config)
        .current_dir(dir)
        .env("RUST_LOG", "debug")
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .expect("the crawl binary starts")
}

#[tokio::test(flavor = "multi_thread")]
async fn stderr_closed_after_three_lines_does_not_stall_the_crawl() {
    let server = MockServer::start(MockConfig::new(2_000, 20).latency(Duration::from_millis(2)))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (config, db) = page_config(dir.path(), &server, "items", "");
    // `crawl … 2>&1 | head -3`: stdout and stderr share a pipe whose reader
    // goes away after three lines.
    let (reader, writer) = std::io::pipe().unwrap();
    let mut child = spawn_verbose(
        &config,
        dir.path(),
        writer.try_clone().unwrap().into(),
        writer.into(),
    );
    let (read_tx, read_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let lines = BufReader::new(reader).lines().take(3).count();
        let _ = read_tx.send(lines);
        // The reader is dropped here: every later write gets EPIPE.
    });
    let lines = read_rx.recv_timeout(NO_HANG);
    let status = wait_bounded(&mut child, NO_HANG).expect("crawl ended although its stderr was closed");
    assert_eq!(lines, Ok(3), "three lines were read before closing");
    assert!(status.success(), "{status:?}");
    let (rows, keys) = sqlite_keys(&db, "items").await;
    assert_eq!((rows, keys), (2_000, mock_keys(2_000)));
}

#[tokio::test(flavor = "multi_thread")]
async fn stderr_on_dev_full_does_not_stall_the_crawl() {
    let server = MockServer::start(MockConfig::new(2_000, 20)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (config, db) = page_config(dir.path(), &server, "items", "");
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let mut child = spawn_verbose(&config, dir.path(), Stdio::null(), full.into());
    let status = wait_bounded(&mut child, NO_HANG).expect("crawl ended although stderr was full");
    assert!(status.success(), "{status:?}");
    let (rows, keys) = sqlite_keys(&db, "items").await;
    assert_eq!((rows, keys), (2_000, mock_keys(2_000)));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_ends_a_crawl_whose_stdout_and_stderr_nobody_reads() {
    let server = MockServer::start(MockConfig::new(3_000, 50).latency(Duration::from_millis(25)))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (config, db) = page_config(dir.path(), &server, "items", "");
    // A pipe kept open but never read: it fills up and writes would block.
    let (reader, writer) = std::io::pipe().unwrap();
    let mut child = spawn_verbose(
        &config,
        dir.path(),
        writer.try_clone().unwrap().into(),
        writer.into(),
    );
    assert!(wait_for_rows(&db, "items", 100).await >= 100, "the crawl went on");
    signal(&child, "TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    signal(&child, "TERM");
    let status = wait_bounded(&mut child, NO_HANG).expect("crawl ended on SIGTERM");
    drop(reader);
    assert_eq!(status.code(), Some(130), "{status:?}");
    rerun_resumes_and_completes(&config, dir.path(), &db, &server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_have_no_colour_when_stderr_is_not_a_terminal() {
    let server = MockServer::start(MockConfig::new(100, 50)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = page_config(dir.path(), &server, "items", "");
    // Not quiet: on a non-terminal stderr the runner's events are logged.
    let out = crawl(&[&config], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("collection completed"), "logs were written: {err}");
    assert!(!out.stderr.contains(&0x1b), "no ANSI escape in: {err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn second_signal_exits_130_while_sqlite_is_locked() {
    let server = MockServer::start(MockConfig::new(3_000, 50).latency(Duration::from_millis(25)))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (config, db) = page_config(dir.path(), &server, "items", "");
    let mut child = spawn_crawl(&config, dir.path(), Stdio::null);
    assert!(wait_for_rows(&db, "items", 100).await >= 100, "the crawl went on");
    // Another connection holds the write lock: every write of the crawl waits.
    let url = format!("sqlite://{}", db.display());
    let mut lock = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(AssertSqlSafe("BEGIN IMMEDIATE"))
        .execute(&mut lock)
        .await
        .unwrap();
    signal(&child, "INT");
    tokio::time::sleep(Duration::from_millis(300)).await;
    signal(&child, "INT");
    let status = wait_bounded(&mut child, NO_HANG);
    sqlx::raw_sql(AssertSqlSafe("ROLLBACK"))
        .execute(&mut lock)
        .await
        .unwrap();
    lock.close().await.unwrap();
    let status = status.expect("the second signal ended the crawl although the database was locked");
    assert_eq!(status.code(), Some(130), "{status:?}");
    rerun_resumes_and_completes(&config, dir.path(), &db, &server).await;
}

#[cfg_attr(no_pg_tests, ignore = "needs PostgreSQL: set PIPELINE_TEST_PG_URL")]
#[tokio::test(flavor = "multi_thread")]
async fn second_signal_exits_130_while_postgres_is_locked() {
    let Ok(pg) = std::env::var("PIPELINE_TEST_PG_URL") else {
        eprintln!("skipped: PIPELINE_TEST_PG_URL is not set");
        return;
    };
    let server = MockServer::start(MockConfig::new(3_000, 50).latency(Duration::from_millis(25)))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let table = format!("locked_{}", std::process::id());
    let config = format!(
        "[runtime]\ndatabase = \"{pg}\"\n\n[[collection]]\nname = \"{table}\"\nurl = \"{}/page\"\nitems = \"/items\"\npagination = {{ style = \"page\" }}\n",
        server.base_url()
    );
    let config = support::write(dir.path(), "crawl.toml", &config);
    let mut child = Command::new(env!("CARGO_BIN_EXE_crawl"))
        .args([&config, "--quiet", "--fresh"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pool = sqlx::PgPool::connect(&pg).await.expect("PostgreSQL reachable");
    let mut rows = 0i64;
    for _ in 0..2_000 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let count = AssertSqlSafe(format!("SELECT count(*) FROM \"{table}\""));
        rows = match sqlx::query(count).fetch_one(&pool).await {
            Ok(r) => r.get(0),
            Err(_) => 0,
        };
        if rows >= 100 {
            break;
        }
    }
    assert!(rows >= 100, "the crawl went on: {rows} rows");
    // Hold the table: the crawl's next insert waits for the lock indefinitely.
    let mut lock = pool.begin().await.unwrap();
    sqlx::query(AssertSqlSafe(format!(
        "LOCK TABLE \"{table}\" IN ACCESS EXCLUSIVE MODE"
    )))
    .execute(&mut *lock)
    .await
    .unwrap();
    signal(&child, "INT");
    tokio::time::sleep(Duration::from_millis(300)).await;
    signal(&child, "INT");
    let status = wait_bounded(&mut child, NO_HANG);
    lock.rollback().await.unwrap();
    let _ = sqlx::query(AssertSqlSafe(format!("DROP TABLE IF EXISTS \"{table}\"")))
        .execute(&pool)
        .await;
    let status = status.expect("the second signal ended the crawl although the table was locked");
    assert_eq!(status.code(), Some(130), "{status:?}");
}
