//! `crawl --serve`: scheduled re-crawls, SIGHUP reloads, run-now behind the
//! admin token, and exit 0 on SIGTERM with every committed item kept.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crawlpipe_sources::mock::{MockConfig, MockServer};
use serde_json::Value;
use support::{mock_keys, signal, sqlite_keys, wait_bounded, write};

const LIMIT: Duration = Duration::from_secs(30);

/// A loopback port that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn config(dir: &Path, port: u16, collections: &[(&str, &MockServer, &str)], extra_runtime: &str) -> String {
    let mut text = format!(
        "[runtime]\ndatabase = \"sqlite://{}\"\nmetrics_addr = \"127.0.0.1:{port}\"\n{extra_runtime}\n",
        dir.join("crawl.db").display()
    );
    for (name, server, every) in collections {
        text.push_str(&format!(
            "[[collection]]\nname = \"{name}\"\nurl = \"{}/page\"\nitems = \"/items\"\npagination = {{ style = \"page\" }}\n{every}\n",
            server.base_url()
        ));
    }
    text
}

/// A `crawl --serve` process, killed when dropped: a test that fails before
/// it stops the service leaves no process behind.
struct Service(Child);

impl std::ops::Deref for Service {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Service {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn serve(config: &str, dir: &Path) -> Service {
    serve_logging_to(config, dir, Stdio::null())
}

fn serve_logging_to(config: &str, dir: &Path, stderr: Stdio) -> Service {
    let child = Command::new(env!("CARGO_BIN_EXE_crawl"))
        .args([config, "--serve", "--quiet"])
        .current_dir(dir)
        .env("CRAWL_TEST_TOKEN", "s3cret-token")
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("the crawl binary starts");
    Service(child)
}

/// Waits (bounded) until the file at `path` contains `needle`.
async fn wait_for_line(path: &Path, needle: &str) -> String {
    for _ in 0..600 {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{} never said {needle:?}", path.display());
}

/// The `/status` entries, once the server answers.
async fn status(port: u16) -> Vec<Value> {
    let url = format!("http://127.0.0.1:{port}/status");
    match reqwest::get(&url).await {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

/// Polls `/status` (bounded) until `ok` holds for the entries.
async fn wait_status(port: u16, ok: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let mut last = Vec::new();
    for _ in 0..600 {
        last = status(port).await;
        if ok(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("status never matched: {last:#?}");
}

fn entry<'a>(entries: &'a [Value], name: &str) -> Option<&'a Value> {
    entries.iter().find(|e| e["collection"] == name)
}

fn runs(entries: &[Value], name: &str) -> u64 {
    entry(entries, name).and_then(|e| e["runs"].as_u64()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scheduled_collection_is_recrawled_and_sigterm_exits_0() {
    let server = MockServer::start(MockConfig::new(200, 50)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let text = config(dir.path(), port, &[("items", &server, "every = \"1s\"")], "");
    let path = write(dir.path(), "crawl.toml", &text);
    let mut child = serve(&path, dir.path());

    let entries = wait_status(port, |e| runs(e, "items") >= 3).await;
    let next = entry(&entries, "items").unwrap()["next_run_at"].clone();
    assert!(next.is_string() || runs(&entries, "items") >= 3, "{entries:#?}");
    signal(&child, "TERM");
    let status = wait_bounded(&mut child, LIMIT).expect("ended on SIGTERM");
    assert_eq!(status.code(), Some(0), "a service asked to stop exits 0");
    let (rows, keys) = sqlite_keys(&dir.path().join("crawl.db"), "items").await;
    assert_eq!((rows, keys), (200, mock_keys(200)));
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_adds_a_collection_and_a_bad_config_keeps_the_running_one() {
    let first = MockServer::start(MockConfig::new(100, 50)).await.unwrap();
    let second = MockServer::start(MockConfig::new(150, 50)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let one = config(dir.path(), port, &[("a", &first, "")], "");
    let path = write(dir.path(), "crawl.toml", &one);
    let log = dir.path().join("stderr.log");
    let mut child = serve_logging_to(&path, dir.path(), std::fs::File::create(&log).unwrap().into());
    wait_status(port, |e| runs(e, "a") == 1).await;

    let two = config(dir.path(), port, &[("a", &first, ""), ("b", &second, "")], "");
    write(dir.path(), "crawl.toml", &two);
    signal(&child, "HUP");
    let entries = wait_status(port, |e| runs(e, "b") == 1).await;
    assert_eq!(runs(&entries, "a"), 1, "an unchanged collection is left alone");

    write(
        dir.path(),
        "crawl.toml",
        &format!("{two}\n[[collection]]\nnmae = \"typo\"\n"),
    );
    signal(&child, "HUP");
    let said = wait_for_line(&log, "config not reloaded").await;
    assert!(said.contains("line 18"), "the error names the line: {said}");
    assert!(
        child.try_wait().unwrap().is_none(),
        "a typo never takes the service down"
    );
    let entries = status(port).await;
    assert!(
        entry(&entries, "a").is_some() && entry(&entries, "b").is_some(),
        "{entries:#?}"
    );

    write(dir.path(), "crawl.toml", &one);
    signal(&child, "HUP");
    wait_status(port, |e| entry(e, "b").is_none()).await;

    signal(&child, "TERM");
    assert_eq!(wait_bounded(&mut child, LIMIT).and_then(|s| s.code()), Some(0));
    let db = dir.path().join("crawl.db");
    assert_eq!(sqlite_keys(&db, "a").await, (100, mock_keys(100)));
    assert_eq!(sqlite_keys(&db, "b").await, (150, mock_keys(150)));
}

#[tokio::test(flavor = "multi_thread")]
async fn run_now_needs_the_admin_token() {
    let server = MockServer::start(MockConfig::new(100, 50)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let text = config(
        dir.path(),
        port,
        &[("items", &server, "")],
        "admin_token = \"${CRAWL_TEST_TOKEN}\"",
    );
    let path = write(dir.path(), "crawl.toml", &text);
    let mut child = serve(&path, dir.path());
    wait_status(port, |e| runs(e, "items") == 1).await;

    let url = format!("http://127.0.0.1:{port}/collections/items/run");
    let client = reqwest::Client::new();
    let refused = client.post(&url).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let wrong = client.post(&url).bearer_auth("nope").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let entries = status(port).await;
    assert_eq!(runs(&entries, "items"), 1, "nothing ran without the token");
    assert_eq!(
        entry(&entries, "items").unwrap()["state"],
        "completed",
        "{entries:#?}"
    );

    // The accepted request is the barrier: a run a refused one had started
    // would still be going (started: false) or would have counted.
    let accepted = client
        .post(&url)
        .bearer_auth("s3cret-token")
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 202);
    let body: Value = accepted.json().await.unwrap();
    assert_eq!(body["started"], true, "{body}");
    wait_status(port, |e| runs(e, "items") == 2).await;
    let unknown = client
        .post(format!("http://127.0.0.1:{port}/collections/nope/run"))
        .bearer_auth("s3cret-token")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    signal(&child, "TERM");
    assert_eq!(wait_bounded(&mut child, LIMIT).and_then(|s| s.code()), Some(0));
}
