//! robots.txt through the `crawl` binary: disallowed pages never fetched,
//! the crawl delay kept between requests, a disallowed start URL refused
//! (exit 2, naming the rule), a missing file allowing all, an unavailable
//! one fetching nothing, `robots = false`, JSON collections opting in, a
//! configured `user_agent` matched and sent, and child collections' URLs.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crawlpipe_sources::mock::{CHILDREN_PER_PARENT, MockConfig, MockServer, RobotsMock, child_item};
use crawlpipe_sources::robots::DEFAULT_USER_AGENT;
use support::{sqlite_keys, write};

/// Scraped pages 1 to 3 allowed for us, the rest of `/html` disallowed
/// (line 8); every other agent is shut out.
const ROBOTS: &str = "\
# the mock's robots.txt
User-agent: otherbot
Disallow: /

User-agent: crawlpipe
Allow: /html?page=1
Allow: /html?page=2
Disallow: /html
Allow: /html?page=3
Crawl-delay: 0.3
Sitemap: /sitemap.xml

User-agent: *
Disallow: /
";

/// Runs `crawl CONFIG` (logs at info) to its end.
fn crawl(config: &str, dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crawl"))
        .arg(config)
        .current_dir(dir)
        .env("RUST_LOG", "info")
        .output()
        .expect("the crawl binary runs")
}

