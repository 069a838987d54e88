//! Complete responses that do not hold a page are glitches, not verdicts:
//! retried within the retry budget, failing only when they persist.

mod support;

use crawlpipe_core::StageError;
use crawlpipe_sources::mock::{Faults, Malformed, MockConfig};
use crawlpipe_sources::{HttpSourceConfig, Pagination};
use support::*;

const KINDS: [Malformed; 4] = [
    Malformed::TruncatedJson,
    Malformed::HtmlErrorPage,
    Malformed::MissingItems,
    Malformed::ItemsNotArray,
];

fn malformed_every(items: usize, k: u64, kind: Malformed) -> MockConfig {
    MockConfig::new(items, 100).faults(Faults {
        malformed_every: Some((k, kind)),
        ..Faults::default()
    })
}

#[tokio::test]
async fn one_malformed_response_in_three_loses_and_duplicates_nothing() {
    for kind in KINDS {
        let server = server(malformed_every(1000, 3, kind)).await;
        let (report, items) = crawl(&page_config(&server), fast_retry(3), None).await;
        assert!(report.outcome.is_completed(), "{kind:?}: {:?}", report.outcome);
        assert_all(&items, 1000);
        // 11 pages (the last one empty); every third request was malformed once.
        assert_eq!(server.request_count(), 16, "{kind:?}");
    }
}

#[tokio::test]
async fn a_malformed_body_where_the_items_are_the_body_is_retried_too() {
    for kind in KINDS {
        let server = server(malformed_every(950, 4, kind)).await;
        let config = HttpSourceConfig::new(server.url("/link")).pagination(Pagination::LinkHeader);
        let (report, items) = crawl(&config, fast_retry(2), None).await;
        assert!(report.outcome.is_completed(), "{kind:?}: {:?}", report.outcome);
        assert_all(&items, 950);
    }
}

#[tokio::test]
async fn a_malformed_response_on_one_request_is_retried_once() {
    let server = server(MockConfig::new(300, 100).faults(Faults {
        malformed_on: vec![(2, Malformed::HtmlErrorPage)],
        ..Faults::default()
    }))
    .await;
    let (report, items) = crawl(&page_config(&server), fast_retry(2), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 300);
    assert_eq!(server.requests()[1..3], ["/page?page=2", "/page?page=2"]);
}

#[tokio::test]
async fn a_page_that_is_always_malformed_fails_after_max_attempts_naming_cursor_and_reason() {
    let reasons = [
        (Malformed::TruncatedJson, "body is not valid JSON"),
        (Malformed::HtmlErrorPage, "body is an HTML page, not JSON"),
        (Malformed::MissingItems, "no items at \"/items\""),
        (Malformed::ItemsNotArray, "is a string, not an array or object"),
    ];
    for (kind, reason_text) in reasons {
        let server = server(MockConfig::new(500, 100).faults(Faults {
            malformed_page: Some(("/page?page=3".into(), kind)),
            ..Faults::default()
        }))
        .await;
        let (report, items) = crawl(&page_config(&server), fast_retry(3), None).await;
        let failure = report.outcome.failure().expect("failed");
        match &failure.error {
            StageError::Invalid { cursor, reason, .. } => {
                assert_eq!(
                    cursor.as_ref().map(|c| c.as_str().to_owned()),
                    Some(server.url("/page?page=3"))
                );
                assert!(reason.contains(reason_text), "{kind:?}: {reason}");
                assert!(reason.contains("after 3 attempt"), "{reason}");
            }
            other => panic!("{kind:?}: unexpected {other:?}"),
        }
        let text = failure.error.to_string();
        assert!(text.contains("page=3") && text.contains(reason_text), "{text}");
        assert_all(&items, 200);
        assert_eq!(
            report.cursor.map(|c| c.as_str().to_owned()),
            Some(server.url("/page?page=3"))
        );
        let page3 = server.requests().iter().filter(|r| *r == "/page?page=3").count();
        assert_eq!(page3, 3, "{kind:?}: {:?}", server.requests());
    }
}
