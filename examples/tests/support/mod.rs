//! Shared helpers of the `crawl` binary tests: running it, writing configs,
//! reading what it stored.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crawlpipe_sinks::sqlx::{self, AssertSqlSafe, Row};
use crawlpipe_sources::mock::MockServer;

pub mod tables;

/// Runs `crawl ARGS` in `dir` to its end, capturing stdout and stderr.
pub fn crawl(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crawl"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .output()
        .expect("the crawl binary runs")
}

/// Runs `crawl ARGS` in `dir`, which must exit with `code`; returns what it
/// printed, stdout then stderr.
pub fn crawl_exits(args: &[&str], dir: &Path, code: i32) -> String {
    let out = crawl(args, dir);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(code), "crawl {args:?}: {all}");
    all
}

/// Writes a file into `dir`; returns its path.
pub fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("config written");
    path.to_string_lossy().into_owned()
}

/// The row count and the set of keys of a SQLite table.
pub async fn sqlite_keys(db: &Path, table: &str) -> (i64, BTreeSet<String>) {
    let url = format!("sqlite://{}", db.display());
    let pool = sqlx::SqlitePool::connect(&url).await.expect("database opens");
    let rows = sqlx::query(AssertSqlSafe(format!("SELECT key FROM \"{table}\"")))
        .fetch_all(&pool)
        .await
        .expect("table exists");
    let keys: BTreeSet<String> = rows.iter().map(|r| r.get::<String, _>(0)).collect();
    pool.close().await;
    (rows.len() as i64, keys)
}

/// A config crawling the mock server's page-style route into `crawl.db`
/// (collection `name`); returns the config path and the database path.
pub fn page_config(
    dir: &Path,
    server: &MockServer,
    name: &str,
    runtime_extra: &str,
) -> (String, std::path::PathBuf) {
    let db = dir.join("crawl.db");
    let config = format!(
        "[runtime]\ndatabase = \"sqlite://{}\"\n{runtime_extra}\n[[collection]]\nname = \"{name}\"\nurl = \"{}/page\"\nitems = \"/items\"\npagination = {{ style = \"page\" }}\n",
        db.display(),
        server.base_url()
    );
    (write(dir, "crawl.toml", &config), db)
}

/// Starts `crawl CONFIG --quiet` in the background.
pub fn spawn_crawl(config: &str, dir: &Path, output: fn() -> Stdio) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_crawl"))
        .args([config, "--quiet"])
        .current_dir(dir)
        .stdout(output())
        .stderr(output())
        .spawn()
        .expect("the crawl binary starts")
}

/// Runs the interrupted page-style crawl of 3,000 items (60 pages) again: it
/// must complete with every item exactly once, resuming rather than refetching all.
pub async fn rerun_resumes_and_completes(config: &str, dir: &Path, db: &Path, server: &MockServer) {
    let first_run = server.request_count();
    let out = crawl(&[config, "--quiet"], dir);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (rows, keys) = sqlite_keys(db, "items").await;
    assert_eq!(rows, 3_000, "no duplicates");
    assert_eq!(keys, mock_keys(3_000), "no loss");
    let second_run = server.request_count() - first_run;
    assert!(second_run < 61, "the second run resumed: {second_run} requests");
}

/// The keys of the mock server's first `n` items.
pub fn mock_keys(n: usize) -> BTreeSet<String> {
    (0..n)
        .map(|i| crawlpipe_sources::mock::item(i)["id"].to_string())
        .collect()
}

/// Waits up to `limit` for `child` to exit; on timeout sends SIGKILL (the
/// test started it) and returns `None`, so no test can hang on a stuck child.
pub fn wait_bounded(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// Sends `signal` (`INT`, `TERM`) to a child the test started.
pub fn signal(child: &Child, signal: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "kill -{signal} {}", child.id());
}

/// Waits up to 20 s until the SQLite table holds at least `n` rows.
pub async fn wait_for_rows(db: &Path, table: &str, n: i64) -> i64 {
    let url = format!("sqlite://{}", db.display());
    let mut rows = 0;
    for _ in 0..2_000 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        if let Ok(pool) = sqlx::SqlitePool::connect(&url).await {
            rows = sqlx::query(AssertSqlSafe(format!("SELECT count(*) FROM \"{table}\"")))
                .fetch_one(&pool)
                .await
                .map(|r| r.get::<i64, _>(0))
                .unwrap_or(0);
            pool.close().await;
            if rows >= n {
                break;
            }
        }
    }
    rows
}
