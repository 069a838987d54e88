//! APIs shaped like real ones: POST bodies with a cursor inside, GraphQL
//! connections, cursors in response headers, `has_more` on offset and page
//! styles; resume from a stored body cursor; configuration errors.

mod support;

use crawlpipe_core::{Cursor, FetchErrorKind, Paged, StageError};
use crawlpipe_sources::mock::{GRAPHQL_ERROR, MockConfig, graphql_cursor, search_cursor};
use crawlpipe_sources::{HttpSourceConfig, JsonSource, Pagination};
use serde_json::json;
use support::*;

fn search_config(url: String, page_size: u64) -> HttpSourceConfig {
    HttpSourceConfig::new(url)
        .items("/results")
        .post(json!({ "page_size": page_size, "filter": { "kind": "all" } }))
        .pagination(Pagination::Cursor {
            param: None,
            next: Some("/next_cursor".into()),
            last_item: None,
            has_more: Some("/has_more".into()),
            body_pointer: Some("/start_cursor".into()),
            next_header: None,
            stop_when: None,
        })
}

fn graphql_config(url: String) -> HttpSourceConfig {
    let doc = format!(
        r#"
        url = "{url}"
        method = "POST"
        body = {{ query = "query($after: String) {{ repo {{ issues(first: 30, after: $after) {{ nodes {{ id name }} pageInfo {{ endCursor hasNextPage }} }} }} }}", variables = {{ first = 30 }} }}
        items = "/data/repo/issues/nodes"
        pagination = {{ style = "cursor", next = "/data/repo/issues/pageInfo/endCursor", has_more = "/data/repo/issues/pageInfo/hasNextPage", body_pointer = "/variables/after" }}
        "#
    );
    toml::from_str(&doc).expect("valid TOML")
}

#[tokio::test]
async fn post_body_cursor_crawls_every_item_with_the_token_in_the_body() {
    let server = server(MockConfig::new(250, 100)).await;
    let (report, items) = crawl(&search_config(server.url("/search"), 40), fast_retry(1), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 250);
    let posted = server.posted();
    assert_eq!(posted.len(), 7);
    assert_eq!(posted[0], json!({ "page_size": 40, "filter": { "kind": "all" } }));
    assert_eq!(
        posted[1],
        json!({ "page_size": 40, "filter": { "kind": "all" }, "start_cursor": search_cursor(40) })
    );
}

#[tokio::test]
async fn body_cursors_are_distinct_urls_with_the_token_in_the_fragment() {
    let server = server(MockConfig::new(100, 100)).await;
    let mut source = JsonSource::from_config(&search_config(server.url("/search?v=1"), 30), &ctx()).unwrap();
    assert_eq!(source.first_cursor().unwrap().as_str(), server.url("/search?v=1"));
    let first = source.fetch(None).await.unwrap();
    let next = first.next.expect("a second page");
    assert_eq!(next.as_str(), server.url("/search?v=1#cursor=n_30"));
    let second = source.fetch(Some(&next)).await.unwrap();
    assert_ne!(second.next.as_ref(), Some(&next));
    // The fragment is never sent.
    assert!(server.requests().iter().all(|r| r == "/search?v=1"));
}

#[tokio::test]
async fn resume_from_a_stored_body_cursor_yields_exactly_the_rest() {
    let server = server(MockConfig::new(230, 100)).await;
    let config = search_config(server.url("/search"), 50);
    // A cursor as a checkpoint stores it, given to a new source as after a restart.
    let stored = Cursor::new(format!("{}#cursor={}", server.url("/search"), search_cursor(100)));
    let (report, items) = crawl(&config, fast_retry(1), Some(stored)).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(ids(&items), (100..230).collect::<Vec<_>>());
    assert_eq!(server.posted()[0]["start_cursor"], json!(search_cursor(100)));
}

#[tokio::test]
async fn graphql_connection_pages_by_variables_after_until_has_next_page_is_false() {
    let server = server(MockConfig::new(95, 100)).await;
    let (report, items) = crawl(&graphql_config(server.url("/graphql")), fast_retry(1), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 95);
    let posted = server.posted();
    // 30 + 30 + 30 + 5: the last page's endCursor is not followed.
    assert_eq!(posted.len(), 4);
    assert!(posted[0]["variables"].get("after").is_none());
    assert_eq!(
        posted[1]["variables"],
        json!({ "first": 30, "after": graphql_cursor(29) })
    );
}

#[tokio::test]
async fn a_graphql_errors_answer_fails_naming_the_message() {
    let server = server(MockConfig::new(50, 100)).await;
    let mut config = graphql_config(server.url("/graphql"));
    config.body = Some(crawlpipe_sources::Body(
        json!({ "query": "query { repo { isues { nodes { id } } } }" }),
    ));
    let (report, items) = crawl(&config, fast_retry(3), None).await;
    let text = failure_text(&report);
    assert!(text.contains(GRAPHQL_ERROR), "{text}");
    assert!(
        text.contains("1 attempt"),
        "a validation error is not retried: {text}"
    );
    assert!(items.is_empty());
    let mut source = JsonSource::from_config(&config, &ctx()).unwrap();
    assert_eq!(
        source.fetch(None).await.unwrap_err().kind(),
        FetchErrorKind::Permanent
    );
}

