//! `crawl --serve` remembers its runs: each run in `pipeline_runs` with its
//! outcome, `/status` with the last success, last run and staleness,
//! `GET /collections/{name}/runs` and `GET /collections/{name}`, alerts on
//! a webhook, and a cluster of two processes sharing the history.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crawlpipe_core::history::{RunHistory, RunOutcome};
use crawlpipe_sinks::Database;
use crawlpipe_sinks::sqlx::{self, AssertSqlSafe, PgPool};
use crawlpipe_sources::mock::{MockConfig, MockServer};
use serde_json::Value;
use support::{signal, wait_bounded, write};

const LIMIT: Duration = Duration::from_secs(30);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A `crawl --serve` process, killed when dropped.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn serve(config: &str, dir: &Path, log: &str) -> Service {
    let child = Command::new(env!("CARGO_BIN_EXE_crawl"))
        .args([config, "--serve", "--quiet"])
        .current_dir(dir)
        .env("CRAWL_TEST_TOKEN", "s3cret-token")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(log)).expect("log file"))
        .spawn()
        .expect("the crawl binary starts");
    Service(child)
}

async fn get_json(url: &str) -> Option<Value> {
    let answer = reqwest::get(url).await.ok()?;
    answer.json().await.ok()
}

/// Polls `url` (bounded) until `ok` holds for its JSON.
async fn wait_json(url: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + LIMIT;
    let mut last = Value::Null;
    while Instant::now() < deadline {
        if let Some(v) = get_json(url).await {
            if ok(&v) {
                return v;
            }
            last = v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} never matched: {last:#}");
}

fn entry<'a>(status: &'a Value, name: &str) -> &'a Value {
    status
        .as_array()
        .and_then(|a| a.iter().find(|e| e["collection"] == name))
        .unwrap_or(&Value::Null)
}

