//! Every pagination style crawls the mock server to the end: exactly every item, once.

mod support;

use crawlpipe_core::Cursor;
use crawlpipe_sources::mock::{MockConfig, stripe_id};
use crawlpipe_sources::{HttpSourceConfig, Pagination};
use support::*;

#[tokio::test]
async fn link_header_crawls_every_page() {
    let server = server(MockConfig::new(950, 100)).await;
    let config = HttpSourceConfig::new(server.url("/link")).pagination(Pagination::LinkHeader);
    let (report, items) = crawl(&config, fast_retry(1), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 950);
    assert_eq!(report.progress.pages, 10);
    assert_eq!(server.request_count(), 10);
}

#[tokio::test]
async fn next_url_follows_absolute_and_relative_links_until_null_or_missing() {
    for items in [1000, 900] {
        let server = server(MockConfig::new(items, 100)).await;
        let config = HttpSourceConfig::new(server.url("/next_url"))
            .items("/value")
            .pagination(Pagination::NextUrl {
                next: "/@odata.nextLink".into(),
                has_more: None,
            });
        let (report, got) = crawl(&config, fast_retry(1), None).await;
        assert!(report.outcome.is_completed(), "{:?}", report.outcome);
        assert_all(&got, items);
    }
}

#[tokio::test]
async fn cursor_token_is_sent_back_until_empty() {
    let server = server(MockConfig::new(1001, 100)).await;
    let config = HttpSourceConfig::new(server.url("/cursor?limit=100"))
        .items("/items")
        .pagination(Pagination::Cursor {
            param: Some("cursor".into()),
            next: Some("/response_metadata/next_cursor".into()),
            last_item: None,
            has_more: None,
            body_pointer: None,
            next_header: None,
            stop_when: None,
        });
    let (report, items) = crawl(&config, fast_retry(1), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 1001);
    let requests = server.requests();
    assert_eq!(requests.len(), 11);
    assert_eq!(requests[0], "/cursor?limit=100");
    assert_eq!(requests[1], "/cursor?limit=100&cursor=c_100");
}

#[tokio::test]
async fn last_item_cursor_pages_until_has_more_is_false() {
    let server = server(MockConfig::new(250, 100)).await;
    let config = HttpSourceConfig::new(server.url("/stripe?limit=40"))
        .items("/data")
        .pagination(Pagination::Cursor {
            param: Some("starting_after".into()),
            next: None,
            last_item: Some("/id".into()),
            has_more: Some("/has_more".into()),
            body_pointer: None,
            next_header: None,
            stop_when: None,
        });
    let (report, items) = crawl(&config, fast_retry(1), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    let ids: Vec<String> = items
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, (0..250).map(stripe_id).collect::<Vec<_>>());
    assert_eq!(server.request_count(), 7);
    assert_eq!(
        server.requests()[1],
        format!("/stripe?limit=40&starting_after={}", stripe_id(39))
    );
}

#[tokio::test]
async fn offset_stops_at_total() {
    let server = server(MockConfig::new(1000, 100)).await;
    let config = HttpSourceConfig::new(server.url("/offset"))
        .items("/results")
        .pagination(Pagination::Offset {
            offset_param: "offset".into(),
            limit_param: "limit".into(),
            limit: 100,
            total: Some("/total".into()),
            has_more: None,
            stop_when: None,
        });
    let (report, items) = crawl(&config, fast_retry(1), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 1000);
    // Ends at the total: no request for an empty page.
    assert_eq!(server.request_count(), 10);
    assert_eq!(server.requests()[0], "/offset?limit=100&offset=0");
}

#[tokio::test]
async fn offset_without_total_stops_at_a_short_page() {
    let server = server(MockConfig::new(1030, 100)).await;
    let config = HttpSourceConfig::new(server.url("/offset?sort=id"))
        .items("/results")
        .pagination(Pagination::Offset {
            offset_param: "offset".into(),
            limit_param: "limit".into(),
            limit: 100,
            total: None,
            has_more: None,
            stop_when: None,
        });
    let (report, items) = crawl(&config, fast_retry(1), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 1030);
    assert!(
        server
            .requests()
            .iter()
            .all(|r| r.starts_with("/offset?sort=id&"))
    );
}

#[tokio::test]
async fn page_numbers_stop_at_the_first_empty_page() {
    let server = server(MockConfig::new(1000, 100)).await;
    let (report, items) = crawl(&page_config(&server), fast_retry(1), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 1000);
    assert_eq!(server.request_count(), 11);
    assert_eq!(server.requests().last().unwrap(), "/page?page=11");
}

#[tokio::test]
async fn start_url_query_parameters_are_kept_on_every_page() {
    let server = server(MockConfig::new(300, 100)).await;
    let config = HttpSourceConfig::new(server.url("/page?state=all&sort=asc"))
        .items("/items")
        .pagination(Pagination::Page {
            param: "page".into(),
            start: 1,
            total_pages: None,
            has_more: None,
            stop_when: None,
            page_size: None,
            page_size_param: None,
        });
    let (report, items) = crawl(&config, fast_retry(1), None).await;
    assert!(report.outcome.is_completed());
    assert_all(&items, 300);
    for (i, r) in server.requests().iter().enumerate() {
        assert_eq!(*r, format!("/page?state=all&sort=asc&page={}", i + 1));
    }
}