fn text(out: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A config with one scraped collection `pages` starting at `start`, and
/// `extra` keys in it.
fn scrape_config(dir: &Path, server: &MockServer, start: &str, extra: &str) -> String {
    let text = format!(
        r#"[runtime]
database = "sqlite://{db}"
max_resumes = 0

[[collection]]
name = "pages"
url = "{base}{start}"
scrape = {{ item = "section", next = "link[rel=next] @href", fields = {{ title = "h2" }} }}
{extra}
"#,
        db = dir.join("crawl.db").display(),
        base = server.base_url(),
    );
    write(dir, "crawl.toml", &text)
}

fn html_requests(server: &MockServer) -> Vec<String> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("/html"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn disallowed_pages_are_never_fetched_and_requests_keep_the_crawl_delay() {
    let server = MockServer::start(
        MockConfig::new(10, 10)
            .html(6, 2, 0)
            .robots(RobotsMock::file(ROBOTS)),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = scrape_config(dir.path(), &server, "/html?page=1", "");
    let out = crawl(&config, dir.path());
    assert!(out.status.success(), "{}", text(&out));

    // robots.txt once, then pages 1 to 3; page 4 is disallowed, so neither
    // it nor anything after it is requested.
    assert_eq!(
        server.requests(),
        vec!["/robots.txt", "/html?page=1", "/html?page=2", "/html?page=3"],
        "{}",
        text(&out)
    );
    let (rows, _) = sqlite_keys(&dir.path().join("crawl.db"), "pages").await;
    assert_eq!(rows, 6);
    // Every request, robots.txt included, at least the crawl delay apart
    // (arrival times; a few ms of scheduling noise allowed).
    let times: Vec<Duration> = server.request_times().into_iter().map(|(t, _)| t).collect();
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= Duration::from_millis(290), "gap {gap:?} in {times:?}");
    }
    // The skip is logged and shown, naming the URL and the rule.
    let all = text(&out);
    let rule = format!(
        "robots.txt {base}/robots.txt disallows {base}/html?page=4 for user agent crawlpipe (line 8: Disallow: /html)",
        base = server.base_url()
    );
    assert!(all.contains(&rule), "{rule}\n{all}");
    assert!(all.contains("page skipped by a rule"), "{all}");
    assert!(all.contains("1 page(s) skipped"), "{all}");
    // The default User-Agent names the project and its version, on every request.
    assert!(DEFAULT_USER_AGENT.starts_with(concat!("crawlpipe/", env!("CARGO_PKG_VERSION"))));
    assert!(
        server.user_agents().iter().all(|a| a == DEFAULT_USER_AGENT),
        "{:?}",
        server.user_agents()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_disallowed_start_url_exits_2_naming_the_collection_url_and_rule() {
    let server = MockServer::start(MockConfig::new(10, 10).robots(RobotsMock::file(ROBOTS)))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = scrape_config(dir.path(), &server, "/html?page=5", "");
    let out = crawl(&config, dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("collection \"pages\""), "{stderr}");
    assert!(
        stderr.contains(&format!("{}/html?page=5", server.base_url())),
        "{stderr}"
    );
    assert!(stderr.contains("line 8: Disallow: /html"), "{stderr}");
    assert_eq!(server.requests(), vec!["/robots.txt"], "no page requested");
    assert!(
        !dir.path().join("crawl.db").exists(),
        "refused before the database"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_robots_txt_allows_everything() {
    let server = MockServer::start(MockConfig::new(10, 10).html(4, 2, 0))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = scrape_config(dir.path(), &server, "/html?page=1", "");
    let out = crawl(&config, dir.path());
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(server.requests()[0], "/robots.txt");
    assert_eq!(html_requests(&server).len(), 4);
    assert_eq!(sqlite_keys(&dir.path().join("crawl.db"), "pages").await.0, 8);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unavailable_robots_txt_fetches_no_page_and_fails_resumably() {
    for status in [500, 503] {
        let server = MockServer::start(
            MockConfig::new(10, 10)
                .html(4, 2, 0)
                .robots(RobotsMock::Status(status)),
        )
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = scrape_config(dir.path(), &server, "/html?page=1", "");
        let out = crawl(&config, dir.path());
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(html_requests(&server).is_empty(), "{:?}", server.requests());
        let all = text(&out);
        assert!(
            all.contains("is unavailable, so nothing is fetched from its host")
                && all.contains(&format!("HTTP {status}")),
            "{all}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn robots_false_fetches_everything_and_asks_for_no_robots_txt() {
    let server = MockServer::start(
        MockConfig::new(10, 10)
            .html(4, 2, 0)
            .robots(RobotsMock::file(ROBOTS)),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = scrape_config(dir.path(), &server, "/html?page=1", "robots = false");
    let out = crawl(&config, dir.path());
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(server.requests().len(), 4, "{:?}", server.requests());
    assert_eq!(html_requests(&server).len(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_json_collection_opts_in_and_its_user_agent_picks_the_group() {
    let robots = "User-agent: mybot\nDisallow: /page?page=3\n\nUser-agent: *\nDisallow: /\n";
    let server = MockServer::start(MockConfig::new(50, 10).robots(RobotsMock::file(robots)))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crawl.db");
    let text_config = format!(
        r#"[runtime]
database = "sqlite://{db}"

[defaults]
robots = true
user_agent = "mybot/2.0 (+https://example.test/bot)"

[[collection]]
name = "items"
url = "{base}/page"
items = "/items"
pagination = {{ style = "page" }}

[[collection]]
name = "unchecked"
url = "{base}/link"
pagination = {{ style = "link_header" }}
robots = false
"#,
        db = db.display(),
        base = server.base_url(),
    );
    let config = write(dir.path(), "crawl.toml", &text_config);
    let out = crawl(&config, dir.path());
    assert!(out.status.success(), "{}", text(&out));
    let pages: Vec<String> = server
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("/page"))
        .collect();
    assert_eq!(pages, vec!["/page?page=1", "/page?page=2"], "{}", text(&out));
    assert_eq!(sqlite_keys(&db, "items").await.0, 20);
    // `robots = false` wins over the default: the `*` group is not applied.
    assert_eq!(sqlite_keys(&db, "unchecked").await.0, 50);
    let robots_fetches = server.requests().iter().filter(|r| *r == "/robots.txt").count();
    assert_eq!(robots_fetches, 1);
    let agents: BTreeSet<String> = server.user_agents().into_iter().collect();
    assert_eq!(
        agents,
        BTreeSet::from(["mybot/2.0 (+https://example.test/bot)".to_owned()])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_child_whose_url_is_disallowed_is_skipped_and_counted() {
    let robots = "User-agent: *\nDisallow: /children/item-3$\n";
    let server = MockServer::start(MockConfig::new(10, 10).robots(RobotsMock::file(robots)))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crawl.db");
    let text_config = format!(
        r#"[runtime]
database = "sqlite://{db}"

[[collection]]
name = "parents"
url = "{base}/page"
items = "/items"
pagination = {{ style = "page" }}

[[collection]]
name = "children"
parent = "parents"
url = "{base}/children/{{/name}}"
items = "/items"
robots = true
on_status = {{ 404 = "skip" }}
"#,
        db = db.display(),
        base = server.base_url(),
    );
    let config = write(dir.path(), "crawl.toml", &text_config);
    let out = crawl(&config, dir.path());
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !server.requests().iter().any(|r| r == "/children/item-3"),
        "{:?}",
        server.requests()
    );
    let expected: BTreeSet<String> = (0..10)
        .filter(|i| *i != 3 && !crawlpipe_sources::mock::child_deleted(*i))
        .flat_map(|i| (0..CHILDREN_PER_PARENT).map(move |j| child_item(i, j)["id"].to_string()))
        .collect();
    assert_eq!(
        sqlite_keys(&db, "children").await,
        (expected.len() as i64, expected)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("2 skipped by a rule"), "{}", text(&out));
    assert!(stdout.contains("Disallow: /children/item-3$"), "{}", text(&out));
}

#[test]
fn a_bad_user_agent_exits_2_naming_the_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    for (agent, want) in [("/1.0", "product token"), ("bot/1.0\\u0007", "visible ASCII")] {
        let toml = format!(
            "[runtime]\ndatabase = \"sqlite://{db}\"\n\n[[collection]]\nname = \"a\"\nurl = \"http://127.0.0.1:9/\"\nuser_agent = \"{agent}\"\n",
            db = dir.path().join("crawl.db").display()
        );
        let config = write(dir.path(), "crawl.toml", &toml);
        let out = crawl(&config, dir.path());
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("line 7") && stderr.contains("user_agent") && stderr.contains(want),
            "{stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_user_agent_is_sent_on_token_robots_and_page_requests() {
    let server = MockServer::start(MockConfig::new(30, 10)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crawl.db");
    let text_config = format!(
        r#"[runtime]
database = "sqlite://{db}"

[[collection]]
name = "protected"
url = "{base}/protected"
items = "/items"
pagination = {{ style = "page", param = "page", start = 1, has_more = "/has_more" }}
auth = {{ type = "oauth2", token_url = "{base}/oauth/token", client_id = "mock-client", client_secret = "mock-secret-0123" }}
headers = {{ User-Agent = "ignored/0.0" }}
user_agent = "tokenbot/1.0"
robots = true
"#,
        db = db.display(),
        base = server.base_url(),
    );
    let config = write(dir.path(), "crawl.toml", &text_config);
    let out = crawl(&config, dir.path());
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(sqlite_keys(&db, "protected").await.0, 30);
    let requests = server.requests();
    assert!(requests.iter().any(|r| r == "/oauth/token") && requests.iter().any(|r| r == "/robots.txt"));
    let agents: BTreeSet<String> = server.user_agents().into_iter().collect();
    assert_eq!(
        agents,
        BTreeSet::from(["tokenbot/1.0".to_owned()]),
        "{requests:?}"
    );
}
