//! The raw-JSON source answers exactly as the `Value` source does: the same
//! items (as text), pages, cursors and errors, for every pagination style.

mod support;

use crawlpipe_core::{Paged, RawItem, Report};
use crawlpipe_sources::mock::{GRAPHQL_ERROR, MockConfig, MockServer};
use crawlpipe_sources::{HttpSourceConfig, JsonSource, Pagination, RawJsonSource};
use serde_json::{Value, json};
use support::*;

/// Crawls `config` through both sources and checks they agree; returns the items.
async fn both(config: &HttpSourceConfig) -> (Report, Vec<Value>) {
    let (value_report, values) = crawl(config, fast_retry(1), None).await;
    let raw = RawJsonSource::from_config(config, &ctx()).expect("source builds");
    let (raw_report, raws) = run("test", raw, fast_retry(1), None).await;
    let parsed: Vec<Value> = raws.iter().map(|r: &RawItem| r.to_value().unwrap()).collect();
    assert_eq!(parsed, values, "same items");
    assert_eq!(
        raw_report.progress.pages, value_report.progress.pages,
        "same pages"
    );
    assert_eq!(
        format!("{:?}", raw_report.outcome),
        format!("{:?}", value_report.outcome),
        "same outcome"
    );
    (raw_report, parsed)
}

fn cursor(
    param: Option<&str>,
    next: Option<&str>,
    last_item: Option<&str>,
    has_more: Option<&str>,
) -> Pagination {
    Pagination::Cursor {
        param: param.map(Into::into),
        next: next.map(Into::into),
        last_item: last_item.map(Into::into),
        has_more: has_more.map(Into::into),
        body_pointer: None,
        next_header: None,
        stop_when: None,
    }
}

async fn mock(items: usize, per_page: usize) -> MockServer {
    server(MockConfig::new(items, per_page)).await
}

#[tokio::test]
async fn every_pagination_style_yields_the_same_items() {
    let s = mock(950, 100).await;
    let configs = [
        HttpSourceConfig::new(s.url("/link")).pagination(Pagination::LinkHeader),
        HttpSourceConfig::new(s.url("/next_url"))
            .items("/value")
            .pagination(Pagination::NextUrl {
                next: "/@odata.nextLink".into(),
                has_more: None,
            }),
        HttpSourceConfig::new(s.url("/cursor?limit=100"))
            .items("/items")
            .pagination(cursor(
                Some("cursor"),
                Some("/response_metadata/next_cursor"),
                None,
                None,
            )),
        HttpSourceConfig::new(s.url("/stripe?limit=40"))
            .items("/data")
            .pagination(cursor(
                Some("starting_after"),
                None,
                Some("/id"),
                Some("/has_more"),
            )),
        HttpSourceConfig::new(s.url("/offset"))
            .items("/results")
            .pagination(Pagination::Offset {
                offset_param: "offset".into(),
                limit_param: "limit".into(),
                limit: 100,
                total: Some("/total".into()),
                has_more: None,
                stop_when: None,
            }),
        page_config(&s),
    ];
    for config in &configs {
        let (report, items) = both(config).await;
        assert!(
            report.outcome.is_completed(),
            "{}: {:?}",
            config.url,
            report.outcome
        );
        assert_eq!(items.len(), 950, "{}", config.url);
    }
}

#[tokio::test]
async fn post_bodies_graphql_and_header_cursors_yield_the_same_items() {
    let s = mock(130, 100).await;
    let search = HttpSourceConfig::new(s.url("/search"))
        .items("/results")
        .post(json!({ "page_size": 40, "filter": { "kind": "all" } }))
        .pagination(Pagination::Cursor {
            param: None,
            next: Some("/next_cursor".into()),
            last_item: None,
            has_more: Some("/has_more".into()),
            body_pointer: Some("/start_cursor".into()),
            next_header: None,
            stop_when: None,
        });
    let graphql: HttpSourceConfig = toml::from_str(&format!(
        r#"
        url = "{}"
        method = "POST"
        body = {{ query = "query($after: String) {{ repo {{ issues(first: 30, after: $after) {{ nodes {{ id name }} pageInfo {{ endCursor hasNextPage }} }} }} }}", variables = {{ first = 30 }} }}
        items = "/data/repo/issues/nodes"
        pagination = {{ style = "cursor", next = "/data/repo/issues/pageInfo/endCursor", has_more = "/data/repo/issues/pageInfo/hasNextPage", body_pointer = "/variables/after" }}
        "#,
        s.url("/graphql")
    ))
    .unwrap();
    let header: HttpSourceConfig = toml::from_str(&format!(
        "url = \"{}\"\npagination = {{ style = \"cursor\", param = \"cursor\", next_header = \"X-Next-Cursor\" }}\n",
        s.url("/header_cursor")
    ))
    .unwrap();
    for config in [&search, &graphql, &header] {
        let (report, items) = both(config).await;
        assert!(
            report.outcome.is_completed(),
            "{}: {:?}",
            config.url,
            report.outcome
        );
        assert_eq!(items.len(), 130, "{}", config.url);
    }
}

#[tokio::test]
async fn malformed_pages_fail_with_the_same_errors() {
    let s = mock(50, 100).await;
    for path in ["/invalid/json", "/invalid/not-array"] {
        let config = HttpSourceConfig::new(s.url(path)).items("/items");
        let (report, items) = both(&config).await;
        assert!(items.is_empty());
        let text = failure_text(&report);
        assert!(
            text.contains("not valid JSON") || text.contains("not an array"),
            "{path}: {text}"
        );
    }
    let config = page_config(&s).items("/nothing/here");
    let (report, _) = both(&config).await;
    assert!(failure_text(&report).contains("no items at \"/nothing/here\""));
    let mut graphql: HttpSourceConfig = toml::from_str(&format!(
        "url = \"{}\"\nmethod = \"POST\"\nitems = \"/data/repo/issues/nodes\"\n",
        s.url("/graphql")
    ))
    .unwrap();
    graphql.body = Some(crawlpipe_sources::Body(
        json!({ "query": "query { repo { isues { nodes { id } } } }" }),
    ));
    let (report, _) = both(&graphql).await;
    assert!(failure_text(&report).contains(GRAPHQL_ERROR));
}

#[tokio::test]
async fn pagination_never_reads_inside_the_items_on_either_path() {
    let s = mock(300, 100).await;
    // Both paths take the items out of the body before paginating.
    let config = page_config(&s).pagination(Pagination::Page {
        param: "page".into(),
        start: 1,
        total_pages: Some("/items/2/id".into()),
        has_more: None,
        stop_when: None,
        page_size: None,
        page_size_param: None,
    });
    let (report, items) = both(&config).await;
    assert!(failure_text(&report).contains("/items/2/id is missing"));
    assert!(items.is_empty());
}

#[tokio::test]
async fn items_keep_the_servers_text_and_read_keys_lazily() {
    let s = mock(3, 100).await;
    let mut raw = RawJsonSource::from_config(&page_config(&s), &ctx()).unwrap();
    let mut value = JsonSource::from_config(&page_config(&s), &ctx()).unwrap();
    let page = raw.fetch(None).await.unwrap();
    let values = value.fetch(None).await.unwrap();
    assert_eq!(page.next, values.next);
    for (r, v) in page.items.iter().zip(&values.items) {
        assert_eq!(
            r.as_str(),
            serde_json::to_string(v).unwrap(),
            "the mock's compact text"
        );
        assert_eq!(r.pointer("/id").as_ref(), v.pointer("/id"));
    }
    assert_eq!(raw.first_url(), value.first_url());
}