fn collection(name: &str, url: &str, extra: &str) -> String {
    format!(
        "[[collection]]\nname = \"{name}\"\nurl = \"{url}\"\nitems = \"/items\"\npagination = {{ style = \"page\" }}\nretry = {{ max_attempts = 1 }}\n{extra}\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_staleness_and_alerts_through_crawl_serve() {
    let api = MockServer::start(MockConfig::new(20, 10)).await.unwrap();
    let hooks = MockServer::start(MockConfig::new(1, 1)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let db = dir.path().join("crawl.db");
    let mut text = format!(
        "[runtime]\ndatabase = \"sqlite://{}\"\nmetrics_addr = \"127.0.0.1:{port}\"\nmax_resumes = 0\nhistory = 3\n\
         admin_token = \"${{CRAWL_TEST_TOKEN}}\"\n\
         alert_webhook = \"{}/webhook?fail=1&token=hook-secret\"\nalert_on = [\"failed\", \"recovered\", \"stale\"]\n\n",
        db.display(),
        hooks.base_url()
    );
    // Its first run fails (page 1 answers 500 once); the next ones complete.
    let flaky = api.url("/scripted?on_page=1&status=500&times=1");
    text.push_str(&collection("flaky", &flaky, "every = \"1s\""));
    text.push_str(&collection(
        "steady",
        &api.url("/page?api_key=k3y"),
        "every = \"1s\"\nheaders = { Authorization = \"Bearer t0ken\", Accept = \"application/json\" }",
    ));
    // Runs once at the start, then goes stale after 3 s without a success.
    text.push_str(&collection(
        "lazy",
        &api.url("/page"),
        "every = \"1h\"\nstale_after = \"3s\"",
    ));
    let path = write(dir.path(), "crawl.toml", &text);
    let mut child = serve(&path, dir.path(), "serve.log");
    let base = format!("http://127.0.0.1:{port}");
    let status_url = format!("{base}/status");

    // flaky: failed, then recovered by its next run.
    let recent = wait_json(&format!("{base}/status/runs"), |r| {
        r["flaky"].as_array().is_some_and(|r| r.len() >= 2)
    })
    .await;
    let status = get_json(&status_url).await.unwrap();
    let flaky = entry(&status, "flaky");
    assert!(
        flaky.get("recent_runs").is_none(),
        "in /status/runs only: {flaky:#}"
    );
    assert_eq!(flaky["last_run"]["outcome"], "completed", "{flaky:#}");
    assert_eq!(flaky["last_run"]["items"], 20);
    assert!(
        flaky["last_success_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{flaky:#}"
    );
    assert_eq!(flaky["stale_after_secs"], 2.0, "twice `every`");
    assert_eq!(flaky["stale"], false);
    let recent = recent["flaky"].as_array().unwrap();
    assert_eq!(
        recent.last().unwrap()[0],
        "failed",
        "newest first: the first run last, as [outcome, duration_ms, items]"
    );
    assert_eq!(recent[0][0], "completed");
    assert_eq!(recent[0][2], 20, "{recent:?}");

    let runs = get_json(&format!("{base}/collections/flaky/runs")).await.unwrap();
    let runs = runs.as_array().unwrap();
    assert!(runs.len() >= 2, "{runs:#?}");
    let oldest = runs.last().unwrap();
    assert_eq!(oldest["outcome"], "failed");
    assert!(
        oldest["error"].as_str().is_some_and(|e| e.contains("500")),
        "{oldest:#}"
    );
    for key in [
        "run",
        "owner",
        "started_at",
        "ended_at",
        "items",
        "pages",
        "resumes",
    ] {
        assert!(oldest.get(key).is_some(), "{key} missing: {oldest:#}");
    }
    assert_eq!(runs[0]["outcome"], "completed");
    let one = get_json(&format!("{base}/collections/flaky/runs?limit=1"))
        .await
        .unwrap();
    assert_eq!(one.as_array().unwrap().len(), 1);
    let unknown = reqwest::get(format!("{base}/collections/nope/runs"))
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    // The config as run, its secrets masked; the errors in full.
    let detail = get_json(&format!("{base}/collections/steady")).await.unwrap();
    assert_eq!(detail["status"]["collection"], "steady");
    let config = &detail["config"];
    assert_eq!(config["headers"]["Authorization"], "***", "{config:#}");
    assert_eq!(config["headers"]["Accept"], "application/json");
    assert!(
        config["url"].as_str().unwrap().ends_with("/page?api_key=***"),
        "{config:#}"
    );
    assert!(!detail.to_string().contains("t0ken") && !detail.to_string().contains("k3y"));
    let flaky_detail = get_json(&format!("{base}/collections/flaky")).await.unwrap();
    let errors = flaky_detail["errors"].as_array().unwrap();
    assert!(
        errors[0]["message"].as_str().is_some_and(|m| m.contains("500")),
        "{errors:#?}"
    );
    assert!(errors[0]["at"].is_string() && errors[0]["detail"].is_object());

    // lazy: stale after 3 s, in /status and /metrics; a run clears it.
    wait_json(&status_url, |s| entry(s, "lazy")["stale"] == true).await;
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("pipeline_collection_stale{collection=\"lazy\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("pipeline_collection_stale{collection=\"steady\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("pipeline_collection_last_success_timestamp_seconds{collection=\"flaky\"}"),
        "{metrics}"
    );
    let ran = reqwest::Client::new()
        .post(format!("{base}/collections/lazy/run"))
        .bearer_auth("s3cret-token")
        .send()
        .await
        .unwrap();
    assert_eq!(ran.status(), 202);
    wait_json(&status_url, |s| entry(s, "lazy")["stale"] == false).await;

    // Exactly the expected alerts, in order; the first delivery was refused and retried.
    let deadline = Instant::now() + LIMIT;
    while hooks.webhooks().len() < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Time for an unexpected fourth to arrive.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let alerts = hooks.webhooks();
    let got: Vec<(String, String)> = alerts
        .iter()
        .map(|a| {
            (
                a["collection"].as_str().unwrap_or("").to_owned(),
                a["event"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let want = [("flaky", "failed"), ("flaky", "recovered"), ("lazy", "stale")];
    assert_eq!(
        got,
        want.map(|(c, e)| (c.to_owned(), e.to_owned())),
        "{alerts:#?}"
    );
    assert_eq!(hooks.request_count(), 4, "one refused delivery, then three");
    assert!(alerts[0]["error"].as_str().is_some_and(|e| e.contains("500")));
    assert_eq!(alerts[1]["error"], Value::Null);
    assert_eq!(
        alerts[0]["status_url"],
        format!("http://127.0.0.1:{port}/#c=flaky")
    );
    assert!(alerts[0]["at"].as_str().is_some_and(|t| t.ends_with('Z')));

    signal(&child.0, "TERM");
    assert_eq!(wait_bounded(&mut child.0, LIMIT).and_then(|s| s.code()), Some(0));
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(
        !log.contains("hook-secret"),
        "the webhook's token is never logged"
    );

    // The same runs are in pipeline_runs, kept to `history = 3`.
    let db = Database::open(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let stored = db.run_history().await.unwrap().runs("flaky", 100).await.unwrap();
    assert_eq!(stored.len(), 3, "{stored:#?}");
    assert!(
        stored
            .iter()
            .all(|r| r.collection == "flaky" && r.owner.is_none())
    );
    let lazy = db.run_history().await.unwrap().runs("lazy", 100).await.unwrap();
    assert_eq!(lazy.len(), 2);
    assert!(lazy.iter().all(|r| r.outcome == RunOutcome::Completed));
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
async fn two_processes_share_the_history_on_postgresql() {
    let Some(pg) = pg_url() else { return };
    let pool = PgPool::connect(&pg).await.unwrap();
    let api = MockServer::start(MockConfig::new(20, 10)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let names: Vec<String> = (0..4)
        .map(|i| format!("hist_{}_{nanos}_{i}", std::process::id()))
        .collect();
    let ports = [free_port(), free_port()];
    let mut workers = Vec::new();
    for (n, port) in ports.iter().enumerate() {
        let mut text = format!(
            "[runtime]\ndatabase = \"{pg}\"\ncluster = true\nlease_ms = 2000\nconcurrency = 2\nmetrics_addr = \"127.0.0.1:{port}\"\n\n"
        );
        for name in &names {
            text.push_str(&collection(name, &api.url("/page"), "every = \"1s\""));
        }
        let path = write(dir.path(), &format!("worker{n}.toml"), &text);
        workers.push(serve(&path, dir.path(), &format!("worker{n}.log")));
    }
    // Every collection has run at least twice somewhere.
    for port in ports {
        let url = format!("http://127.0.0.1:{port}/status/runs");
        wait_json(&url, |r| {
            names
                .iter()
                .all(|n| r[n.as_str()].as_array().is_some_and(|r| r.len() >= 2))
        })
        .await;
        let url = format!("http://127.0.0.1:{port}/status");
        wait_json(&url, |s| {
            names.iter().all(|n| entry(s, n)["last_success_at"].is_string())
        })
        .await;
    }
    // Both processes answer the runs endpoint from the shared table.
    let mut owners = std::collections::BTreeSet::new();
    for name in &names {
        let a = get_json(&format!("http://127.0.0.1:{}/collections/{name}/runs", ports[0]))
            .await
            .unwrap();
        let b = get_json(&format!("http://127.0.0.1:{}/collections/{name}/runs", ports[1]))
            .await
            .unwrap();
        let (a, b) = (a.as_array().unwrap().clone(), b.as_array().unwrap().clone());
        assert!(a.len() >= 2, "{a:#?}");
        // A run may end between the two reads: compare what both have seen.
        let common = a.len().min(b.len());
        assert_eq!(
            a[a.len() - common..],
            b[b.len() - common..],
            "the same shared history"
        );
        for run in &a {
            assert_eq!(run["outcome"], "completed");
            owners.insert(
                run["owner"]
                    .as_str()
                    .expect("a cluster run has its owner")
                    .to_owned(),
            );
        }
    }
    // Which process claims which collection is the leases' business (one
    // process may well take them all): every run names the one that ran it.
    assert!(
        !owners.is_empty() && owners.len() <= 2,
        "runs name their owners: {owners:?}"
    );
    for mut worker in workers {
        signal(&worker.0, "TERM");
        assert_eq!(wait_bounded(&mut worker.0, LIMIT).and_then(|s| s.code()), Some(0));
    }
    for name in &names {
        let _ = sqlx::query(AssertSqlSafe(format!("DROP TABLE IF EXISTS \"{name}\"")))
            .execute(&pool)
            .await;
        for table in ["pipeline_checkpoints", "pipeline_leases", "pipeline_runs"] {
            let _ = sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE collection = $1"
            )))
            .bind(name)
            .execute(&pool)
            .await;
        }
    }
}

/// A known collection without runs answers `[]`, a child collection
/// included (before its first child runs); only an unknown name is 404.
/// A child collection's detail is `{"group"}`.
#[tokio::test(flavor = "multi_thread")]
async fn a_known_collection_without_runs_has_an_empty_history() {
    // The parent's first page never arrives while the test looks: no child runs.
    let api = MockServer::start(MockConfig::new(20, 10).latency(Duration::from_secs(120)))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut text = format!(
        "[runtime]\ndatabase = \"sqlite://{}\"\nmetrics_addr = \"127.0.0.1:{port}\"\n\n",
        dir.path().join("crawl.db").display()
    );
    text.push_str(&collection(
        "repos",
        &api.url("/page"),
        "key = \"/id\"\nevery = \"1h\"",
    ));
    text.push_str(&collection(
        "issues",
        &api.url("/page?repo={/id}"),
        "key = \"/id\"\nparent = \"repos\"",
    ));
    let path = write(dir.path(), "crawl.toml", &text);
    let _child = serve(&path, dir.path(), "serve.log");
    let base = format!("http://127.0.0.1:{port}");
    wait_json(&format!("{base}/status"), |s| {
        entry(s, "repos")["state"] == "crawling"
    })
    .await;
    for name in ["issues", "repos"] {
        let answer = reqwest::get(format!("{base}/collections/{name}/runs"))
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{name}");
        assert_eq!(
            answer.json::<Value>().await.unwrap(),
            serde_json::json!([]),
            "{name}"
        );
    }
    let unknown = reqwest::get(format!("{base}/collections/nope/runs"))
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    // The child collection's detail is its children summed.
    let group = reqwest::get(format!("{base}/collections/issues")).await.unwrap();
    assert_eq!(group.status(), 200);
    let group = group.json::<Value>().await.unwrap();
    assert_eq!(group["group"]["group"], "issues", "{group}");
    assert_eq!(group["group"]["done"], 0, "{group}");
    let unknown = reqwest::get(format!("{base}/collections/nope")).await.unwrap();
    assert_eq!(unknown.status(), 404);
}
