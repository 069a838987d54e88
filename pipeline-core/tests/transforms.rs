//! Per-item transforms: map, filter, filter_map, try_map, inspect, then, custom.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use crawlpipe_core::testkit::{CollectSink, ScriptedPaged};
use crawlpipe_core::{BoxError, ItemErrorPolicy, Outcome, Pipeline, StageError, Transform};

#[tokio::test]
async fn sync_transforms_compose_in_order() {
    let seen = Arc::new(AtomicU64::new(0));
    let seen2 = seen.clone();
    let sink = CollectSink::new();
    let collected = sink.handle();
    let report = Pipeline::paged("compose", ScriptedPaged::numbered(4, 25))
        .filter(|n| n % 3 != 0)
        .inspect(move |_| {
            seen2.fetch_add(1, Ordering::Relaxed);
        })
        .filter_map(|n: u64| (n < 90).then(|| format!("#{n}")))
        .map(|s: String| s.len())
        .sink(sink)
        .spawn()
        .unwrap()
        .join()
        .await;
    assert!(report.outcome.is_completed());
    let expected: Vec<usize> = (0..100u64)
        .filter(|n| n % 3 != 0)
        .filter(|&n| n < 90)
        .map(|n| format!("#{n}").len())
        .collect();
    assert_eq!(collected.items(), expected);
    assert_eq!(
        seen.load(Ordering::Relaxed),
        (0..100).filter(|n| n % 3 != 0).count() as u64
    );
}

#[tokio::test]
async fn try_map_skip_counts_rejected_items() {
    let sink = CollectSink::new();
    let collected = sink.handle();
    let report = Pipeline::paged("skip", ScriptedPaged::numbered(3, 10))
        .try_map(ItemErrorPolicy::Skip, |n: u64| {
            if n.is_multiple_of(5) {
                Err(format!("{n} is bad"))
            } else {
                Ok(n)
            }
        })
        .sink(sink)
        .spawn()
        .unwrap()
        .join()
        .await;
    assert!(report.outcome.is_completed());
    assert_eq!(report.progress.items_skipped, 6);
    assert_eq!(report.progress.items_written, 24);
    assert!(collected.items().iter().all(|n| n % 5 != 0));
}

#[tokio::test]
async fn try_map_fail_names_the_stage_and_resumes_before_the_bad_page() {
    let sink = CollectSink::new();
    let collected = sink.handle();
    let report = Pipeline::paged("strict", ScriptedPaged::numbered(6, 10))
        .map(|n: u64| n)
        .try_map(ItemErrorPolicy::Fail, |n: u64| {
            if n == 42 { Err("forty-two") } else { Ok(n) }
        })
        .batch_size(5)
        .sink(sink)
        .spawn()
        .unwrap()
        .join()
        .await;
    let failure = report.outcome.failure().expect("failed");
    match &failure.error {
        StageError::Item {
            stage, collection, ..
        } => {
            assert_eq!(stage, "try_map#1");
            assert_eq!(collection, "strict");
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert!(!failure.error.is_retryable());
    // Pages 0..4 are written; page 4 (40..50) held the bad item.
    assert_eq!(collected.items(), (0..40).collect::<Vec<u64>>());
    assert_eq!(failure.resume_from, Some(ScriptedPaged::<u64>::cursor(4)));
}

#[tokio::test]
async fn then_keeps_order_under_concurrency() {
    let sink = CollectSink::new();
    let collected = sink.handle();
    let report = Pipeline::paged("then", ScriptedPaged::numbered(5, 20))
        .then(8, |n: u64| async move {
            // Later items finish first.
            tokio::time::sleep(Duration::from_micros(200 - n % 20 * 10)).await;
            n * 3
        })
        .sink(sink)
        .spawn()
        .unwrap()
        .join()
        .await;
    assert!(report.outcome.is_completed());
    assert_eq!(collected.items(), (0..100).map(|n| n * 3).collect::<Vec<u64>>());
}

/// Emits running sums across chunks.
#[derive(Default)]
struct RunningSum(u64);

#[async_trait]
impl Transform<u64> for RunningSum {
    type Out = u64;
    async fn apply(&mut self, items: Vec<u64>) -> Result<Vec<u64>, BoxError> {
        Ok(items
            .into_iter()
            .map(|n| {
                self.0 += n;
                self.0
            })
            .collect())
    }
}

#[tokio::test]
async fn custom_transform_keeps_state_across_chunks() {
    let sink = CollectSink::new();
    let collected = sink.handle();
    let report = Pipeline::paged("custom", ScriptedPaged::numbered(3, 4))
        .transform(RunningSum::default())
        .sink(sink)
        .spawn()
        .unwrap()
        .join()
        .await;
    assert!(report.outcome.is_completed());
    let expected: Vec<u64> = (0..12u64)
        .scan(0, |acc, n| {
            Some({
                *acc += n;
                *acc
            })
        })
        .collect();
    assert_eq!(collected.items(), expected);
}

#[tokio::test]
async fn panicking_closure_fails_only_its_pipeline() {
    let bad_sink = CollectSink::new();
    let bad = Pipeline::paged("bad", ScriptedPaged::numbered(5, 10))
        .map(|n: u64| {
            assert!(n != 25, "boom at {n}");
            n
        })
        .sink(bad_sink)
        .spawn()
        .unwrap();
    let good_sink = CollectSink::new();
    let good_items = good_sink.handle();
    let good = Pipeline::paged("good", ScriptedPaged::numbered(50, 10))
        .sink(good_sink)
        .spawn()
        .unwrap();

    let bad_report = bad.join().await;
    match &bad_report.outcome {
        Outcome::Failed(f) => match &f.error {
            StageError::Panicked { stage, message, .. } => {
                assert_eq!(stage, "map#0");
                assert!(message.contains("boom at 25"), "{message}");
            }
            other => panic!("unexpected error {other:?}"),
        },
        other => panic!("unexpected outcome {other:?}"),
    }
    let good_report = good.join().await;
    assert!(good_report.outcome.is_completed());
    assert_eq!(good_items.items().len(), 500);
}

#[tokio::test]
async fn panicking_sink_fails_the_pipeline_naming_the_sink() {
    let sink = CollectSink::new().panic_at_write(2);
    let report = Pipeline::paged("sinkpanic", ScriptedPaged::numbered(5, 10))
        .batch_size(10)
        .sink(sink)
        .spawn()
        .unwrap()
        .join()
        .await;
    match &report.outcome.failure().expect("failed").error {
        StageError::Panicked { stage, .. } => assert_eq!(stage, "sink"),
        other => panic!("unexpected error {other:?}"),
    }
    assert_eq!(report.progress.items_written, 10);
    // A full batch waits for the checkpoint after its last page, so the first
    // write committed page 0 with its checkpoint: a resume starts at page 1.
    assert_eq!(report.cursor, Some(ScriptedPaged::<u64>::cursor(1)));
}
