//! After `Control::Failed`, everything sent before it is still written.

use std::time::Duration;

use crawlpipe_core::testkit::{CollectSink, Fault, ScriptedPaged};
use crawlpipe_core::{Outcome, Pipeline, StageError, policy::RetryPolicy};

#[tokio::test(start_paused = true)]
async fn failed_page_drains_in_flight_items() {
    // 20 pages of 50; page 12 fails for good. A slow sink and small edges keep
    // the channels full when the failure happens.
    let source = ScriptedPaged::numbered(20, 50).fail(12, Fault::Permanent, usize::MAX);
    let sink = CollectSink::new().slow(Duration::from_millis(50));
    let collected = sink.handle();
    let report = Pipeline::paged("drain", source)
        .capacity(64)
        .batch_size(40)
        .map(|n: u64| n + 1_000)
        .sink(sink)
        .spawn()
        .unwrap()
        .join()
        .await;

    let expected: Vec<u64> = (0..12 * 50).map(|n| n + 1_000).collect();
    assert_eq!(
        collected.items(),
        expected,
        "all items of pages 0..12 and none after"
    );
    let Outcome::Failed(failure) = &report.outcome else {
        panic!("expected a failure, got {:?}", report.outcome)
    };
    assert!(matches!(failure.error, StageError::Fetch { .. }));
    assert_eq!(failure.resume_from, Some(ScriptedPaged::<u64>::cursor(12)));
    assert_eq!(report.cursor, Some(ScriptedPaged::<u64>::cursor(12)));
    assert_eq!(report.progress.items_written, 600);
    assert_eq!(report.progress.items_fetched, 600);
    assert_eq!(report.progress.pages, 12);
    assert!(report.drained);
    let finished = collected.outcome().expect("finish was called");
    assert!(matches!(finished, Outcome::Failed(_)), "finish gets the failure");
    assert_eq!(
        collected.last_checkpoint(),
        Some(ScriptedPaged::<u64>::cursor(12))
    );
}

#[tokio::test(start_paused = true)]
async fn retries_exhausted_fail_with_the_failed_pages_cursor() {
    let source = ScriptedPaged::numbered(5, 10).fail(3, Fault::Transient, usize::MAX);
    let log = source.fetch_log();
    let sink = CollectSink::new();
    let collected = sink.handle();
    let report = Pipeline::paged("exhausted", source)
        .retry(RetryPolicy::new(3))
        .sink(sink)
        .spawn()
        .unwrap()
        .join()
        .await;
    let failure = report.outcome.failure().expect("failed");
    assert!(
        failure.error.is_retryable(),
        "transient failures are worth resuming"
    );
    assert!(failure.error.to_string().contains("page-3"), "{}", failure.error);
    assert!(
        failure.error.to_string().contains("3 attempt(s)"),
        "{}",
        failure.error
    );
    assert_eq!(failure.resume_from, Some(ScriptedPaged::<u64>::cursor(3)));
    assert_eq!(collected.items(), (0..30).collect::<Vec<u64>>());
    assert_eq!(log.requests().iter().filter(|&&p| p == 3).count(), 3);
}

#[tokio::test(start_paused = true)]
async fn resuming_from_the_report_yields_exactly_the_rest() {
    let first = ScriptedPaged::numbered(10, 7).fail(6, Fault::Permanent, 1);
    let sink = CollectSink::new();
    let collected = sink.handle();
    let report = Pipeline::paged("resume", first)
        .sink(sink)
        .spawn()
        .unwrap()
        .join()
        .await;
    assert!(report.outcome.failure().is_some());

    let second = ScriptedPaged::numbered(10, 7);
    let log = second.fetch_log();
    let sink2 = CollectSink::new();
    let collected2 = sink2.handle();
    let report2 = Pipeline::paged("resume", second)
        .resume_from(report.cursor.clone())
        .sink(sink2)
        .spawn()
        .unwrap()
        .join()
        .await;
    assert!(report2.outcome.is_completed());
    assert_eq!(
        log.requests().first(),
        Some(&6),
        "the resumed run starts at the failed page"
    );
    let mut all = collected.items();
    all.extend(collected2.items());
    assert_eq!(all, (0..70).collect::<Vec<u64>>(), "no loss, no duplicates");
    assert_eq!(report2.cursor, None);
}
