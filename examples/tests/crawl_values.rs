//! `values` collections through the real `crawl` binary: a list written in
//! the file is the parent of a child collection against the mock server's
//! tree (one child per value, exact rows), and a bad list is refused at load
//! naming the key and line.

mod support;

use std::collections::BTreeSet;

use crawlpipe_sinks::sqlx::{self, Row};
use crawlpipe_sources::mock::{MockConfig, MockServer, tree_issue, tree_issue_count};
use support::{crawl, write};

#[tokio::test(flavor = "multi_thread")]
async fn a_values_collection_fans_a_child_out_over_its_values() {
    let mut config = MockConfig::new(10, 3);
    config.tree_repos = 5;
    let server = MockServer::start(config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crawl.db");
    let toml = format!(
        r#"[runtime]
database = "sqlite://{db}"

[[collection]]
name = "picked"
values = [{{ name = "repo-2" }}, {{ name = "repo-5" }}]
key = "/name"

[[collection]]
name = "issues"
parent = "picked"
url = "{base}/tree/repos/{{/name}}/issues"
key = "/id"
pagination = {{ style = "link_header" }}
"#,
        db = db.display(),
        base = server.base_url()
    );
    let config = write(dir.path(), "crawl.toml", &toml);
    let out = crawl(&[&config, "--quiet"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", db.display()))
        .await
        .unwrap();
    let picked: BTreeSet<String> = sqlx::query("SELECT key FROM picked")
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let issues: BTreeSet<(String, String)> = sqlx::query("SELECT key, parent FROM issues")
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    pool.close().await;
    assert_eq!(picked, ["repo-2".to_owned(), "repo-5".to_owned()].into());
    let expected: BTreeSet<(String, String)> = [2usize, 5]
        .into_iter()
        .flat_map(|r| {
            (0..tree_issue_count(r, 3))
                .map(move |i| (tree_issue(r, i)["id"].to_string(), format!("repo-{r}")))
        })
        .collect();
    assert_eq!(issues, expected);
    assert!(
        server
            .requests()
            .iter()
            .all(|r| r.contains("/repo-2/") || r.contains("/repo-5/")),
        "{:?}",
        server.requests()
    );
    server.shutdown().await;
}

#[test]
fn a_bad_values_list_is_refused_at_load_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "url = \"http://127.0.0.1:9/x\"\nvalues = [{ a = 1 }]",
            "line 5",
            "remove `url`",
        ),
        ("values = [\"eu\"]", "line 4", "is not a table"),
        (
            "values = [{ a = 1 }]\nincremental = { param = \"since\", field = \"/a\" }",
            "line 4",
            "cannot have `parent` or `incremental`",
        ),
    ];
    for (lines, line, said) in cases {
        let toml = format!("[[collection]]\nname = \"c\"\nkey = \"/a\"\n{lines}\n");
        let config = write(dir.path(), "bad.toml", &toml);
        let out = crawl(&[&config, "--check"], dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{lines}: {stderr}");
        assert!(
            stderr.contains(said) && stderr.contains(line) && stderr.contains("values"),
            "{lines}: {stderr}"
        );
    }
}
