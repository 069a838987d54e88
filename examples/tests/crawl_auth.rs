//! Authentication and per-status rules through the `crawl` binary: tokens
//! kept apart per secret and scope, the OAuth2 refresh-token grant with
//! Basic client authentication, a login token in its own header, children
//! of deleted parents skipped (not failed), and pages skipped or retried by
//! rule, with exact rows and no secret in output or the database.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crawlpipe_sources::mock::{
    CHILDREN_PER_PARENT, LoginExpiry, LoginMock, MockConfig, MockServer, OAuthMock, child_deleted, child_item,
};
use support::{mock_keys, sqlite_keys, write};

/// Runs `crawl CONFIG` in `dir` with `env`, logging at trace level.
fn crawl_env(config: &str, dir: &Path, env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crawl"))
        .arg(config)
        .current_dir(dir)
        .env("RUST_LOG", "trace")
        .envs(env.iter().copied())
        .output()
        .expect("the crawl binary runs")
}

/// Asserts "SECRET" (in every test secret) is nowhere: stdout, stderr, the database file.
fn assert_no_secret(out: &Output, db: &Path) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stdout.contains("SECRET"), "a secret is in stdout:\n{stdout}");
    assert!(!stderr.contains("SECRET"), "a secret is in stderr");
    let file = std::fs::read(db).unwrap();
    assert!(
        !file.windows(6).any(|w| w == b"SECRET"),
        "a secret is in the database"
    );
}

