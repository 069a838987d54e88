//! Record transforms (`transform = { add, remove }`) through the real `crawl`
//! binary against the mock server's repos → issues tree: a child's records
//! carry its parent's fields, typed columns see added fields, removed fields
//! are gone from `data`, and a bad transform is refused at load with its line.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use crawlpipe_sinks::sqlx::{self, AssertSqlSafe, Row};
use crawlpipe_sources::mock::{MockConfig, MockServer, tree_issue, tree_issue_count, tree_repo};
use serde_json::{Value, json};
use support::{crawl, write};

fn tree_mock(repos: usize, per_page: usize) -> MockConfig {
    let mut config = MockConfig::new(10, per_page);
    config.tree_repos = repos;
    config
}

fn assert_success(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every row of `sql` as (first column, the rest as JSON text).
async fn rows(db: &Path, sql: &str) -> BTreeMap<String, Vec<Option<String>>> {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", db.display()))
        .await
        .unwrap();
    let rows = sqlx::query(AssertSqlSafe(sql.to_owned()))
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    rows.iter()
        .map(|r| {
            let rest = (1..r.len()).map(|i| r.get::<Option<String>, _>(i)).collect();
            (r.get::<String, _>(0), rest)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn typed_columns_see_added_fields_and_removed_fields_are_gone() {
    let server = MockServer::start(tree_mock(4, 5)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crawl.db");
    let base = server.base_url();
    let toml = format!(
        r#"[runtime]
database = "sqlite://{db}"

[[collection]]
name = "repos"
url = "{base}/tree/repos"
key = "/id"
pagination = {{ style = "link_header" }}
columns = {{ label = "/label", site = "/meta/site", n = {{ pointer = "/n", type = "integer" }} }}
transform = {{ add = {{ "/label" = "{{/name}} (#{{/id}})", "/meta/site" = "${{SITE}}", "/n" = "{{/id}}", "/day" = "{{now|date}}" }}, remove = ["/name", "/updated_at"] }}
"#,
        db = db.display()
    );
    let config = write(dir.path(), "crawl.toml", &toml);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_crawl"))
        .args([&config, "--quiet"])
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .env("SITE", "{example}")
        .output()
        .unwrap();
    assert_success(&out);

    // Typed columns filled from the added fields; the removed field gone.
    let today = crawlpipe_sources::dates::Timestamp::now()
        .strftime("%Y-%m-%d")
        .to_string();
    let repos = rows(&db, "SELECT key, label, site, CAST(n AS TEXT), data FROM repos").await;
    assert_eq!(repos.len(), 4);
    for r in 1..=4usize {
        let row = &repos[&r.to_string()];
        assert_eq!(row[0].as_deref(), Some(format!("repo-{r} (#{r})").as_str()));
        assert_eq!(row[1].as_deref(), Some("{example}"));
        assert_eq!(row[2].as_deref(), Some(r.to_string().as_str()));
        let data: Value = serde_json::from_str(row[3].as_deref().unwrap()).unwrap();
        let mut expected = tree_repo(r, None);
        expected.as_object_mut().unwrap().remove("name");
        expected["label"] = json!(format!("repo-{r} (#{r})"));
        expected["meta"] = json!({"site": "{example}"});
        expected["n"] = json!(r);
        expected["day"] = json!(today);
        assert_eq!(data, expected);
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_child_collection_adds_its_parent_fields_to_every_record() {
    let server = MockServer::start(tree_mock(3, 4)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crawl.db");
    let base = server.base_url();
    let toml = format!(
        r#"[runtime]
database = "sqlite://{db}"

[[collection]]
name = "repos"
url = "{base}/tree/repos"
key = "/id"
pagination = {{ style = "link_header" }}

[[collection]]
name = "issues"
parent = "repos"
url = "{base}/tree/repos/{{/name}}/issues"
key = "/id"
pagination = {{ style = "link_header" }}

[collection.transform]
add = {{ "/repo" = "{{parent/name}}", "/repo_id" = "{{parent/id}}", "/ref" = "{{parent/name}}#{{/id}}", "/braces" = "{{{{x}}}}" }}
remove = ["/title", "/updated_at"]
"#,
        db = db.display()
    );
    let config = write(dir.path(), "crawl.toml", &toml);
    assert_success(&crawl(&[&config, "--quiet"], dir.path()));
    let issues = rows(&db, "SELECT key, parent, data FROM issues").await;
    let mut expected = BTreeMap::new();
    for r in 1..=3usize {
        for i in 0..tree_issue_count(r, 4) {
            let mut item = tree_issue(r, i);
            let id = item["id"].as_u64().unwrap();
            item.as_object_mut().unwrap().remove("title");
            item["repo"] = json!(format!("repo-{r}"));
            item["repo_id"] = json!(r);
            item["ref"] = json!(format!("repo-{r}#{id}"));
            item["braces"] = json!("{x}");
            expected.insert(id.to_string(), (r.to_string(), item));
        }
    }
    let got: BTreeMap<String, (String, Value)> = issues
        .into_iter()
        .map(|(k, row)| {
            let data = serde_json::from_str(row[1].as_deref().unwrap()).unwrap();
            (k, (row[0].clone().unwrap(), data))
        })
        .collect();
    assert_eq!(got, expected);
    server.shutdown().await;
}

#[test]
fn a_bad_transform_is_refused_at_load_naming_the_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("transform = { add = { \"/a\" = \"{id}\" } }", "not a placeholder"),
        (
            "transform = { add = { \"/a\" = \"{parent/id}\" } }",
            "only a child collection",
        ),
        ("transform = { remove = [\"a\"] }", "starts with '/'"),
        ("transform = { drop = [\"/a\"] }", "unknown field"),
        (
            "transform = { add = { \"/a\" = \"${NOT_SET_ANYWHERE}\" } }",
            "NOT_SET_ANYWHERE",
        ),
    ];
    for (line, said) in cases {
        let toml = format!("[[collection]]\nname = \"c\"\nurl = \"http://127.0.0.1:9/x\"\n{line}\n");
        let config = write(dir.path(), "bad.toml", &toml);
        let out = crawl(&[&config, "--check"], dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{line}: {stderr}");
        assert!(stderr.contains(said), "{line}: {stderr}");
        assert!(stderr.contains("line 4"), "{line}: {stderr}");
        assert!(stderr.contains("transform"), "{line}: {stderr}");
    }
}