#[tokio::test]
async fn header_cursor_is_sent_back_until_the_header_is_empty() {
    let server = server(MockConfig::new(330, 100)).await;
    let config: HttpSourceConfig = toml::from_str(&format!(
        "url = \"{}\"\npagination = {{ style = \"cursor\", param = \"cursor\", next_header = \"X-Next-Cursor\" }}\n",
        server.url("/header_cursor")
    ))
    .unwrap();
    let (report, items) = crawl(&config, fast_retry(1), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 330);
    assert_eq!(
        server.requests(),
        [
            "/header_cursor",
            "/header_cursor?cursor=h_100",
            "/header_cursor?cursor=h_200",
            "/header_cursor?cursor=h_300"
        ]
    );
}

#[tokio::test]
async fn offset_with_has_more_stops_without_an_empty_page() {
    let server = server(MockConfig::new(1000, 100)).await;
    let config = HttpSourceConfig::new(server.url("/offset"))
        .items("/results")
        .pagination(Pagination::Offset {
            offset_param: "offset".into(),
            limit_param: "limit".into(),
            limit: 100,
            total: None,
            has_more: Some("/has_more".into()),
            stop_when: None,
        });
    let (report, items) = crawl(&config, fast_retry(1), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 1000);
    // Without has_more a full last page would cost an 11th, empty request.
    assert_eq!(server.request_count(), 10);
}

#[tokio::test]
async fn page_with_has_more_stops_without_an_empty_page() {
    let server = server(MockConfig::new(950, 100)).await;
    let config: HttpSourceConfig = toml::from_str(&format!(
        "url = \"{}\"\nitems = \"/items\"\npagination = {{ style = \"page\", has_more = \"/has_more\" }}\n",
        server.url("/page")
    ))
    .unwrap();
    let (report, items) = crawl(&config, fast_retry(1), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 950);
    assert_eq!(server.request_count(), 10);
}

#[tokio::test]
async fn a_repeated_body_cursor_fails_the_collection() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    // A server whose cursors cycle a → b → a.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let app = axum::Router::new().fallback(move || {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        let next = if n.is_multiple_of(2) { "a" } else { "b" };
        async move { axum::Json(json!({ "results": [{ "id": n }], "next_cursor": next, "has_more": true })) }
    });
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let config = search_config(format!("http://{addr}/search"), 1);
    let (report, items) = crawl(&config, fast_retry(1), None).await;
    match &report.outcome.failure().expect("failed").error {
        StageError::RepeatedCursor { cursor, .. } => {
            assert!(cursor.as_str().ends_with("#cursor=a"), "{cursor:?}")
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(items.len(), 3);
    server.abort();
}

#[test]
fn configuration_errors_name_the_key() {
    let ctx = ctx();
    let err = |doc: &str| {
        let config: HttpSourceConfig = toml::from_str(doc).unwrap_or_else(|e| panic!("{doc}: {e}"));
        JsonSource::from_config(&config, &ctx).unwrap_err().to_string()
    };
    let base = "url = \"https://a.test/x\"\n";
    let cases = [
        (
            "method = \"POST\"\npagination = { style = \"cursor\", param = \"c\", body_pointer = \"/c\", next = \"/n\" }",
            "exactly one place for the token",
        ),
        (
            "method = \"POST\"\npagination = { style = \"cursor\", next = \"/n\" }",
            "`param` (a query parameter) or `body_pointer`",
        ),
        (
            "pagination = { style = \"cursor\", body_pointer = \"/c\", next = \"/n\" }",
            "pagination.body_pointer needs method = \"POST\"",
        ),
        ("body = { a = 1 }", "`body` needs method = \"POST\""),
        (
            "method = \"POST\"\nbody = { c = 1 }\npagination = { style = \"cursor\", body_pointer = \"/c/d\", next = \"/n\" }",
            "pagination.body_pointer",
        ),
        (
            "pagination = { style = \"cursor\", param = \"c\", next = \"/n\", next_header = \"X-Next\" }",
            "exactly one of `next`, `last_item` and `next_header`",
        ),
        (
            "auth = { type = \"api_key\", value = \"k\" }",
            "exactly one of `header` and `query`",
        ),
        (
            "auth = { type = \"bearer\", token = \"\" }",
            "auth.token is empty",
        ),
        (
            "auth = { type = \"oauth2\", token_url = \"ftp://a.test/t\", client_id = \"i\", client_secret = \"s3cret\" }",
            "auth.token_url",
        ),
    ];
    for (doc, want) in cases {
        let text = err(&format!("{base}{doc}\n"));
        assert!(text.contains(want), "{doc}: {text}");
        assert!(!text.contains("s3cret"), "{text}");
    }
    assert!(toml::from_str::<HttpSourceConfig>("method = \"PUT\"\n").is_err());
    assert!(
        toml::from_str::<HttpSourceConfig>("auth = { type = \"bearer\", token = \"t\", extra = 1 }\n")
            .is_err()
    );
}
