//! Scripted server faults: what is retried, what fails, what the failure says,
//! and that a crawl resumes at the failed page.

mod support;

use std::time::Duration;

use crawlpipe_core::{FetchErrorKind, StageError};
use crawlpipe_sources::mock::{Faults, MockConfig, Outage, RetryAfter};
use crawlpipe_sources::{BreakerSettings, HttpSourceConfig};
use support::*;

fn with_faults(items: usize, faults: Faults) -> MockConfig {
    MockConfig::new(items, 100).faults(faults)
}

#[tokio::test]
async fn a_500_every_third_request_is_retried_without_loss_or_duplicates() {
    let server = server(with_faults(
        1000,
        Faults {
            error_every: Some(3),
            ..Faults::default()
        },
    ))
    .await;
    let (report, items) = crawl(&page_config(&server), fast_retry(3), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 1000);
    // 11 pages (the last one empty), every third request failed once.
    assert_eq!(server.request_count(), 16);
}

#[tokio::test]
async fn a_429_with_retry_after_seconds_is_waited_out() {
    let server = server(with_faults(
        300,
        Faults {
            rate_limit_every: Some((2, RetryAfter::Seconds(1))),
            ..Faults::default()
        },
    ))
    .await;
    let started = std::time::Instant::now();
    let (report, items) = crawl(&page_config(&server), fast_retry(3), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 300);
    // A lower bound only: two push-backs of a second each were honoured.
    assert!(started.elapsed() >= Duration::from_secs(2));
}

#[tokio::test]
async fn a_429_with_an_http_date_is_waited_out() {
    let server = server(with_faults(
        200,
        Faults {
            rate_limit_every: Some((2, RetryAfter::Date(Duration::from_secs(2)))),
            ..Faults::default()
        },
    ))
    .await;
    let (report, items) = crawl(&page_config(&server), fast_retry(3), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 200);
}

#[tokio::test]
async fn a_retry_after_beyond_the_max_backoff_fails_with_retry_at() {
    let server = server(with_faults(
        300,
        Faults {
            rate_limit_every: Some((2, RetryAfter::Seconds(3600))),
            ..Faults::default()
        },
    ))
    .await;
    let (report, items) = crawl(&page_config(&server), fast_retry(3), None).await;
    let failure = report.outcome.failure().expect("failed");
    assert!(failure.retry_at.is_some());
    let text = failure.error.to_string();
    assert!(
        text.contains("rate limited") && text.contains("HTTP 429"),
        "{text}"
    );
    assert_all(&items, 100);
    assert_eq!(
        report.resume_from.as_ref().map(|c| c.as_str().to_owned()),
        Some(server.url("/page?page=2"))
    );
}

#[tokio::test]
async fn an_outage_exhausts_retries_and_the_crawl_resumes_at_the_failed_page() {
    let server = server(with_faults(
        600,
        Faults {
            outage: Some(Outage::Requests { from: 4, count: 3 }),
            ..Faults::default()
        },
    ))
    .await;
    let config = page_config(&server);
    let (report, first) = crawl(&config, fast_retry(3), None).await;
    let text = failure_text(&report);
    assert!(text.contains("HTTP 503") && text.contains("3 attempt"), "{text}");
    assert!(text.contains("page=4"), "the failure names the page: {text}");
    assert_all(&first, 300);
    let resume = report.resume_from.clone().expect("a resume cursor");
    assert_eq!(resume.as_str(), server.url("/page?page=4"));

    let before = server.requests().len();
    let (report, rest) = crawl(&config, fast_retry(3), Some(resume)).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(server.requests()[before], "/page?page=4");
    let mut all = first;
    all.extend(rest);
    assert_all(&all, 600);
}

