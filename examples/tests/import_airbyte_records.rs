//! `crawl import airbyte` then `crawl` against the mock server's repos →
//! issues tree, on manifests whose records Airbyte changes or fans out:
//! `AddFields` and `RemoveFields` (`tests/airbyte/e2e_transform.yaml`) and a
//! `ListPartitionRouter` (`tests/airbyte/e2e_list.yaml`), and windows of
//! calendar months (`tests/airbyte/e2e_calendar_windows.yaml`). The stored
//! records are exactly what Airbyte would emit.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crawlpipe_sinks::sqlx::{self, Row};
use crawlpipe_sources::mock::{MockConfig, MockServer, tree_issue, tree_issue_count, tree_repo};
use serde_json::{Value, json};

fn run(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crawl"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .output()
        .expect("the crawl binary runs")
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Every row of `table` as key → (parent, data).
async fn rows(db: &Path, table: &str, parent: bool) -> BTreeMap<String, (Option<String>, Value)> {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", db.display()))
        .await
        .unwrap();
    let sql = if parent {
        format!("SELECT key, parent, data FROM \"{table}\"")
    } else {
        format!("SELECT key, NULL, data FROM \"{table}\"")
    };
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    rows.iter()
        .map(|r| {
            let data: String = r.get(2);
            (r.get(0), (r.get(1), serde_json::from_str(&data).unwrap()))
        })
        .collect()
}

/// Imports `name` against `server` into `dir`, then crawls it with `env`;
/// returns the database.
fn import_and_crawl(name: &str, server: &MockServer, dir: &Path, env: &[(&str, &str)]) -> PathBuf {
    let db = dir.join("crawl.db");
    let database = format!("sqlite://{}", db.display());
    let out_toml = dir.join("out.toml");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/airbyte")
        .join(name);
    let out = run(
        &[
            "import",
            "airbyte",
            manifest.to_str().unwrap(),
            "--url-base",
            server.base_url(),
            "--database",
            &database,
            "-o",
            out_toml.to_str().unwrap(),
        ],
        dir,
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let toml = std::fs::read_to_string(&out_toml).unwrap();
    let crawl = run(&[out_toml.to_str().unwrap(), "--quiet"], dir, env);
    assert_eq!(crawl.status.code(), Some(0), "{}\n{toml}", text(&crawl));
    db
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn added_and_removed_fields_are_stored_as_airbyte_makes_them() {
    let mut config = MockConfig::new(10, 4);
    config.tree_repos = 5;
    let server = MockServer::start(config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = import_and_crawl("e2e_transform.yaml", &server, dir.path(), &[("REGION", "eu-{1}")]);

    let mut repos = BTreeMap::new();
    let mut issues = BTreeMap::new();
    for r in 1..=5usize {
        let mut repo = tree_repo(r, None);
        repo["updated_at"] = json!("2024-01-01T00:00:00Z");
        repo["kind"] = json!("repository");
        repo["region"] = json!("eu-{1}");
        repos.insert(r.to_string(), (None, repo));
        for i in 0..tree_issue_count(r, 4) {
            let mut issue = tree_issue(r, i);
            let id = issue["id"].clone();
            let title = issue["title"].as_str().unwrap().to_owned();
            issue["repo"] = json!(format!("repo-{r}"));
            issue["label"] = json!(format!("{title} @ repo-{r}"));
            issue["meta"] = json!({ "number": id });
            issues.insert(id.to_string(), (Some(r.to_string()), issue));
        }
    }
    assert_eq!(rows(&db, "repos", false).await, repos);
    assert_eq!(rows(&db, "issues", true).await, issues);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_partition_router_fetches_each_value_into_one_table() {
    let mut config = MockConfig::new(10, 4);
    config.tree_repos = 4;
    let server = MockServer::start(config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = import_and_crawl("e2e_list.yaml", &server, dir.path(), &[]);
    let mut issues = BTreeMap::new();
    for r in [1usize, 3] {
        for i in 0..tree_issue_count(r, 4) {
            let mut issue = tree_issue(r, i);
            issue["updated_at"] = json!("2024-01-01T00:00:00Z");
            issue["repo"] = json!(format!("repo-{r}"));
            issues.insert(issue["id"].to_string(), (Some(format!("repo-{r}")), issue));
        }
    }
    assert_eq!(rows(&db, "issues", true).await, issues);
    let requests = server.requests();
    assert!(
        requests
            .iter()
            .all(|r| r.contains("/repo-1/") || r.contains("/repo-3/")),
        "only the listed values are fetched: {requests:?}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_of_list_partition_routers_fetches_every_combination() {
    let mut config = MockConfig::new(10, 4);
    config.tree_repos = 4;
    let server = MockServer::start(config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = import_and_crawl("e2e_list_product.yaml", &server, dir.path(), &[]);
    let mut expected = std::collections::BTreeSet::new();
    for r in [1usize, 3] {
        for state in ["open", "closed"] {
            for i in 0..tree_issue_count(r, 4) {
                let mut issue = tree_issue(r, i);
                issue["updated_at"] = json!("2024-01-01T00:00:00Z");
                issue["repo"] = json!(format!("repo-{r}"));
                issue["state"] = json!(state);
                expected.insert(issue.to_string());
            }
        }
    }
    let stored: std::collections::BTreeSet<String> = rows(&db, "issues", true)
        .await
        .into_values()
        .map(|(_, data)| data.to_string())
        .collect();
    assert_eq!(stored, expected);
    let requests = server.requests();
    for (repo, state) in [
        ("repo-1", "open"),
        ("repo-1", "closed"),
        ("repo-3", "open"),
        ("repo-3", "closed"),
    ] {
        assert!(
            requests
                .iter()
                .any(|r| r.contains(&format!("/{repo}/issues?state={state}"))),
            "{repo} × {state} is requested: {requests:?}"
        );
    }
    assert!(
        requests
            .iter()
            .all(|r| !r.contains("repo-2") && !r.contains("repo-4")),
        "only the listed values are fetched: {requests:?}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_from_the_connector_config_is_read_from_its_variable() {
    let mut config = MockConfig::new(10, 4);
    config.tree_repos = 4;
    let server = MockServer::start(config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = [("REPOS", r#"["repo-1", "repo-3"]"#)];
    let db = import_and_crawl("e2e_list_from_config.yaml", &server, dir.path(), &env);
    let mut issues = BTreeMap::new();
    for r in [1usize, 3] {
        for i in 0..tree_issue_count(r, 4) {
            let mut issue = tree_issue(r, i);
            issue["updated_at"] = json!("2024-01-01T00:00:00Z");
            issue["repo"] = json!(format!("repo-{r}"));
            issues.insert(issue["id"].to_string(), (Some(format!("repo-{r}")), issue));
        }
    }
    assert_eq!(rows(&db, "issues", true).await, issues);
    let requests = server.requests();
    assert!(
        requests
            .iter()
            .all(|r| r.contains("/repo-1/") || r.contains("/repo-3/")),
        "only the listed values are fetched: {requests:?}"
    );
    // A variable that holds no JSON list is a config error naming the key.
    let out = dir.path().join("out.toml");
    let bad = run(
        &[out.to_str().unwrap(), "--check"],
        dir.path(),
        &[("REPOS", "repo-1,repo-3")],
    );
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("values: `from` must hold a JSON array"),
        "{}",
        text(&bad)
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calendar_month_windows_end_a_granularity_before_the_next_start() {
    // Hourly events from 2024-01-01 to 2024-04-10 (2,400).
    let server = MockServer::start(MockConfig::new(2_400, 1_000)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = import_and_crawl("e2e_calendar_windows.yaml", &server, dir.path(), &[]);
    // Airbyte's windows: January 31 plus a month is February 29, plus a
    // month March 29; each ends an hour before the next starts, the last at
    // the end_datetime.
    let requests: Vec<String> = server.requests().iter().map(|r| r.replace("%3A", ":")).collect();
    assert_eq!(
        requests,
        [
            "/events?from=2024-01-31T00:00:00Z&to=2024-02-28T23:00:00Z&page=1",
            "/events?from=2024-02-29T00:00:00Z&to=2024-03-28T23:00:00Z&page=1",
            "/events?from=2024-03-29T00:00:00Z&to=2024-04-15T00:00:00Z&page=1",
        ]
    );
    // The mock's `to` is exclusive: the hour before each next start is
    // outside every window, as it is in Airbyte's requests.
    let (n, stored) = support::sqlite_keys(&db, "events").await;
    let expected: std::collections::BTreeSet<String> = (720..2_400)
        .filter(|&i| i != 1_415 && i != 2_111)
        .map(|i| i.to_string())
        .collect();
    assert_eq!((n, stored), (1_678, expected));
    server.shutdown().await;
}
