//! Requests shaped like real APIs, through the `crawl` binary: a POST body
//! cursor killed mid-crawl and resumed exactly, and an OAuth2-protected
//! collection whose client secret never reaches output, `/status` or the database.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crawlpipe_sources::mock::{MockConfig, MockServer};
use support::{crawl, mock_keys, sqlite_keys, wait_bounded, wait_for_rows, write};

const SECRET: &str = "mock-secret-0123";

fn search_config(dir: &Path, server: &MockServer) -> (String, std::path::PathBuf) {
    let db = dir.join("crawl.db");
    let text = format!(
        r#"[runtime]
database = "sqlite://{db}"

[[collection]]
name = "pages"
url = "{url}"
method = "POST"
body = {{ page_size = 20 }}
items = "/results"
key = "/id"
pagination = {{ style = "cursor", next = "/next_cursor", has_more = "/has_more", body_pointer = "/start_cursor" }}
"#,
        db = db.display(),
        url = server.url("/search")
    );
    (write(dir, "crawl.toml", &text), db)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_post_crawl_killed_mid_way_resumes_exactly() {
    let server = MockServer::start(MockConfig::new(2_000, 20).latency(Duration::from_millis(10)))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (config, db) = search_config(dir.path(), &server);
    let mut child = Command::new(env!("CARGO_BIN_EXE_crawl"))
        .args([&config, "--quiet"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rows = wait_for_rows(&db, "pages", 200).await;
    assert!(rows >= 200, "the crawl made progress before the kill: {rows}");
    child.kill().unwrap();
    let _ = wait_bounded(&mut child, Duration::from_secs(10));
    let before = server.request_count();

    let out = crawl(&[&config, "--quiet"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(sqlite_keys(&db, "pages").await, (2_000, mock_keys(2_000)));
    let again = server.request_count() - before;
    assert!(
        again <= 100 - (rows as u64 / 20) + 2,
        "resumed, not restarted: {again} requests"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oauth2_collection_refreshes_its_token_and_never_shows_the_secret() {
    // 60 pages at 40 ms: longer than the 1 s life of a token.
    let server = MockServer::start(MockConfig::new(1_200, 20).latency(Duration::from_millis(40)))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crawl.db");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let text = format!(
        r#"[runtime]
database = "sqlite://{db}"
metrics_addr = "127.0.0.1:{port}"

[[collection]]
name = "protected"
url = "{url}"
items = "/items"
key = "/id"
pagination = {{ style = "page", param = "page", start = 1, has_more = "/has_more" }}
auth = {{ type = "oauth2", token_url = "{token}", client_id = "mock-client", client_secret = "${{CLIENT_SECRET}}", scope = "read" }}
"#,
        db = db.display(),
        url = server.url("/protected"),
        token = server.url("/oauth/token"),
        port = port,
    );
    let config = write(dir.path(), "crawl.toml", &text);
    let child = Command::new(env!("CARGO_BIN_EXE_crawl"))
        .arg(&config)
        .current_dir(dir.path())
        .env("CLIENT_SECRET", SECRET)
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // While it crawls, /status (errors, cursors) never shows the secret either.
    let mut polls = 0;
    for _ in 0..100 {
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/status")).await {
            let body = r.text().await.unwrap_or_default();
            assert!(!body.contains(SECRET), "the secret is in /status: {body}");
            polls += 1;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(polls > 0, "/status answered while crawling");
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        server.token_issues() >= 2,
        "the token was refreshed: {}",
        server.token_issues()
    );
    assert_eq!(sqlite_keys(&db, "protected").await, (1_200, mock_keys(1_200)));
    assert!(
        !stdout.contains(SECRET) && !stderr.contains(SECRET),
        "the secret leaked into output"
    );
    let file = std::fs::read(&db).unwrap();
    let needle = SECRET.as_bytes();
    assert!(
        !file.windows(needle.len()).any(|w| w == needle),
        "the secret is in the database"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn graphql_and_header_cursor_collections_land_exactly() {
    let server = MockServer::start(MockConfig::new(330, 100)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crawl.db");
    let text = format!(
        r#"[runtime]
database = "sqlite://{db}"

[[collection]]
name = "gql_issues"
url = "{graphql}"
method = "POST"
body = {{ query = "query($first:Int!,$after:String){{ repo {{ issues(first:$first, after:$after) {{ nodes {{ id }} pageInfo {{ endCursor hasNextPage }} }} }} }}", variables = {{ first = 40 }} }}
items = "/data/repo/issues/nodes"
key = "/id"
pagination = {{ style = "cursor", next = "/data/repo/issues/pageInfo/endCursor", has_more = "/data/repo/issues/pageInfo/hasNextPage", body_pointer = "/variables/after" }}

[[collection]]
name = "events"
url = "{events}"
key = "/id"
pagination = {{ style = "cursor", param = "cursor", next_header = "X-Next-Cursor" }}
"#,
        db = db.display(),
        graphql = server.url("/graphql"),
        events = server.url("/header_cursor"),
    );
    let config = write(dir.path(), "crawl.toml", &text);
    let out = crawl(&[&config, "--quiet"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(sqlite_keys(&db, "gql_issues").await, (330, mock_keys(330)));
    assert_eq!(sqlite_keys(&db, "events").await, (330, mock_keys(330)));
}
