//! Child collections and incremental refresh through the real `crawl`
//! binary, against the mock server's repos → issues → comments tree and its
//! updated-since feed: exact tables on SQLite and PostgreSQL, `kill -9` in
//! the middle of the fan-out, a parent item without the templated field,
//! and incremental runs that ask only for what changed.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use crawlpipe_sinks::sqlx::{self, AssertSqlSafe, Row};
use crawlpipe_sources::mock::{MockConfig, MockServer, feed_time, tree_issue, tree_issue_count};
use serde_json::Value;
use support::{crawl, spawn_crawl, wait_bounded, wait_for_rows, write};

/// The tree's expected (key, parent) pairs: repos, issues, comments.
type Pairs = BTreeSet<(String, String)>;

fn expected(config: &MockConfig, skip_repo: Option<usize>) -> (BTreeSet<String>, Pairs, Pairs) {
    let per = config.per_page;
    let repos = (1..=config.tree_repos).map(|r| r.to_string()).collect();
    let mut issues = Pairs::new();
    let mut comments = Pairs::new();
    for r in (1..=config.tree_repos).filter(|r| Some(*r) != skip_repo) {
        for i in 0..tree_issue_count(r, per) {
            let id = tree_issue(r, i)["id"].as_u64().unwrap() as usize;
            issues.insert((id.to_string(), r.to_string()));
            for j in 0..id % 3 {
                comments.insert(((id * 10 + j).to_string(), id.to_string()));
            }
        }
    }
    (repos, issues, comments)
}

/// Pages the tree takes: one per page of repos, of each repo's issues, and
/// one per issue for its comments (a single page, maybe empty).
fn tree_pages(config: &MockConfig, issues: &Pairs) -> usize {
    let per = config.per_page;
    let repo_pages = config.tree_repos.div_ceil(per);
    let issue_pages: usize = (1..=config.tree_repos)
        .map(|r| tree_issue_count(r, per).div_ceil(per))
        .sum();
    repo_pages + issue_pages + issues.len()
}

fn tree_toml(database: &str, base: &str, [repos, issues, comments]: [&str; 3], extra: &str) -> String {
    format!(
        r#"[runtime]
database = "{database}"
concurrency = 4
{extra}
[defaults]
max_in_flight_per_host = 8
retry = {{ max_attempts = 3, initial_backoff_ms = 10, max_backoff_ms = 50 }}

[[collection]]
name = "{repos}"
url = "{base}/tree/repos"
key = "/id"
pagination = {{ style = "link_header" }}

[[collection]]
name = "{issues}"
parent = "{repos}"
url = "{base}/tree/repos/{{/name}}/issues"
key = "/id"
pagination = {{ style = "link_header" }}

[[collection]]
name = "{comments}"
parent = "{issues}"
url = "{base}/tree/issues/{{/id}}/comments"
key = "/id"
pagination = {{ style = "link_header" }}
"#
    )
}

