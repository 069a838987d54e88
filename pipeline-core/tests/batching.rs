//! The sink driver's batching and checkpoint placement.

use std::time::Duration;

use crawlpipe_core::testkit::{CollectSink, ScriptedPaged};
use crawlpipe_core::{BuildError, Cursor, Pipeline};

#[tokio::test(start_paused = true)]
async fn checkpoints_never_run_ahead_of_their_items() {
    // Uneven pages and batch sizes: every written checkpoint page-k must come
    // with (or after) every item of pages 0..k.
    for (per_page, batch) in [(7, 5), (3, 10), (10, 10), (1, 4), (50, 13)] {
        let pages = 12;
        let sink = CollectSink::new();
        let collected = sink.handle();
        let report = Pipeline::paged("order", ScriptedPaged::numbered(pages, per_page))
            .capacity(16)
            .batch_size(batch)
            .sink(sink)
            .spawn()
            .unwrap()
            .join()
            .await;
        assert!(report.outcome.is_completed());
        let snapshot = collected.snapshot();
        let mut written = 0usize;
        for (size, checkpoint) in &snapshot.batches {
            written += size;
            assert!(
                *size <= batch + per_page,
                "batch of {size} with batch_size {batch}"
            );
            if let Some(c) = checkpoint {
                let page: usize = c.as_str().trim_start_matches("page-").parse().unwrap();
                assert!(
                    written >= page * per_page,
                    "{c} written with only {written} items (per_page {per_page}, batch {batch})"
                );
            }
        }
        assert_eq!(written, pages * per_page);
        assert_eq!(snapshot.items, (0..(pages * per_page) as u64).collect::<Vec<_>>());
    }
}

#[tokio::test(start_paused = true)]
async fn batch_timeout_flushes_a_partial_batch() {
    // A slow source: one page of 3 items every 10 s, batch size 1000, timeout 1 s.
    let source = ScriptedPaged::numbered(3, 3).delay(Duration::from_secs(10));
    let sink = CollectSink::new();
    let collected = sink.handle();
    let handle = Pipeline::paged("timeout", source)
        .batch_size(1_000)
        .batch_timeout(Duration::from_secs(1))
        .lookahead(0)
        .sink(sink)
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(11_500)).await;
    let snapshot = collected.snapshot();
    assert_eq!(
        snapshot.items,
        vec![0, 1, 2],
        "the first page was flushed by the timeout"
    );
    assert_eq!(snapshot.batches, vec![(3, Some(Cursor::new("page-1")))]);
    let report = handle.join().await;
    assert!(report.outcome.is_completed());
    assert_eq!(collected.items().len(), 9);
}

#[tokio::test]
async fn end_of_input_flushes_the_last_partial_batch() {
    let sink = CollectSink::new();
    let collected = sink.handle();
    let report = Pipeline::paged("tail", ScriptedPaged::numbered(3, 7))
        .batch_size(1_000)
        .sink(sink)
        .spawn()
        .unwrap()
        .join()
        .await;
    assert!(report.outcome.is_completed());
    assert_eq!(collected.items().len(), 21);
    assert!(matches!(
        collected.outcome(),
        Some(crawlpipe_core::Outcome::Completed)
    ));
}

#[tokio::test]
async fn sink_write_failure_keeps_the_last_committed_checkpoint() {
    let sink = CollectSink::new().fail_from_write(3);
    let collected = sink.handle();
    let report = Pipeline::paged("sinkfail", ScriptedPaged::numbered(20, 10))
        .batch_size(15)
        .sink(sink)
        .spawn()
        .unwrap()
        .join()
        .await;
    let failure = report.outcome.failure().expect("failed");
    assert!(failure.error.is_retryable(), "a write error may succeed later");
    assert_eq!(report.progress.items_written, collected.items().len() as u64);
    assert_eq!(report.cursor, collected.last_checkpoint());
    assert_eq!(failure.resume_from, collected.last_checkpoint());
}

#[tokio::test]
async fn zero_settings_are_rejected_at_build_time() {
    let err = Pipeline::paged("zero", ScriptedPaged::numbered(1, 1))
        .capacity(0)
        .sink(CollectSink::new())
        .spawn()
        .unwrap_err();
    assert!(matches!(
        err,
        BuildError::Zero {
            setting: "capacity",
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        "pipeline zero: capacity must be at least 1, got 0"
    );

    let err = Pipeline::paged("zero", ScriptedPaged::numbered(1, 1))
        .batch_size(0)
        .sink(CollectSink::new())
        .spawn()
        .unwrap_err();
    assert!(matches!(
        err,
        BuildError::Zero {
            setting: "batch_size",
            ..
        }
    ));

    let err = Pipeline::paged("zero", ScriptedPaged::numbered(1, 1))
        .then(0, |n: u64| async move { n })
        .sink(CollectSink::new())
        .spawn()
        .unwrap_err();
    assert!(matches!(err, BuildError::Zero { .. }));
}

#[test]
fn spawning_outside_a_runtime_is_an_error_not_a_panic() {
    let err = Pipeline::paged("no-runtime", ScriptedPaged::numbered(1, 1))
        .sink(CollectSink::new())
        .spawn()
        .unwrap_err();
    assert!(matches!(err, BuildError::NoRuntime { .. }));
}