/// The summary line of `collection` in the crawl's stdout.
fn summary_line(out: &Output, collection: &str) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.split_whitespace().next() == Some(collection))
        .unwrap_or_else(|| panic!("no summary line for {collection}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn collections_of_one_client_id_get_a_token_per_secret_and_scope() {
    let mut mock = MockConfig::new(120, 20);
    mock.oauth = OAuthMock {
        client_secret: "SECRETright-1".into(),
        token_ttl: Duration::from_secs(30),
        ..OAuthMock::default()
    };
    let server = MockServer::start(mock).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crawl.db");
    // One at a time, the wrong secret first: it must not set the secret
    // (nor the token) of the collections after it.
    let collection = |name: &str, secret: &str, scope: &str| {
        format!(
            r#"
[[collection]]
name = "{name}"
url = "{url}?need_scope={scope}"
auth = {{ type = "oauth2", token_url = "{token}", client_id = "mock-client", client_secret = "${{{secret}}}", scope = "{scope}" }}
"#,
            url = server.url("/protected"),
            token = server.url("/oauth/token"),
        )
    };
    let text = format!(
        r#"[runtime]
database = "sqlite://{db}"
concurrency = 1
max_resumes = 0

[defaults]
items = "/items"
key = "/id"
pagination = {{ style = "page", param = "page", start = 1, has_more = "/has_more" }}
{wrong}{read}{admin}"#,
        db = db.display(),
        wrong = collection("wrong", "WRONG_SECRET", "read"),
        read = collection("reader", "RIGHT_SECRET", "read"),
        admin = collection("admin", "RIGHT_SECRET", "admin"),
    );
    let config = write(dir.path(), "crawl.toml", &text);
    let out = crawl_env(
        &config,
        dir.path(),
        &[
            ("RIGHT_SECRET", "SECRETright-1"),
            ("WRONG_SECRET", "SECRETwrong-2"),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "one collection failed");
    assert_eq!(sqlite_keys(&db, "reader").await, (120, mock_keys(120)));
    assert_eq!(sqlite_keys(&db, "admin").await, (120, mock_keys(120)));
    let wrong = summary_line(&out, "wrong");
    assert!(
        wrong.contains("failed") && wrong.contains("/oauth/token") && wrong.contains("HTTP 401"),
        "{wrong}"
    );
    assert!(summary_line(&out, "reader").contains("completed"));
    assert!(summary_line(&out, "admin").contains("completed"));
    // A token for `read` and one for `admin`; the wrong secret got none.
    assert_eq!(server.token_issues(), 2);
    let scopes: BTreeSet<String> = server
        .token_requests()
        .iter()
        .map(|r| r["scope"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(scopes, BTreeSet::from(["read".to_owned(), "admin".to_owned()]));
    assert_no_secret(&out, &db);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refresh_token_grant_and_a_login_token_crawl_exactly_and_keep_their_secrets() {
    // 40 pages at 30 ms each: longer than several token lives.
    let mut mock = MockConfig::new(800, 20).latency(Duration::from_millis(30));
    mock.oauth = OAuthMock {
        client_secret: "SECRETclient-3".into(),
        refresh_token: "SECRETrefresh-4".into(),
        token_ttl: Duration::from_millis(500),
        basic_only: true,
        ..OAuthMock::default()
    };
    mock.login = LoginMock {
        password: "SECRETpassword-5".into(),
        ttl: Duration::from_millis(500),
        expiry: LoginExpiry::At,
        ..LoginMock::default()
    };
    let server = MockServer::start(mock).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crawl.db");
    let text = format!(
        r#"[runtime]
database = "sqlite://{db}"

[defaults]
items = "/items"
key = "/id"
pagination = {{ style = "page", param = "page", start = 1, has_more = "/has_more" }}

[[collection]]
name = "delegated"
url = "{protected}"
auth = {{ type = "oauth2", grant = "refresh_token", refresh_token = "${{REFRESH}}", client_auth = "basic", token_url = "{token}", client_id = "mock-client", client_secret = "${{CLIENT_SECRET}}" }}

[[collection]]
name = "session"
url = "{session}"
auth = {{ type = "token_request", token_url = "{login}", body_format = "form", fields = {{ username = "mock-user", password = "${{PASSWORD}}" }}, token = "/session/token", header = "X-Session-Token", prefix = "", expires_at = "/session/expires_at" }}
"#,
        db = db.display(),
        protected = server.url("/protected"),
        token = server.url("/oauth/token"),
        session = server.url("/session"),
        login = server.url("/login"),
    );
    let config = write(dir.path(), "crawl.toml", &text);
    let out = crawl_env(
        &config,
        dir.path(),
        &[
            ("REFRESH", "SECRETrefresh-4"),
            ("CLIENT_SECRET", "SECRETclient-3"),
            ("PASSWORD", "SECRETpassword-5"),
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(sqlite_keys(&db, "delegated").await, (800, mock_keys(800)));
    assert_eq!(sqlite_keys(&db, "session").await, (800, mock_keys(800)));
    let requests = server.token_requests();
    let refreshes: Vec<_> = requests.iter().filter(|r| r["route"] == "/oauth/token").collect();
    let logins = requests.iter().filter(|r| r["route"] == "/login").count();
    assert!(
        refreshes.len() >= 2 && logins >= 2,
        "tokens renewed: {requests:?}"
    );
    assert!(refreshes.iter().all(|r| r["client_auth"] == "basic"));
    // Renewed ahead of expiry: not every renewal answered a 401 (a loaded
    // machine may still send one request past a 500 ms token's life).
    let renewals = (refreshes.len() + logins - 2) as u64;
    assert!(
        server.rejected_tokens() < renewals,
        "{} rejected for {renewals} renewals",
        server.rejected_tokens()
    );
    assert_no_secret(&out, &db);
}

#[tokio::test(flavor = "multi_thread")]
async fn children_of_deleted_parents_and_a_missing_page_are_skipped_counted_and_shown() {
    let server = MockServer::start(MockConfig::new(30, 10)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crawl.db");
    let text = format!(
        r#"[runtime]
database = "sqlite://{db}"

[defaults]
retry = {{ max_attempts = 4, initial_backoff_ms = 5, max_backoff_ms = 20 }}

[[collection]]
name = "parents"
url = "{base}/page"
items = "/items"
key = "/id"
pagination = {{ style = "page" }}

[[collection]]
name = "children"
parent = "parents"
url = "{base}/children/{{/name}}"
items = "/items"
key = "/id"
on_status = {{ 404 = "skip" }}

[[collection]]
name = "gappy"
url = "{base}/scripted?on_page=2&status=410"
items = "/items"
key = "/id"
pagination = {{ style = "page", has_more = "/has_more" }}
on_status = {{ "4xx" = "skip" }}

[[collection]]
name = "limited"
url = "{base}/scripted?on_page=2&status=403&message=Rate%20limit%20exceeded&times=2"
items = "/items"
key = "/id"
pagination = {{ style = "page", has_more = "/has_more" }}
on_status = {{ 403 = "fail" }}
on_body = {{ "rate limit" = "retry" }}
"#,
        db = db.display(),
        base = server.base_url(),
    );
    let config = write(dir.path(), "crawl.toml", &text);
    let out = crawl_env(&config, dir.path(), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Every child of a live parent, none of a deleted one.
    let expected: BTreeSet<String> = (0..30)
        .filter(|i| !child_deleted(*i))
        .flat_map(|i| (0..CHILDREN_PER_PARENT).map(move |j| child_item(i, j)["id"].to_string()))
        .collect();
    assert_eq!(
        sqlite_keys(&db, "children").await,
        (expected.len() as i64, expected)
    );
    assert_eq!(sqlite_keys(&db, "parents").await, (30, mock_keys(30)));
    // The page before the gone one, then the end; the rate limit healed.
    assert_eq!(sqlite_keys(&db, "gappy").await, (10, mock_keys(10)));
    assert_eq!(sqlite_keys(&db, "limited").await, (30, mock_keys(30)));

    // Shown in the summary, never silent.
    assert!(stdout.contains("3 skipped by a rule"), "{stdout}");
    for i in [7, 17, 27] {
        let named = format!(
            "  skipped children/{i}: the first page: GET {}/children/item-{i}: HTTP 404",
            server.base_url()
        );
        assert!(stdout.contains(&named), "{named}\n{stdout}");
    }
    let gappy = summary_line(&out, "gappy");
    assert!(
        gappy.contains("completed") && gappy.contains("1 page(s) skipped") && gappy.contains("HTTP 410"),
        "{gappy}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let logged = stderr
        .lines()
        .filter(|l| l.contains("page skipped by a rule"))
        .count();
    assert_eq!(logged, 4, "each skip logged once (3 children, 1 page):\n{stderr}");
}

#[test]
fn bad_rules_and_grants_exit_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crawl.db");
    for (extra, want) in [
        (r#"on_status = { 200 = "skip" }"#, "on_status"),
        (r#"on_status = { 404 = "ignore" }"#, "ignore"),
        (r#"on_body = { "" = "retry" }"#, "on_body"),
        (
            r#"auth = { type = "oauth2", grant = "refresh_token", token_url = "http://127.0.0.1:9/t", client_id = "c", client_secret = "s" }"#,
            "auth.refresh_token",
        ),
        (
            r#"auth = { type = "token_request", token_url = "http://127.0.0.1:9/l", lifetime = "soon" }"#,
            "lifetime",
        ),
        (
            r#"auth = { type = "oauth2", token_url = "http://127.0.0.1:9/t", client_id = "c", client_secret = "s", scopes = "x" }"#,
            "scopes",
        ),
        (
            r#"auth = { type = "token_request", token_url = "http://127.0.0.1:9/l", token = "session.token" }"#,
            "auth.token",
        ),
    ] {
        let text = format!(
            "[runtime]\ndatabase = \"sqlite://{}\"\n\n[[collection]]\nname = \"c\"\nurl = \"http://127.0.0.1:9/x\"\n{extra}\n",
            db.display()
        );
        let config = write(dir.path(), "crawl.toml", &text);
        let out = crawl_env(&config, dir.path(), &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra}: {stderr}");
        assert!(stderr.contains(want), "{extra}: {stderr}");
        assert!(stderr.contains("line 7"), "{extra}: {stderr}");
    }
}
