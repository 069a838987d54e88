//! Safety limits and malformed pages: refused with a clear error, items before kept.

mod support;

use crawlpipe_core::{FetchErrorKind, StageError};
use crawlpipe_sources::mock::MockConfig;
use crawlpipe_sources::{HttpSourceConfig, JsonSource, Pagination, SourceError};
use support::*;

#[tokio::test]
async fn a_redirect_to_another_host_is_refused() {
    let server = server(MockConfig::default()).await;
    let config = HttpSourceConfig::new(server.url("/redirect/off-host")).items("/items");
    let (report, items) = crawl(&config, fast_retry(3), None).await;
    let text = failure_text(&report);
    assert!(text.contains("redirect to http://elsewhere.invalid/"), "{text}");
    assert!(text.contains("not among the allowed hosts"), "{text}");
    assert!(text.contains("1 attempt"), "{text}");
    assert!(items.is_empty());
}

#[tokio::test]
async fn a_redirect_within_the_host_is_followed() {
    let server = server(MockConfig::new(100, 100)).await;
    let config = HttpSourceConfig::new(server.url("/redirect/on-host")).items("/items");
    let (report, items) = crawl(&config, fast_retry(1), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 100);
    assert_eq!(server.requests(), vec!["/redirect/on-host", "/page?page=1"]);
}

#[tokio::test]
async fn a_gzip_bomb_is_cut_at_the_cap_after_decompression() {
    let server = server(MockConfig::default()).await;
    let mut config = HttpSourceConfig::new(server.url("/gzip-bomb"));
    config.max_body_bytes = 1024 * 1024;
    let (report, _) = crawl(&config, fast_retry(3), None).await;
    let text = failure_text(&report);
    assert!(
        text.contains("larger than the 1048576-byte cap (after decompression)"),
        "{text}"
    );
    assert!(text.contains("1 attempt"), "{text}");
}

#[tokio::test]
async fn a_page_that_is_not_json_fails_the_collection_and_keeps_earlier_items() {
    let server = server(MockConfig::new(300, 100)).await;
    // Page 1 is good; its next link leads to a malformed page.
    let config = HttpSourceConfig::new(server.url("/cursor"))
        .items("/items")
        .pagination(Pagination::NextUrl {
            next: "/next".into(),
            has_more: None,
        });
    let (report, items) = crawl(&config, fast_retry(1), None).await;
    assert!(report.outcome.is_completed(), "no /next: a single page");
    assert_all(&items, 100);

    let config = HttpSourceConfig::new(server.url("/invalid/json")).items("/items");
    let (report, items) = crawl(&config, fast_retry(3), None).await;
    match &report.outcome.failure().expect("failed").error {
        StageError::Invalid {
            reason, collection, ..
        } => {
            assert_eq!(collection, "test");
            assert!(
                reason.contains("/invalid/json") && reason.contains("not valid JSON"),
                "{reason}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(items.is_empty());
}

#[tokio::test]
async fn items_that_are_not_an_array_are_invalid() {
    let server = server(MockConfig::default()).await;
    let config = HttpSourceConfig::new(server.url("/invalid/not-array")).items("/items");
    let (report, _) = crawl(&config, fast_retry(3), None).await;
    let text = failure_text(&report);
    assert!(
        text.contains("invalid page") && text.contains("is a string, not an array or object"),
        "{text}"
    );
}

#[tokio::test]
async fn a_cursor_that_is_not_a_scalar_is_invalid() {
    let server = server(MockConfig::default()).await;
    let config = HttpSourceConfig::new(server.url("/invalid/cursor"))
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
    let (report, _) = crawl(&config, fast_retry(3), None).await;
    let text = failure_text(&report);
    assert!(
        text.contains("cursor at /response_metadata/next_cursor is not a string or number but an object"),
        "{text}"
    );
}

#[tokio::test]
async fn a_client_error_is_permanent_and_a_server_error_transient() {
    let server = server(MockConfig::default()).await;
    let (report, _) = crawl(
        &HttpSourceConfig::new(server.url("/status/404")),
        fast_retry(3),
        None,
    )
    .await;
    match &report.outcome.failure().unwrap().error {
        StageError::Fetch { kind, attempts, .. } => {
            assert_eq!(*kind, FetchErrorKind::Permanent);
            assert_eq!(*attempts, 1);
        }
        other => panic!("unexpected {other:?}"),
    }
    let (report, _) = crawl(
        &HttpSourceConfig::new(server.url("/status/502")),
        fast_retry(2),
        None,
    )
    .await;
    match &report.outcome.failure().unwrap().error {
        StageError::Fetch { kind, attempts, .. } => {
            assert_eq!(*kind, FetchErrorKind::Transient);
            assert_eq!(*attempts, 2);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn a_checkpoint_pointing_elsewhere_is_refused() {
    let server = server(MockConfig::default()).await;
    let config = page_config(&server);
    let resume = crawlpipe_core::Cursor::new("https://elsewhere.invalid/page?page=3");
    let (report, _) = crawl(&config, fast_retry(1), Some(resume)).await;
    let text = failure_text(&report);
    assert!(text.contains("not among the allowed hosts"), "{text}");
    assert_eq!(server.request_count(), 0);
}

#[test]
fn bad_configuration_is_refused_when_building() {
    let ctx = ctx();
    let build = |c: HttpSourceConfig| JsonSource::from_config(&c, &ctx).map(|_| ());
    let err = build(HttpSourceConfig::new("ftp://x.test/")).unwrap_err();
    assert!(matches!(err, SourceError::Config { .. }), "{err}");
    assert!(build(HttpSourceConfig::new("https://x.test/").items("data")).is_err());
    let err =
        build(HttpSourceConfig::new("https://x.test/").header("Authorization", "Bearer a\nb")).unwrap_err();
    assert!(!err.to_string().contains("Bearer"), "{err}");
}