#[tokio::test]
async fn a_timed_outage_is_ridden_out_by_backoff() {
    let server = server(with_faults(
        300,
        Faults {
            outage: Some(Outage::Time {
                after: Duration::ZERO,
                lasting: Duration::from_millis(300),
            }),
            ..Faults::default()
        },
    ))
    .await;
    let mut config = page_config(&server);
    config.breaker = Some(BreakerSettings {
        failures: 1000,
        cooldown_ms: 1000,
    });
    let retry = crawlpipe_core::policy::RetryPolicy::new(50)
        .initial_backoff(Duration::from_millis(50))
        .max_backoff(Duration::from_millis(100));
    let (report, items) = crawl(&config, retry, None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 300);
}

#[tokio::test]
async fn a_dropped_connection_is_retried() {
    let server = server(with_faults(
        400,
        Faults {
            drop_connection_on: vec![2, 3],
            ..Faults::default()
        },
    ))
    .await;
    let (report, items) = crawl(&page_config(&server), fast_retry(3), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 400);
    assert_eq!(server.requests()[1], "/page?page=2");
    assert_eq!(server.requests()[3], "/page?page=2");
}

#[tokio::test]
async fn a_truncated_body_is_retried_and_reported_when_retries_run_out() {
    let server = server(with_faults(
        300,
        Faults {
            truncate_on: vec![2],
            ..Faults::default()
        },
    ))
    .await;
    let (report, items) = crawl(&page_config(&server), fast_retry(2), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 300);

    let server = support::server(with_faults(
        300,
        Faults {
            truncate_on: vec![2],
            ..Faults::default()
        },
    ))
    .await;
    let (report, items) = crawl(&page_config(&server), fast_retry(1), None).await;
    let text = failure_text(&report);
    assert!(text.contains("cut off"), "{text}");
    assert_all(&items, 100);
}

#[tokio::test]
async fn added_latency_does_not_change_what_is_fetched() {
    let server = server(MockConfig::new(500, 100).latency(Duration::from_millis(20))).await;
    let (report, items) = crawl(&page_config(&server), fast_retry(1), None).await;
    assert!(report.outcome.is_completed());
    assert_all(&items, 500);
}

#[tokio::test]
async fn a_slow_drip_is_cut_off_by_the_total_deadline() {
    let server = server(MockConfig::default()).await;
    let mut config = HttpSourceConfig::new(server.url("/drip"));
    config.timeout_ms = 300;
    let (report, items) = crawl(&config, fast_retry(1), None).await;
    let text = failure_text(&report);
    assert!(text.contains("deadline"), "{text}");
    assert!(items.is_empty());
    match &report.outcome.failure().unwrap().error {
        StageError::Fetch { kind, .. } => assert_eq!(*kind, FetchErrorKind::Transient),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn an_unreachable_host_is_a_transient_connect_error() {
    // Bind then drop a listener: the port is (very likely) closed.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config = HttpSourceConfig::new(format!("http://127.0.0.1:{port}/page"));
    let (report, _) = crawl(&config, fast_retry(2), None).await;
    let text = failure_text(&report);
    assert!(text.contains("2 attempt") && text.contains("transient"), "{text}");
}

#[tokio::test]
async fn consecutive_failures_open_the_breaker_which_fails_fast_with_retry_at() {
    let server = server(with_faults(
        300,
        Faults {
            outage: Some(Outage::Requests { from: 2, count: 1000 }),
            ..Faults::default()
        },
    ))
    .await;
    let mut config = page_config(&server);
    config.breaker = Some(BreakerSettings {
        failures: 3,
        cooldown_ms: 60_000,
    });
    let (report, items) = crawl(&config, fast_retry(10), None).await;
    let failure = report.outcome.failure().expect("failed");
    assert!(
        matches!(failure.error, StageError::CircuitOpen { .. }),
        "{:?}",
        failure.error
    );
    assert!(failure.error.to_string().contains("circuit breaker open"));
    let retry_at = failure.retry_at.expect("retry_at");
    assert!(retry_at > tokio::time::Instant::now() + Duration::from_secs(30));
    // One good page, three failures, then no more requests.
    assert_eq!(server.request_count(), 4);
    assert_all(&items, 100);
    assert_eq!(report.resume_from.unwrap().as_str(), server.url("/page?page=2"));
}
