//! The paged driver: retries, rate limits, loops, page limits, lookahead, cancellation.

use std::time::Duration;

use crawlpipe_core::policy::RetryPolicy;
use crawlpipe_core::testkit::{CollectSink, Fault, ScriptedPaged};
use crawlpipe_core::{Outcome, Pipeline, StageError};
use tokio::time::Instant;

async fn run(source: ScriptedPaged<u64>) -> (crawlpipe_core::Report, Vec<u64>) {
    let sink = CollectSink::new();
    let collected = sink.handle();
    let report = Pipeline::paged("driver", source)
        .sink(sink)
        .spawn()
        .unwrap()
        .join()
        .await;
    (report, collected.items())
}

#[tokio::test(start_paused = true)]
async fn transient_errors_are_retried_without_loss_or_duplicates() {
    let source = ScriptedPaged::numbered(6, 10)
        .fail(0, Fault::Transient, 2)
        .fail(4, Fault::Transient, 4);
    let log = source.fetch_log();
    let (report, items) = run(source).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(items, (0..60).collect::<Vec<_>>());
    assert_eq!(log.requests(), vec![0, 0, 0, 1, 2, 3, 4, 4, 4, 4, 4, 5]);
}

#[tokio::test(start_paused = true)]
async fn rate_limit_waits_for_retry_after() {
    let source = ScriptedPaged::numbered(3, 5).fail(1, Fault::RateLimited(Some(Duration::from_secs(3))), 1);
    let started = Instant::now();
    let (report, items) = run(source).await;
    assert!(report.outcome.is_completed());
    assert_eq!(items.len(), 15);
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "Retry-After was honoured"
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_zero_still_backs_off() {
    let source = ScriptedPaged::numbered(2, 5).fail(1, Fault::RateLimited(Some(Duration::ZERO)), 2);
    let started = Instant::now();
    let (report, _) = run(source).await;
    assert!(report.outcome.is_completed());
    // Two waits of at least the first backoff ceiling (200 ms by default).
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "waited {:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn long_retry_after_fails_fast_with_retry_at() {
    let source = ScriptedPaged::numbered(3, 5).fail(2, Fault::RateLimited(Some(Duration::from_secs(600))), 1);
    let started = Instant::now();
    let (report, items) = run(source).await;
    let failure = report.outcome.failure().expect("failed");
    let retry_at = failure.retry_at.expect("retry_at is set");
    assert!(retry_at >= started + Duration::from_secs(600));
    assert!(
        started.elapsed() < Duration::from_secs(600),
        "did not sleep through the wait"
    );
    assert_eq!(items.len(), 10);
    assert!(failure.error.is_retryable());
}

#[tokio::test(start_paused = true)]
async fn open_breaker_fails_fast_with_retry_at() {
    let source = ScriptedPaged::numbered(3, 5)
        .fail(1, Fault::CircuitOpen(Duration::from_secs(30)), 1)
        .with_host("api.example");
    let log = source.fetch_log();
    let (report, items) = run(source).await;
    let failure = report.outcome.failure().expect("failed");
    assert!(matches!(failure.error, StageError::CircuitOpen { ref host, .. } if host == "api.example"));
    assert!(failure.retry_at.is_some());
    assert_eq!(log.requests(), vec![0, 1], "no retry while the breaker is open");
    assert_eq!(items.len(), 5);
}

#[tokio::test(start_paused = true)]
async fn malformed_page_is_retried_like_a_glitch() {
    // One malformed answer (a proxy's error page, a truncated body) is not a verdict.
    let source = ScriptedPaged::numbered(4, 5).fail(2, Fault::Invalid, 1);
    let log = source.fetch_log();
    let (report, items) = run(source).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(items, (0..20).collect::<Vec<_>>());
    assert_eq!(log.requests(), vec![0, 1, 2, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn persistently_invalid_page_fails_naming_collection_and_cursor() {
    let source = ScriptedPaged::numbered(4, 5).fail(2, Fault::Invalid, 100);
    let log = source.fetch_log();
    let (report, items) = run(source).await;
    let failure = report.outcome.failure().expect("failed");
    let text = failure.error.to_string();
    assert!(
        text.contains("collection driver") && text.contains("page-2") && text.contains("5 attempt"),
        "{text}"
    );
    assert!(!failure.error.is_retryable());
    assert_eq!(
        log.requests().iter().filter(|&&p| p == 2).count(),
        5,
        "max_attempts"
    );
    assert_eq!(items, (0..10).collect::<Vec<_>>());
}

#[tokio::test]
async fn repeated_cursor_fails_instead_of_looping() {
    // Page 3 points back to page 1.
    let source = ScriptedPaged::numbered(6, 5).next_of(3, 1);
    let (report, items) = run(source).await;
    let failure = report.outcome.failure().expect("failed");
    assert!(
        matches!(failure.error, StageError::RepeatedCursor { .. }),
        "{:?}",
        failure.error
    );
    assert_eq!(items, (0..20).collect::<Vec<_>>(), "pages 0..=3 are written once");
}

#[tokio::test]
async fn self_referencing_next_link_fails() {
    let source = ScriptedPaged::numbered(3, 5).next_of(1, 1);
    let (report, items) = run(source).await;
    assert!(matches!(
        report.outcome.failure().expect("failed").error,
        StageError::RepeatedCursor { .. }
    ));
    assert_eq!(items.len(), 10);
}

#[tokio::test]
async fn max_pages_bounds_a_run_and_resumes_after_it() {
    let sink = CollectSink::new();
    let collected = sink.handle();
    let report = Pipeline::paged("bounded", ScriptedPaged::numbered(10, 3))
        .max_pages(4)
        .sink(sink)
        .spawn()
        .unwrap()
        .join()
        .await;
    let failure = report.outcome.failure().expect("failed");
    assert!(matches!(failure.error, StageError::MaxPages { max_pages: 4, .. }));
    assert_eq!(collected.items(), (0..12).collect::<Vec<_>>());
    assert_eq!(report.cursor, Some(ScriptedPaged::<u64>::cursor(4)));
}

#[tokio::test]
async fn panicking_fetch_fails_naming_the_source() {
    let source = ScriptedPaged::numbered(3, 5).fail(1, Fault::Panic, 1);
    let (report, items) = run(source).await;
    match &report.outcome.failure().expect("failed").error {
        StageError::Panicked { stage, .. } => assert_eq!(stage, "source"),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(items.len(), 5);
}

/// A sink that never finishes a write: everything upstream fills and stops.
struct Stalled;

#[async_trait::async_trait]
impl crawlpipe_core::Sink<u64> for Stalled {
    async fn write(
        &mut self,
        _: Vec<u64>,
        _: Option<&crawlpipe_core::Cursor>,
    ) -> Result<(), crawlpipe_core::SinkError> {
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn lookahead_fetches_exactly_that_many_pages_ahead() {
    let mut fetched = Vec::new();
    for lookahead in [0, 1, 3] {
        let source = ScriptedPaged::numbered(1_000, 10).delay(Duration::from_millis(5));
        let log = source.fetch_log();
        let handle = Pipeline::paged("lookahead", source)
            .lookahead(lookahead)
            .capacity(10)
            .batch_size(10)
            .drain_timeout(Duration::from_millis(1))
            .sink(Stalled)
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_secs(10)).await;
        fetched.push(log.requests().len());
        handle.cancel();
        let _ = handle.join().await;
    }
    // With the sink stalled, the pages in flight are the sink's batch, the
    // edge, the page the source is sending, plus `lookahead` prefetched pages.
    assert_eq!(fetched[1], fetched[0] + 1, "{fetched:?}");
    assert_eq!(fetched[2], fetched[0] + 3, "{fetched:?}");
}

#[tokio::test(start_paused = true)]
async fn cancel_stops_at_a_page_boundary_and_drains() {
    let source = ScriptedPaged::numbered(1_000, 10).delay(Duration::from_millis(10));
    let sink = CollectSink::new();
    let collected = sink.handle();
    let handle = Pipeline::paged("cancel", source)
        .batch_size(25)
        .sink(sink)
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(205)).await;
    handle.cancel();
    let report = handle.join().await;
    assert!(
        matches!(report.outcome, Outcome::Cancelled),
        "{:?}",
        report.outcome
    );
    assert!(report.drained);
    let items = collected.items();
    assert!(!items.is_empty() && items.len() < 10_000);
    assert_eq!(items.len() % 10, 0, "whole pages only");
    assert_eq!(items, (0..items.len() as u64).collect::<Vec<_>>());
    let page = items.len() / 10;
    assert_eq!(report.cursor, Some(ScriptedPaged::<u64>::cursor(page)));
    assert!(matches!(collected.outcome(), Some(Outcome::Cancelled)));
}

#[tokio::test(start_paused = true)]
async fn cancel_during_retries_finishes_promptly() {
    let source = ScriptedPaged::numbered(5, 10).fail(2, Fault::Transient, usize::MAX);
    let handle = Pipeline::paged("cancel-retry", source)
        .retry(
            RetryPolicy::new(1_000)
                .initial_backoff(Duration::from_secs(5))
                .max_backoff(Duration::from_secs(60)),
        )
        .sink(CollectSink::new())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(20)).await;
    let started = Instant::now();
    handle.cancel();
    let report = handle.join().await;
    assert!(matches!(report.outcome, Outcome::Cancelled));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(report.progress.items_written, 20);
    assert_eq!(report.cursor, Some(ScriptedPaged::<u64>::cursor(2)));
}

#[tokio::test(start_paused = true)]
async fn drain_timeout_aborts_a_stuck_sink() {
    let handle = Pipeline::paged("stuck", ScriptedPaged::numbered(100, 10))
        .batch_size(10)
        .drain_timeout(Duration::from_secs(2))
        .sink(CollectSink::new().slow(Duration::from_secs(3_600)))
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let started = Instant::now();
    handle.cancel();
    let report = handle.join().await;
    assert!(matches!(report.outcome, Outcome::Cancelled));
    assert!(!report.drained);
    assert!(started.elapsed() <= Duration::from_secs(3));
    assert_eq!(report.progress.items_written, 0);
    assert_eq!(report.cursor, None);
}
