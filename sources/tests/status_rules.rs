//! Per-status and per-body rules against the mock's scripted answers: a
//! skipped page ends its collection as an empty last page, counted and
//! named; retry and fail rules change an answer's class.

mod support;

use crawlpipe_core::FetchErrorKind;
use crawlpipe_core::StageError;
use crawlpipe_sources::mock::MockConfig;
use crawlpipe_sources::{HttpSourceConfig, Pagination, StatusAction};
use support::*;

fn scripted(server: &crawlpipe_sources::mock::MockServer, script: &str) -> HttpSourceConfig {
    HttpSourceConfig::new(server.url(&format!("/scripted?{script}")))
        .items("/items")
        .pagination(Pagination::Page {
            param: "page".into(),
            start: 1,
            total_pages: None,
            has_more: Some("/has_more".into()),
            stop_when: None,
            page_size: None,
            page_size_param: None,
        })
}

fn kind(report: &crawlpipe_core::Report) -> FetchErrorKind {
    match &report.outcome.failure().expect("a failure").error {
        StageError::Fetch { kind, .. } => *kind,
        other => panic!("not a fetch failure: {other}"),
    }
}

#[tokio::test]
async fn a_skipped_404_ends_the_collection_with_the_pages_before_it_counted_and_named() {
    let server = server(MockConfig::new(500, 100)).await;
    let config = scripted(&server, "on_page=3&status=404").on_status(404, StatusAction::Skip);
    let (report, items) = crawl(&config, fast_retry(3), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 200);
    assert_eq!((report.progress.pages, report.progress.pages_skipped), (2, 1));
    let skipped = report.progress.last_skipped.expect("the skip is named");
    assert!(
        skipped.contains("page=3") && skipped.contains("HTTP 404, on_status 404 = \"skip\""),
        "{skipped}"
    );
    assert_eq!(server.request_count(), 3, "a skip is not retried");
    assert!(report.cursor.is_none(), "completed: the next run starts over");

    // Without the rule, a 404 fails the collection at once, as before.
    let (report, items) = crawl(&scripted(&server, "on_page=3&status=404"), fast_retry(3), None).await;
    assert_eq!(kind(&report), FetchErrorKind::Permanent);
    assert_eq!(report.progress.pages_skipped, 0);
    assert_eq!(items.len(), 200);
}

#[tokio::test]
async fn a_skipped_first_page_is_an_empty_collection() {
    let server = server(MockConfig::new(500, 100)).await;
    let config = scripted(&server, "on_page=1&status=403").on_status(403, StatusAction::Skip);
    let (report, items) = crawl(&config, fast_retry(3), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert!(items.is_empty());
    assert_eq!((report.progress.pages, report.progress.pages_skipped), (0, 1));
}

#[tokio::test]
async fn retry_and_fail_rules_change_the_class_of_a_status() {
    let server = server(MockConfig::new(300, 100)).await;
    // A 400 that heals after two answers: retried under the rule.
    let config = scripted(&server, "on_page=2&status=400&times=2").on_status(400, StatusAction::Retry);
    let (report, items) = crawl(&config, fast_retry(4), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 300);
    // A 5xx class rule: failed at once, not retried.
    let config = scripted(&server, "on_page=2&status=502")
        .on_status(500, StatusAction::Retry)
        .on_status(502, StatusAction::Fail);
    let (report, _) = crawl(&config, fast_retry(4), None).await;
    assert_eq!(kind(&report), FetchErrorKind::Permanent);
    assert!(
        failure_text(&report).contains("on_status 502 = \"fail\""),
        "{}",
        failure_text(&report)
    );
    assert!(failure_text(&report).contains("1 attempt"));
    // The status is read from the error itself, and from its structured form.
    let error = &report.outcome.failure().expect("a failure").error;
    assert_eq!(error.http_status(), Some(502));
    let detail = error.detail();
    assert_eq!((detail.kind, detail.http_status), ("permanent", Some(502)));
    assert!(
        detail.cursor.as_deref().is_some_and(|c| c.contains("page=2")),
        "{detail:?}"
    );
}

#[tokio::test]
async fn an_error_status_without_a_rule_is_tagged_on_the_error() {
    let server = server(MockConfig::new(300, 100)).await;
    let (report, _) = crawl(&scripted(&server, "on_page=2&status=404"), fast_retry(2), None).await;
    let error = &report.outcome.failure().expect("a failure").error;
    assert_eq!(error.http_status(), Some(404), "{error}");
    assert_eq!(error.detail().kind, "permanent");
    let fetch = crawlpipe_core::FetchError::permanent("no answer");
    assert_eq!(
        (fetch.http_status(), fetch.retry_after(), fetch.retry_at()),
        (None, None, None)
    );
}

#[tokio::test]
async fn a_retry_rule_honours_retry_after() {
    let server = server(MockConfig::new(300, 100)).await;
    let config = scripted(&server, "on_page=2&status=409&retry_after=7").on_status(409, StatusAction::Retry);
    // One attempt only: the failure says when a retry makes sense.
    let (report, items) = crawl(&config, fast_retry(1), None).await;
    assert_eq!(kind(&report), FetchErrorKind::RateLimited);
    let failure = report.outcome.failure().unwrap();
    let wait = failure.retry_at.expect("Retry-After kept") - tokio::time::Instant::now();
    assert!(wait > std::time::Duration::from_secs(5), "{wait:?}");
    assert_eq!(items.len(), 100);
}

#[tokio::test]
async fn a_body_rule_wins_over_the_status_and_matches_a_2xx_that_is_not_a_page() {
    let server = server(MockConfig::new(300, 100)).await;
    // GitHub's secondary rate limit: a 403 whose body says so.
    let config = scripted(
        &server,
        "on_page=2&status=403&message=API%20Rate%20Limit%20exceeded&times=2",
    )
    .on_status(403, StatusAction::Skip)
    .on_body("rate limit", StatusAction::Retry);
    let (report, items) = crawl(&config, fast_retry(4), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 300);
    assert_eq!(report.progress.pages_skipped, 0);

    // A 200 answer with an error message and no items.
    let config = scripted(&server, "on_page=2&status=200&message=resource%20not%20found")
        .on_body("not found", StatusAction::Skip);
    let (report, items) = crawl(&config, fast_retry(4), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!((items.len(), report.progress.pages_skipped), (100, 1));
    assert!(
        report
            .progress
            .last_skipped
            .unwrap()
            .contains("HTTP 200, on_body \"not found\" = \"skip\"")
    );

    // A page that merely mentions the text is a page: rules read non-pages only.
    let config = scripted(&server, "on_page=9").on_body("item", StatusAction::Fail);
    let (report, items) = crawl(&config, fast_retry(1), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 300);
}

#[test]
fn rules_outside_error_statuses_are_refused() {
    let config = HttpSourceConfig::new("http://127.0.0.1:9/x").on_status(200, StatusAction::Skip);
    let err = crawlpipe_sources::JsonSource::from_config(&config, &ctx())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("on_status: 200"), "{err}");
}

#[tokio::test]
async fn a_scraped_page_answering_404_is_skipped_too() {
    let server = server(MockConfig::new(30, 10)).await;
    let config = HttpSourceConfig::new(server.url("/children/item-7"))
        .scrape(crawlpipe_sources::ScrapeConfig::new("section").field("title", "h2"))
        .on_status(404, StatusAction::Skip);
    let source = crawlpipe_sources::ScrapeSource::from_config(&config, &ctx()).unwrap();
    let (report, items) = run("scraped", source, fast_retry(3), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert!(items.is_empty());
    assert_eq!(report.progress.pages_skipped, 1);
}
