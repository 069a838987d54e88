//! The second hardening review, through the real `crawl` binary: no child
//! silently left out on SQLite, parent values that cannot leave a child's
//! path, server text that cannot drive the terminal or forge log lines,
//! one crawler per SQLite file whatever the path, and the status server's
//! HTTP surface (Host check, CSP, nosniff, failed run-now attempts).

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crawlpipe_sources::mock::{HOSTILE_TEXT, MockConfig, MockServer, tree_issue, tree_issue_count};
use support::{crawl, signal, sqlite_keys, wait_bounded, write};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Control characters no output may carry raw: ESC, BEL, CR.
const RAW: [char; 3] = ['\u{1b}', '\u{7}', '\r'];

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_child_is_crawled_on_sqlite_when_one_parent_lacks_the_field() {
    let mut mock = MockConfig::new(10, 5);
    mock.tree_repos = 100;
    mock.tree_nameless_repo = Some(60);
    let server = MockServer::start(mock).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crawl.db");
    // Default settings: one SQLite connection shared by parent, feeder and children.
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
url = "{base}/tree/repos/{{/name}}/issues"
pagination = {{ style = "link_header" }}
"#,
        db = db.display(),
        base = server.base_url()
    );
    let config = write(dir.path(), "crawl.toml", &toml);
    let mut child = Command::new(env!("CARGO_BIN_EXE_crawl"))
        .args([&config, "--quiet"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_bounded(&mut child, Duration::from_secs(120)).expect("the crawl ends");
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(status.code(), Some(1), "one child failed\n{stdout}\n{stderr}");
    assert!(!stderr.contains("feeding child collections failed"), "{stderr}");

    let expected: BTreeSet<String> = (1..=100)
        .filter(|r| *r != 60)
        .flat_map(|r| (0..tree_issue_count(r, 5)).map(move |i| tree_issue(r, i)["id"].to_string()))
        .collect();
    let (rows, keys) = sqlite_keys(&db, "issues").await;
    assert_eq!(
        keys, expected,
        "every child but the nameless parent's was crawled"
    );
    assert_eq!(rows as usize, expected.len());
    assert!(
        stdout.contains("99 done 0 running 1 failed of 100") && stdout.contains("failed issues/60"),
        "the summary counts every child: {stdout}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_parent_values_never_leave_the_child_path() {
    let server = MockServer::start(MockConfig::new(10, 5)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crawl.db");
    let toml = format!(
        r#"[runtime]
database = "sqlite://{db}"

[[collection]]
name = "parents"
url = "{base}/hostile/parents"

[[collection]]
name = "children"
parent = "parents"
url = "{base}/hostile/child/{{/name}}/items"
headers = {{ Authorization = "Bearer child-secret" }}
"#,
        db = db.display(),
        base = server.base_url()
    );
    let config = write(dir.path(), "crawl.toml", &toml);
    let out = crawl(&[&config, "--quiet"], dir.path());
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");

    let children: Vec<String> = server
        .requests()
        .into_iter()
        .filter(|r| r != "/hostile/parents")
        .collect();
    for request in &children {
        let path = request.split('?').next().unwrap_or_default();
        let segments: Vec<&str> = path.split('/').collect();
        assert!(
            segments.len() == 5 && segments[..3] == ["", "hostile", "child"] && segments[4] == "items",
            "a child's request left its path: {request:.200}"
        );
        assert!(!request.contains('?') && !request.contains('#'), "{request:.200}");
        assert!(!["", ".", ".."].contains(&segments[3]), "{request:.200}");
    }
    // `..`, `.`, the empty name and the hostile key's `..` are refused; the
    // nine others are requested, encoded.
    assert_eq!(children.len(), 9, "{children:?}");
    let encoded: BTreeSet<&str> = children.iter().map(|r| r.split('/').nth(3).unwrap()).collect();
    for value in [
        "%252e%252e",
        "%2F",
        "%3F",
        "%23",
        "%2F%2Fevil",
        "a%0D%0Ab",
        "a%00b",
    ] {
        assert!(encoded.contains(value), "{value} in {encoded:?}");
    }
    for failed in ["children/1", "children/2", "children/4"] {
        assert!(
            stdout.contains(&format!("failed {failed}: ")),
            "{failed}: {stdout}"
        );
    }
    assert!(
        stdout.contains("parent \"1\"") && stdout.contains("/name") && stdout.contains("\"..\""),
        "the refusal names the parent key, the field and the value: {stdout}"
    );
    assert!(!stdout.contains("child-secret") && !stderr.contains("child-secret"));
}

/// A running `crawl CONFIG --serve --quiet`.
fn serve(config: &str, dir: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_crawl"))
        .args([config, "--serve", "--quiet"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the crawl binary starts")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// One raw HTTP/1.1 request (`Connection: close`) to `port`; the head and body.
async fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> (String, String) {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        let mut request = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: 0\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        Ok::<_, std::io::Error>(text(&response))
    };
    let response = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .expect("an answer within 10 s")
        .unwrap_or_default();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (head.to_ascii_lowercase(), body.to_owned())
}

/// Polls (bounded) until `GET path` from 127.0.0.1 answers with a body for which `ok` holds.
async fn wait_for(port: u16, path: &str, ok: impl Fn(&str) -> bool) -> String {
    let host = format!("127.0.0.1:{port}");
    let mut last = String::new();
    for _ in 0..600 {
        last = http(port, "GET", path, &[("Host", &host)]).await.1;
        if ok(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{path} never matched: {last}");
}

#[tokio::test(flavor = "multi_thread")]
async fn server_text_is_escaped_in_logs_summary_and_status() {
    let server = MockServer::start(MockConfig::new(10, 5)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let toml = format!(
        r#"[runtime]
database = "sqlite://{db}"
metrics_addr = "127.0.0.1:{port}"
max_resumes = 0

[[collection]]
name = "graphql"
url = "{base}/hostile/graphql"
method = "POST"
body = {{ query = "{{ x }}" }}
items = "/data/x"
retry = {{ max_attempts = 1 }}

[[collection]]
name = "parents"
url = "{base}/hostile/parents"

[[collection]]
name = "children"
parent = "parents"
url = "{base}/hostile/child/{{/name}}/items"
"#,
        db = dir.path().join("crawl.db").display(),
        base = server.base_url()
    );
    let config = write(dir.path(), "crawl.toml", &toml);

    // One run to its end: logs on stderr (not a terminal: info level), the summary on stdout.
    let out = Command::new(env!("CARGO_BIN_EXE_crawl"))
        .arg(&config)
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    for (name, output) in [("stdout", &stdout), ("stderr", &stderr)] {
        assert!(
            !output.contains(RAW),
            "{name} carries raw control characters: {output:?}"
        );
        assert!(
            output.contains(&*crawlpipe_core::escape_outside(HOSTILE_TEXT)),
            "{name}: {output}"
        );
    }
    assert!(
        !stderr.lines().any(|l| l.starts_with("2026-01-01T00:00:00Z")),
        "no forged log line: {stderr}"
    );
    assert!(
        stdout.contains("failed children/denied\\u{1b}[2J"),
        "item-derived names too: {stdout}"
    );

    // The same errors on /status and /status/children while serving.
    let mut child = serve(&config, dir.path());
    let status = wait_for(port, "/status", |b| b.contains("denied")).await;
    let groups = wait_for(port, "/status/children", |b| b.contains("failing")).await;
    signal(&child, "TERM");
    let ended = wait_bounded(&mut child, Duration::from_secs(30));
    assert!(ended.is_some_and(|s| s.success()), "{ended:?}");
    // Error texts are escaped before they become JSON; a child's name stays
    // the identifier it is (JSON escapes it, the page shows it as text).
    let mut errors = Vec::new();
    for body in [&status, &groups] {
        assert!(!body.contains(RAW), "{body}");
        collect_errors(&serde_json::from_str(body).unwrap(), &mut errors);
    }
    assert!(
        errors.iter().all(|e| !e.contains(crawlpipe_core::is_control)),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("GraphQL error: denied\\u{1b}[2J\\u{7}\\r\\n2026")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("parent \"denied\\u{1b}[2J")),
        "{errors:?}"
    );
}

/// Every `error` and `last_error` string in a `/status` answer.
fn collect_errors(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match v.as_str() {
                    Some(text) if k == "error" || k == "last_error" => out.push(text.to_owned()),
                    _ => collect_errors(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_errors(v, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_crawlers_through_a_symlink_exclude_each_other() {
    let server = MockServer::start(MockConfig::new(100, 50)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (_, db) = support::page_config(dir.path(), &server, "items", "");
    let holder = crawlpipe_sinks::Database::open(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let locks = holder.lock(&["items"]).await.unwrap();
    // The same file through a symlink to it, and through a symlinked folder.
    let linked_dir = dir.path().join("linked");
    std::os::unix::fs::symlink(dir.path(), &linked_dir).unwrap();
    std::os::unix::fs::symlink(&db, dir.path().join("link.db")).unwrap();
    for path in [dir.path().join("link.db"), linked_dir.join("crawl.db")] {
        let config = write(
            dir.path(),
            "other.toml",
            &format!(
                "[runtime]\ndatabase = \"sqlite://{}\"\n[[collection]]\nname = \"items\"\nurl = \"{}/page\"\nitems = \"/items\"\npagination = {{ style = \"page\" }}\n",
                path.display(),
                server.base_url()
            ),
        );
        let out = crawl(&[&config, "--quiet"], dir.path());
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!("pid={}", std::process::id())),
            "{stderr}"
        );
    }
    assert_eq!(server.request_count(), 0, "nothing was fetched");
    locks.release().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_status_server_checks_host_sends_csp_and_limits_failed_run_now() {
    let server = MockServer::start(MockConfig::new(10, 5)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let toml = format!(
        "[runtime]\ndatabase = \"sqlite://{}\"\nmetrics_addr = \"127.0.0.1:{port}\"\nadmin_token = \"right-token\"\nstatus_hosts = [\"crawl.internal\"]\n\n[[collection]]\nname = \"items\"\nurl = \"{}/page\"\nitems = \"/items\"\npagination = {{ style = \"page\" }}\n",
        dir.path().join("crawl.db").display(),
        server.base_url()
    );
    let config = write(dir.path(), "crawl.toml", &toml);
    let mut child = serve(&config, dir.path());
    wait_for(port, "/status", |b| b.contains("items")).await;

    let bound = format!("127.0.0.1:{port}");
    for host in [bound.as_str(), "localhost", "crawl.internal:8080"] {
        let (head, _) = http(port, "GET", "/status", &[("Host", host)]).await;
        assert!(head.starts_with("http/1.1 200"), "{host}: {head}");
        assert!(head.contains("x-content-type-options: nosniff"), "{head}");
        assert!(
            head.contains("content-security-policy: default-src 'none'"),
            "{head}"
        );
    }
    let (head, _) = http(port, "GET", "/", &[("Host", &bound)]).await;
    assert!(
        head.contains("script-src 'sha256-") && head.contains("connect-src 'self'"),
        "{head}"
    );
    for host in ["rebound.evil.example", "rebound.evil.example:80", "127.0.0.2"] {
        let (head, body) = http(port, "GET", "/status", &[("Host", host)]).await;
        assert!(head.starts_with("http/1.1 403"), "{host}: {head}");
        assert!(!body.contains("items"), "{body}");
    }

    let run = "/collections/items/run";
    for _ in 0..10 {
        let (head, _) = http(
            port,
            "POST",
            run,
            &[("Host", &bound), ("Authorization", "Bearer wrong")],
        )
        .await;
        assert!(head.starts_with("http/1.1 401"), "{head}");
    }
    let (head, _) = http(
        port,
        "POST",
        run,
        &[("Host", &bound), ("Authorization", "Bearer wrong")],
    )
    .await;
    assert!(
        head.starts_with("http/1.1 429") && head.contains("retry-after: "),
        "{head}"
    );
    let (head, _) = http(
        port,
        "POST",
        run,
        &[("Host", &bound), ("Authorization", "Bearer right-token")],
    )
    .await;
    assert!(
        head.starts_with("http/1.1 429"),
        "locked out even with the token: {head}"
    );

    signal(&child, "TERM");
    let ended = wait_bounded(&mut child, Duration::from_secs(30));
    assert!(ended.is_some_and(|s| s.success()), "{ended:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_later_run_with_keys_of_the_other_type_fails_naming_both() {
    let server = MockServer::start(MockConfig::new(20, 10)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crawl.db");
    let toml = |route: &str, items: &str, pagination: &str| {
        format!(
            "[runtime]\ndatabase = \"sqlite://{}\"\n[[collection]]\nname = \"items\"\nurl = \"{}{route}\"\nitems = \"{items}\"\npagination = {pagination}\n",
            db.display(),
            server.base_url()
        )
    };
    // Integer keys first.
    let config = write(
        dir.path(),
        "crawl.toml",
        &toml("/page", "/items", "{ style = \"page\" }"),
    );
    let out = crawl(&[&config, "--quiet"], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Then the same table from a route whose keys are strings.
    let config = write(
        dir.path(),
        "crawl.toml",
        &toml(
            "/stripe",
            "/data",
            "{ style = \"cursor\", param = \"starting_after\", last_item = \"/id\", has_more = \"/has_more\" }",
        ),
    );
    let out = crawl(&[&config, "--quiet"], dir.path());
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.contains(
            "key \"/id\" is a string (\"obj_000000\") but this table's keys are integers (stored by an earlier run)"
        ),
        "{stdout}"
    );
    let (rows, _) = sqlite_keys(&db, "items").await;
    assert_eq!(rows, 20, "no string key mixed in");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_fan_out_counts_the_children_not_crawled() {
    let mut mock = MockConfig::new(10, 5).latency(Duration::from_millis(20));
    mock.tree_repos = 60;
    let server = MockServer::start(mock).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crawl.db");
    let toml = format!(
        "[runtime]\ndatabase = \"sqlite://{db}\"\n\n[[collection]]\nname = \"repos\"\nurl = \"{base}/tree/repos\"\npagination = {{ style = \"link_header\" }}\n\n[[collection]]\nname = \"issues\"\nparent = \"repos\"\nurl = \"{base}/tree/repos/{{/name}}/issues\"\npagination = {{ style = \"link_header\" }}\n",
        db = db.display(),
        base = server.base_url()
    );
    let config = write(dir.path(), "crawl.toml", &toml);
    let mut child = Command::new(env!("CARGO_BIN_EXE_crawl"))
        .args([&config, "--quiet"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The parent is in and children are under way, most of them still pending.
    support::wait_for_rows(&db, "repos", 60).await;
    support::wait_for_rows(&db, "issues", 1).await;
    signal(&child, "INT");
    let status = wait_bounded(&mut child, Duration::from_secs(60)).expect("the crawl stops");
    let stdout = text(&child.wait_with_output().unwrap().stdout);
    assert_eq!(status.code(), Some(130), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("issues/*"))
        .unwrap_or_else(|| panic!("{stdout}"));
    let number = |after: &str| -> u64 {
        let at = line.find(after).unwrap_or_else(|| panic!("{after:?} in {line}"));
        line[..at].split_whitespace().last().unwrap().parse().unwrap()
    };
    let (done, not_crawled) = (number(" done"), number(" not crawled"));
    let cancelled = if line.contains(" cancelled") {
        number(" cancelled")
    } else {
        0
    };
    let of: u64 = line
        .split(" of ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(not_crawled > 0, "{line}");
    assert_eq!(of, 60, "every child is counted, crawled or not: {line}");
    assert_eq!(done + cancelled + not_crawled + number(" failed"), 60, "{line}");

    // The next run crawls the rest: every child exactly once.
    let out = crawl(&[&config, "--quiet"], dir.path());
    assert!(out.status.success(), "{}", text(&out.stdout));
    let expected: BTreeSet<String> = (1..=60)
        .flat_map(|r| (0..tree_issue_count(r, 5)).map(move |i| tree_issue(r, i)["id"].to_string()))
        .collect();
    assert_eq!(sqlite_keys(&db, "issues").await.1, expected);
}
