//! Request shapes through the `crawl` binary, with exact rows: page numbers
//! and offsets written into the URL, the query string as written, numeric
//! cursors with an inverted stop flag, pages ending with a 204, `last_item`
//! cursors without `has_more`, next links ended by `has_more`, form bodies, and a child collection whose
//! POST body and header take values from its parent.

mod support;

use std::collections::BTreeSet;

use crawlpipe_sinks::sqlx::{self, AssertSqlSafe, Row};
use crawlpipe_sources::mock::{MockConfig, MockServer};
use serde_json::{Value, json};
use support::{crawl, mock_keys, sqlite_keys, write};

async fn data(db: &std::path::Path, table: &str) -> Vec<Value> {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT data FROM \"{table}\" ORDER BY key"
    )))
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    rows.iter()
        .map(|r| serde_json::from_str(&r.get::<String, _>(0)).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_request_shape_crawls_exactly() {
    let server = MockServer::start(MockConfig::new(25, 10)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crawl.db");
    let url = |p: &str| server.url(p);
    let text = format!(
        r#"[runtime]
database = "sqlite://{db}"

[[collection]]
name = "numbered"
url = "{numbered}"
items = "/items"
pagination = {{ style = "page" }}

[[collection]]
name = "slices"
url = "{slices}"
pagination = {{ style = "offset", limit = 10 }}

[[collection]]
name = "scalar"
url = "{scalar}"
items = "/items"
pagination = {{ style = "cursor", param = "page", next = "/next_page", stop_when = "/end_of_stream" }}

[[collection]]
name = "ending"
url = "{ending}"
items = "/items"
pagination = {{ style = "page" }}

[[collection]]
name = "after"
url = "{after}"
pagination = {{ style = "cursor", param = "after", last_item = "/id" }}

[[collection]]
name = "forms"
url = "{form}"
method = "POST"
body_format = "form"
body = {{ q = "a b", page = 1 }}
items = "/items"
pagination = {{ style = "cursor", next = "/next", body_pointer = "/page" }}

[[collection]]
name = "more"
url = "{more}"
items = "/items"
pagination = {{ style = "next_url", next = "/next_page", has_more = "/has_more" }}
"#,
        db = db.display(),
        numbered = url("/numbered/{page}/info.json"),
        slices = url("/slice?range={offset},{limit}&fields=List(id,name)"),
        scalar = url("/scalar?q=(a:b)"),
        ending = url("/ending?end=204"),
        after = url("/after"),
        form = url("/form"),
        more = url("/next_more"),
    );
    let config = write(dir.path(), "crawl.toml", &text);
    let out = crawl(&[&config, "--quiet"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for table in ["numbered", "slices", "scalar", "ending", "after", "forms", "more"] {
        assert_eq!(sqlite_keys(&db, table).await, (25, mock_keys(25)), "{table}");
    }
    let requests: BTreeSet<String> = server.requests().into_iter().collect();
    for expected in [
        "/numbered/3/info.json",
        "/slice?range=20,10&fields=List(id,name)",
        "/scalar?q=(a:b)&page=3",
        "/ending?end=204&page=4",
        "/after?after=24",
    ] {
        assert!(requests.contains(expected), "{expected} in {requests:?}");
    }
    assert!(
        !requests.contains("/scalar?q=(a:b)&page=4"),
        "the stop flag ended the stream"
    );
    assert!(requests.contains("/next_more?page=3"));
    assert!(
        !requests.contains("/next_more?page=4"),
        "has_more false ended the next links"
    );
    assert!(server.posted().contains(&json!("page=3&q=a+b")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_child_body_and_header_take_values_from_its_parent() {
    let server = MockServer::start(MockConfig::new(5, 10)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crawl.db");
    let text = format!(
        r#"[runtime]
database = "sqlite://{db}"

[[collection]]
name = "repos"
url = "{repos}"
items = "/items"
pagination = {{ style = "page" }}

[[collection]]
name = "details"
parent = "repos"
url = "{echo}"
method = "POST"
body = {{ id = "{{/id}}", query = "repo {{ name: \"{{/name}}\" }}" }}
headers = {{ X-Parent = "parent {{/name}}" }}
items = "/items"
"#,
        db = db.display(),
        repos = server.url("/page"),
        echo = server.url("/echo"),
    );
    let config = write(dir.path(), "crawl.toml", &text);
    let out = crawl(&[&config, "--quiet"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows = data(&db, "details").await;
    let expected: Vec<Value> = (0..5)
        .map(|i| {
            json!({
                "id": i,
                "body": { "id": i, "query": format!("repo {{ name: \"item-{i}\" }}") },
                "x_parent": format!("parent item-{i}"),
            })
        })
        .collect();
    assert_eq!(rows, expected);
}