async fn sqlite_pairs(db: &Path, table: &str) -> Pairs {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let rows = sqlx::query(AssertSqlSafe(format!("SELECT key, parent FROM \"{table}\"")))
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

fn assert_success(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn tree_mock(repos: usize, per_page: usize) -> MockConfig {
    let mut config = MockConfig::new(10, per_page);
    config.tree_repos = repos;
    config
}

/// Crawls the tree of `server` into a new SQLite file; returns its
/// directory, the database and the config (to run it again).
fn crawl_tree_into_sqlite(server: &MockServer) -> (tempfile::TempDir, std::path::PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crawl.db");
    let toml = tree_toml(
        &format!("sqlite://{}", db.display()),
        server.base_url(),
        ["repos", "issues", "comments"],
        "",
    );
    let config = write(dir.path(), "crawl.toml", &toml);
    assert_success(&crawl(&[&config, "--quiet"], dir.path()));
    (dir, db, config)
}

#[tokio::test(flavor = "multi_thread")]
async fn fan_out_to_any_depth_is_exact_on_sqlite() {
    let server = MockServer::start(tree_mock(12, 5)).await.unwrap();
    let (dir, db, config) = crawl_tree_into_sqlite(&server);
    let (repos, issues, comments) = expected(server.config(), None);
    assert_eq!(support::sqlite_keys(&db, "repos").await.1, repos);
    assert_eq!(sqlite_pairs(&db, "issues").await, issues);
    assert_eq!(sqlite_pairs(&db, "comments").await, comments);
    assert_eq!(
        server.request_count() as usize,
        tree_pages(server.config(), &issues)
    );

    // A completed tree is refreshed as a whole by the next run: still exact.
    let before = server.request_count();
    assert_success(&crawl(&[&config, "--quiet"], dir.path()));
    assert_eq!(sqlite_pairs(&db, "comments").await, comments);
    assert_eq!(
        (server.request_count() - before) as usize,
        tree_pages(server.config(), &issues)
    );
}

/// A parent commits its rows soon after fetching them (not after a full
/// batch of 1000 items or 1 s), and its commits wake the feeder: the first
/// children are fetched while the parent still pages.
#[tokio::test(flavor = "multi_thread")]
async fn children_start_while_the_parent_still_pages() {
    // 12 pages of repos at 25 ms each: the parent pages for 300 ms or more.
    let server = MockServer::start(tree_mock(60, 5).latency(Duration::from_millis(25)))
        .await
        .unwrap();
    let (_dir, db, _config) = crawl_tree_into_sqlite(&server);
    let log = server.request_times();
    let parent_pages: Vec<_> = log
        .iter()
        .filter(|(_, p)| p.starts_with("/tree/repos") && !p.contains("/issues"))
        .collect();
    let first_child = log.iter().find(|(_, p)| p.contains("/issues")).unwrap();
    let last_parent = parent_pages.last().unwrap();
    assert_eq!(parent_pages.len(), 12);
    assert!(
        first_child.0 < last_parent.0,
        "the first child ({:?}) came after the parent's last page ({:?})",
        first_child.0,
        last_parent.0
    );
    let (_, issues, _) = expected(server.config(), None);
    assert_eq!(sqlite_pairs(&db, "issues").await, issues);
}

#[cfg_attr(no_pg_tests, ignore = "needs PostgreSQL: set PIPELINE_TEST_PG_URL")]
#[tokio::test(flavor = "multi_thread")]
async fn fan_out_is_exact_on_postgres() {
    let Ok(pg) = std::env::var("PIPELINE_TEST_PG_URL") else {
        assert_ne!(
            std::env::var("PIPELINE_TEST_PG_REQUIRED").as_deref(),
            Ok("1"),
            "PIPELINE_TEST_PG_REQUIRED=1 but PIPELINE_TEST_PG_URL is not set"
        );
        eprintln!("skipped: PIPELINE_TEST_PG_URL is not set");
        return;
    };
    let server = MockServer::start(tree_mock(9, 4)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tag = format!("{}_{}", std::process::id(), fastrand::u32(..));
    let names = [
        format!("fo_repos_{tag}"),
        format!("fo_issues_{tag}"),
        format!("fo_comments_{tag}"),
    ];
    let toml = tree_toml(&pg, server.base_url(), [&names[0], &names[1], &names[2]], "");
    let config = write(dir.path(), "crawl.toml", &toml);
    assert_success(&crawl(&[&config, "--quiet"], dir.path()));

    let (repos, issues, comments) = expected(server.config(), None);
    let pool = sqlx::PgPool::connect(&pg).await.unwrap();
    let pairs = |table: &str| {
        let sql = format!("SELECT key, parent FROM \"{table}\"");
        let pool = pool.clone();
        async move {
            let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(&pool).await.unwrap();
            rows.iter()
                .map(|r| (r.get::<String, _>(0), r.get::<String, _>(1)))
                .collect::<Pairs>()
        }
    };
    let stored: BTreeSet<String> = sqlx::query(AssertSqlSafe(format!("SELECT key FROM \"{}\"", names[0])))
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(stored, repos);
    assert_eq!(pairs(&names[1]).await, issues);
    assert_eq!(pairs(&names[2]).await, comments);
    for name in &names {
        sqlx::query(AssertSqlSafe(format!("DROP TABLE \"{name}\"")))
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_mid_fan_out_resumes_exactly_without_refetching() {
    let mut mock = tree_mock(30, 5).latency(Duration::from_millis(15));
    mock.items = 10;
    let server = MockServer::start(mock).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crawl.db");
    let toml = tree_toml(
        &format!("sqlite://{}", db.display()),
        server.base_url(),
        ["repos", "issues", "comments"],
        "",
    );
    let config = write(dir.path(), "crawl.toml", &toml);
    let (_, issues, comments) = expected(server.config(), None);
    let mut child = spawn_crawl(&config, dir.path(), std::process::Stdio::null);
    // Some comments are in, many are not: the fan-out is under way.
    let committed = wait_for_rows(&db, "comments", 20).await;
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    assert!(
        (20..comments.len() as i64).contains(&committed),
        "killed mid-fan-out after {committed} comments"
    );

    let out = crawl(&[&config, "--quiet"], dir.path());
    assert_success(&out);
    assert_eq!(sqlite_pairs(&db, "issues").await, issues);
    assert_eq!(sqlite_pairs(&db, "comments").await, comments);
    let pages = tree_pages(server.config(), &issues);
    let fetches = server.request_count() as usize;
    assert!(
        fetches * 5 <= pages * 6,
        "{fetches} fetches for {pages} pages: finished children were fetched again"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_parent_without_the_templated_field_fails_only_its_child() {
    let mut mock = tree_mock(5, 5);
    mock.tree_nameless_repo = Some(3);
    let server = MockServer::start(mock).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crawl.db");
    let toml = tree_toml(
        &format!("sqlite://{}", db.display()),
        server.base_url(),
        ["repos", "issues", "comments"],
        "",
    );
    let config = write(dir.path(), "crawl.toml", &toml);
    let mut child = spawn_crawl(&config, dir.path(), std::process::Stdio::null);
    let status = wait_bounded(&mut child, Duration::from_secs(60)).expect("the crawl ends");
    assert_eq!(status.code(), Some(1), "a failed child fails the crawl");
    let (_, issues, comments) = expected(server.config(), Some(3));
    assert_eq!(sqlite_pairs(&db, "issues").await, issues);
    assert_eq!(sqlite_pairs(&db, "comments").await, comments);
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let (state, error): (String, String) =
        sqlx::query_as("SELECT state, last_error FROM pipeline_checkpoints WHERE collection = 'issues/3'")
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    assert_eq!(state, "failed");
    assert!(
        error.contains("parent \"3\"") && error.contains("/name"),
        "{error}"
    );
}

fn feed_toml(db: &Path, base: &str, extra: &str) -> String {
    format!(
        r#"[runtime]
database = "sqlite://{db}"
{extra}
[[collection]]
name = "feed"
url = "{base}/feed"
items = "/items"
key = "/id"
incremental = {{ param = "since", field = "/updated_at" }}
pagination = {{ style = "page", has_more = "/has_more" }}
"#,
        db = db.display()
    )
}

async fn feed_rows(db: &Path) -> BTreeSet<(i64, String, i64)> {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let rows = sqlx::query("SELECT data FROM feed")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    rows.iter()
        .map(|r| {
            let v: Value = serde_json::from_str(&r.get::<String, _>(0)).unwrap();
            (
                v["id"].as_i64().unwrap(),
                v["updated_at"].as_str().unwrap().to_owned(),
                v["rev"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn served(server: &MockServer) -> BTreeSet<(i64, String, i64)> {
    server
        .feed()
        .iter()
        .map(|v| {
            (
                v["id"].as_i64().unwrap(),
                v["updated_at"].as_str().unwrap().to_owned(),
                v["rev"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn incremental_runs_ask_only_for_what_changed() {
    let mut mock = MockConfig::new(10, 20);
    mock.feed_items = 50;
    let server = MockServer::start(mock).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crawl.db");
    let config = write(dir.path(), "crawl.toml", &feed_toml(&db, server.base_url(), ""));

    assert_success(&crawl(&[&config, "--quiet"], dir.path()));
    assert_eq!(server.request_count(), 3, "first run: every page, no since");
    assert!(!server.requests()[0].contains("since="));
    assert_eq!(feed_rows(&db).await, served(&server));

    let changed: Vec<usize> = (0..15).map(|k| 2 + 3 * k).collect();
    server.touch(&changed);
    assert_success(&crawl(&[&config, "--quiet"], dir.path()));
    let requests = server.requests();
    assert_eq!(requests.len(), 4, "second run: one request, {requests:?}");
    let since = url::form_urlencoded::byte_serialize(feed_time(50).as_bytes()).collect::<String>();
    assert!(requests[3].contains(&format!("since={since}")), "{}", requests[3]);
    assert_eq!(
        feed_rows(&db).await,
        served(&server),
        "changed items replaced, the rest kept"
    );

    assert_success(&crawl(&[&config, "--quiet"], dir.path()));
    let requests = server.requests();
    assert_eq!(requests.len(), 5, "third run: one empty page, {requests:?}");
    let since = url::form_urlencoded::byte_serialize(feed_time(65).as_bytes()).collect::<String>();
    assert!(requests[4].contains(&format!("since={since}")), "{}", requests[4]);
    assert_eq!(feed_rows(&db).await, served(&server));
}

#[test]
fn staging_with_an_incremental_collection_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crawl.db");
    let config = write(
        dir.path(),
        "crawl.toml",
        &feed_toml(&db, "http://127.0.0.1:9", "mode = \"staging\""),
    );
    let out = crawl(&[&config, "--quiet"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("collection \"feed\": incremental") && stderr.contains("staging"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn each_child_keeps_its_own_high_water_mark() {
    let server = MockServer::start(tree_mock(6, 5)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crawl.db");
    let toml = format!(
        r#"[runtime]
database = "sqlite://{db}"

[[collection]]
name = "repos"
url = "{base}/tree/repos"
pagination = {{ style = "link_header" }}

[[collection]]
name = "issues"
parent = "repos"
url = "{base}/tree/repos/{{/name}}/issues?per_page=5"
pagination = {{ style = "link_header" }}
incremental = {{ param = "since", field = "/id", initial = "0" }}
"#,
        db = db.display(),
        base = server.base_url()
    );
    let config = write(dir.path(), "crawl.toml", &toml);
    assert_success(&crawl(&[&config, "--quiet"], dir.path()));
    let first = server.requests();
    for r in 1..=6 {
        let start = format!("/tree/repos/repo-{r}/issues?per_page=5&since=0");
        assert!(
            first.contains(&start),
            "first run starts from `initial`: {start} in {first:?}"
        );
    }
    assert_success(&crawl(&[&config, "--quiet"], dir.path()));
    let second = &server.requests()[first.len()..];
    for r in 1..=6 {
        let max = tree_issue(r, tree_issue_count(r, 5) - 1)["id"].as_u64().unwrap();
        let start = format!("/tree/repos/repo-{r}/issues?per_page=5&since={max}");
        assert!(second.contains(&start), "{start} in {second:?}");
    }
}

#[test]
fn a_parent_must_exist_and_parents_must_not_loop() {
    use crawlpipe::crawl::config::CrawlConfig;
    let parse = |text: &str| CrawlConfig::parse(Path::new("t.toml"), text, &|_| None).map(drop);
    let unknown =
        parse("[[collection]]\nname = \"a\"\nurl = \"http://h/{/id}\"\nparent = \"nope\"\n").unwrap_err();
    assert!(
        unknown.to_string().contains("collection \"a\": parent") && unknown.to_string().contains("\"nope\""),
        "{unknown}"
    );
    let looped = parse(
        "[[collection]]\nname = \"a\"\nurl = \"http://h/{/id}\"\nparent = \"b\"\n\
         [[collection]]\nname = \"b\"\nurl = \"http://h/{/id}\"\nparent = \"a\"\n",
    )
    .unwrap_err();
    assert!(looped.to_string().contains("loop"), "{looped}");
    let staged = parse(
        "[runtime]\nmode = \"staging\"\n[[collection]]\nname = \"a\"\nurl = \"http://h/\"\n\
         [[collection]]\nname = \"b\"\nurl = \"http://h/{/id}\"\nparent = \"a\"\n",
    )
    .unwrap_err();
    assert!(
        staged.to_string().contains("collection \"b\": parent"),
        "{staged}"
    );
}