#[tokio::test]
async fn checkpoints_are_full_urls_and_resuming_from_one_continues_there() {
    let server = server(MockConfig::new(500, 100)).await;
    let config = page_config(&server);
    let resume = Cursor::new(server.url("/page?page=4"));
    let (report, items) = crawl(&config, fast_retry(1), Some(resume)).await;
    assert!(report.outcome.is_completed());
    assert_eq!(ids(&items), (300..500).collect::<Vec<_>>());
    assert_eq!(server.requests()[0], "/page?page=4");
}

#[tokio::test]
async fn config_headers_are_sent_and_never_shown() {
    let mut mock = MockConfig::new(200, 100);
    mock.require_bearer = Some("s3cret-t0ken".into());
    let server = server(mock).await;
    let config = page_config(&server).header("Authorization", "Bearer s3cret-t0ken");
    assert!(!format!("{config:?}").contains("s3cret"));
    let source = crawlpipe_sources::JsonSource::from_config(&config, &ctx()).unwrap();
    assert!(!format!("{source:?}").contains("s3cret"));
    let (report, items) = crawl(&config, fast_retry(1), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 200);

    let wrong = page_config(&server).header("Authorization", "Bearer wr0ng-t0ken");
    let (report, items) = crawl(&wrong, fast_retry(3), None).await;
    let text = failure_text(&report);
    assert!(text.contains("HTTP 401"), "{text}");
    assert!(text.contains("1 attempt"), "a 401 is not retried: {text}");
    assert!(!text.contains("wr0ng"), "{text}");
    assert!(!format!("{:?}", report.outcome).contains("wr0ng"));
    assert!(items.is_empty());
}

#[tokio::test]
async fn speculative_fetching_keeps_the_exact_items_even_with_errors() {
    use crawlpipe_sources::mock::Faults;
    for (style, url) in [
        (
            Pagination::Offset {
                offset_param: "offset".into(),
                limit_param: "limit".into(),
                limit: 100,
                total: Some("/total".into()),
                has_more: None,
                stop_when: None,
            },
            "/offset",
        ),
        (
            Pagination::Page {
                param: "page".into(),
                start: 1,
                total_pages: None,
                has_more: None,
                stop_when: None,
                page_size: None,
                page_size_param: None,
            },
            "/page",
        ),
    ] {
        let server = server(MockConfig::new(2000, 100).faults(Faults {
            error_every: Some(4),
            ..Faults::default()
        }))
        .await;
        let mut config = HttpSourceConfig::new(server.url(url))
            .items(if url == "/offset" { "/results" } else { "/items" })
            .pagination(style);
        config.speculate = true;
        config.breaker = Some(crawlpipe_sources::BreakerSettings {
            failures: 1000,
            cooldown_ms: 1,
        });
        let (report, items) = crawl(&config, fast_retry(10), None).await;
        assert!(report.outcome.is_completed(), "{:?}", report.outcome);
        assert_all(&items, 2000);
    }
}

#[tokio::test]
async fn a_source_built_from_toml_crawls() {
    let server = server(MockConfig::new(420, 100)).await;
    let doc = format!(
        r#"
        url = "{}"
        items = "/items"
        pagination = {{ style = "cursor", param = "cursor", next = "/response_metadata/next_cursor" }}
        min_delay_ms = 1
        max_in_flight_per_host = 2
        timeout_ms = 5000
        breaker = {{ failures = 3, cooldown_ms = 1000 }}
        "#,
        server.url("/cursor")
    );
    let config: HttpSourceConfig = toml::from_str(&doc).expect("valid TOML");
    let (report, items) = crawl(&config, fast_retry(1), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 420);
}

#[tokio::test]
async fn a_next_link_back_to_the_first_page_fails_with_a_repeated_cursor_after_one_fetch_of_it() {
    use crawlpipe_core::{Paged, StageError};
    let server = server(MockConfig::default()).await;
    let config = HttpSourceConfig::new(server.url("/json/loop-a?x=1"))
        .items("/items")
        .pagination(Pagination::NextUrl {
            next: "/next".into(),
            has_more: None,
        });
    let source = crawlpipe_sources::JsonSource::from_config(&config, &ctx()).unwrap();
    assert_eq!(
        source.first_cursor().map(|c| c.as_str().to_owned()),
        Some(server.url("/json/loop-a?x=1"))
    );
    let (report, items) = run("loop", source, fast_retry(1), None).await;
    match &report.outcome.failure().expect("failed").error {
        StageError::RepeatedCursor { cursor, .. } => {
            assert_eq!(cursor.as_str(), server.url("/json/loop-a?x=1"))
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_all(&items, 4);
    assert_eq!(server.requests(), ["/json/loop-a?x=1", "/json/loop-b?x=1"]);
}

#[test]
fn the_first_cursor_is_the_first_page_url_of_each_style() {
    use crawlpipe_core::Paged;
    let ctx = ctx();
    let first = |config: HttpSourceConfig| {
        crawlpipe_sources::JsonSource::from_config(&config, &ctx)
            .unwrap()
            .first_cursor()
            .map(|c| c.as_str().to_owned())
    };
    assert_eq!(
        first(HttpSourceConfig::new("https://a.test/x?q=1").pagination(Pagination::LinkHeader)).as_deref(),
        Some("https://a.test/x?q=1")
    );
    let page = Pagination::Page {
        param: "page".into(),
        start: 1,
        total_pages: None,
        has_more: None,
        stop_when: None,
        page_size: None,
        page_size_param: None,
    };
    assert_eq!(
        first(HttpSourceConfig::new("https://a.test/x?q=1&token=t").pagination(page)).as_deref(),
        Some("https://a.test/x?q=1&page=1")
    );
}
