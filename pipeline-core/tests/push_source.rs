//! Free-running sources driven through an `Emitter`.

use async_trait::async_trait;
use crawlpipe_core::testkit::CollectSink;
use crawlpipe_core::{Cursor, Emitter, FetchError, Pipeline, PushSource, StageError};

/// Emits `chunks` chunks of 10 numbers, each followed by a checkpoint, then fails if asked.
struct Counter {
    chunks: u64,
    fail: bool,
}

#[async_trait]
impl PushSource for Counter {
    type Item = u64;
    async fn run(&mut self, start: Option<Cursor>, emitter: &mut Emitter<u64>) -> Result<(), FetchError> {
        let first = start.map_or(0, |c| c.as_str().parse().unwrap());
        for c in first..self.chunks {
            if emitter.is_cancelled() || emitter.emit((c * 10..(c + 1) * 10).collect()).await.is_err() {
                return Ok(());
            }
            let _ = emitter.checkpoint(Cursor::new(format!("{}", c + 1))).await;
        }
        if self.fail {
            return Err(FetchError::transient("stream reset"));
        }
        Ok(())
    }
}

#[tokio::test]
async fn free_source_completes() {
    let sink = CollectSink::new();
    let collected = sink.handle();
    let report = Pipeline::push(
        "free",
        Counter {
            chunks: 7,
            fail: false,
        },
    )
    .sink(sink)
    .spawn()
    .unwrap()
    .join()
    .await;
    assert!(report.outcome.is_completed());
    assert_eq!(collected.items(), (0..70).collect::<Vec<_>>());
    assert_eq!(report.progress.pages, 7);
}

#[tokio::test]
async fn free_source_error_fails_from_its_last_checkpoint() {
    let sink = CollectSink::new();
    let collected = sink.handle();
    let report = Pipeline::push(
        "free",
        Counter {
            chunks: 3,
            fail: true,
        },
    )
    .sink(sink)
    .spawn()
    .unwrap()
    .join()
    .await;
    let failure = report.outcome.failure().expect("failed");
    assert!(matches!(failure.error, StageError::Fetch { .. }));
    assert_eq!(failure.resume_from, Some(Cursor::new("3")));
    assert_eq!(collected.items().len(), 30);
}
