//! The sink owns the checkpoint: it says where a pipeline resumes, learns the
//! collection's name from the pipeline, and refuses items naming their page.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use crawlpipe_core::testkit::ScriptedPaged;
use crawlpipe_core::{Cursor, Pipeline, Sink, SinkContext, SinkError, StageError};
use futures::StreamExt;

/// What the test sink saw: its context, the items and cursor it committed.
#[derive(Debug, Default)]
struct Seen {
    collection: String,
    items: Vec<u64>,
    committed: Option<Cursor>,
    pages: Vec<u64>,
}

/// A sink that stores its cursor, and rejects one item value if asked.
#[derive(Debug, Clone, Default)]
struct TableSink {
    seen: Arc<Mutex<Seen>>,
    stored: Option<Cursor>,
    reject: Option<u64>,
    context: Option<SinkContext>,
}

#[async_trait]
impl Sink<u64> for TableSink {
    async fn open(&mut self, context: &SinkContext) -> Result<Option<Cursor>, SinkError> {
        self.seen.lock().unwrap().collection = context.collection().to_owned();
        self.context = Some(context.clone());
        Ok(if context.fresh() {
            None
        } else {
            self.stored.clone()
        })
    }

    async fn write(&mut self, items: Vec<u64>, checkpoint: Option<&Cursor>) -> Result<(), SinkError> {
        let mut seen = self.seen.lock().unwrap();
        if let Some(index) = self.reject.and_then(|bad| items.iter().position(|&i| i == bad)) {
            // Commit what comes before the bad item, without the checkpoint.
            seen.items.extend_from_slice(&items[..index]);
            return Err(SinkError::Rejected {
                collection: seen.collection.clone(),
                index,
                reason: "the key is missing".to_owned(),
            });
        }
        seen.items.extend(items);
        if let Some(c) = checkpoint {
            seen.committed = Some(c.clone());
            let pages = self.context.as_ref().map_or(0, SinkContext::pages);
            seen.pages.push(pages);
        }
        Ok(())
    }
}

#[tokio::test]
async fn the_sinks_stored_cursor_resumes_the_pipeline_by_itself() {
    let source = ScriptedPaged::numbered(4, 5);
    let log = source.fetch_log();
    let sink = TableSink {
        stored: Some(ScriptedPaged::<u64>::cursor(2)),
        ..TableSink::default()
    };
    let seen = sink.seen.clone();
    let report = Pipeline::paged("issues", source)
        .sink(sink)
        .spawn()
        .unwrap()
        .join()
        .await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(log.requests(), [2, 3]);
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen.collection, "issues",
        "the name is given once, to the pipeline"
    );
    assert_eq!(seen.items, (10..20).collect::<Vec<_>>());
}

#[tokio::test]
async fn fresh_and_an_explicit_cursor_win_over_the_stored_one() {
    let stored = Some(ScriptedPaged::<u64>::cursor(2));
    let source = ScriptedPaged::numbered(4, 5);
    let log = source.fetch_log();
    let sink = TableSink {
        stored: stored.clone(),
        ..TableSink::default()
    };
    let report = Pipeline::paged("a", source)
        .fresh(true)
        .sink(sink)
        .spawn()
        .unwrap()
        .join()
        .await;
    assert!(report.outcome.is_completed());
    assert_eq!(log.requests(), [0, 1, 2, 3]);

    let source = ScriptedPaged::numbered(4, 5);
    let log = source.fetch_log();
    let sink = TableSink {
        stored,
        ..TableSink::default()
    };
    let report = Pipeline::paged("a", source)
        .resume_from(Some(ScriptedPaged::<u64>::cursor(3)))
        .sink(sink)
        .spawn()
        .unwrap()
        .join()
        .await;
    assert!(report.outcome.is_completed());
    assert_eq!(log.requests(), [3]);
}

#[tokio::test(start_paused = true)]
async fn a_rejected_item_commits_everything_before_it_and_names_page_and_index() {
    // Pages of 5: item 13 is index 3 of page 2, in one batch with pages 0..=3.
    let sink = TableSink {
        reject: Some(13),
        ..TableSink::default()
    };
    let seen = sink.seen.clone();
    let report = Pipeline::paged("users", ScriptedPaged::numbered(4, 5))
        .sink(sink)
        .spawn()
        .unwrap()
        .join()
        .await;
    let failure = report.outcome.failure().expect("failed");
    let page2 = ScriptedPaged::<u64>::cursor(2);
    match &failure.error {
        StageError::Rejected {
            collection,
            cursor,
            index,
            ..
        } => {
            assert_eq!(
                (collection.as_str(), cursor, *index),
                ("users", &Some(page2.clone()), 3)
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    let text = failure.error.to_string();
    assert!(
        text.contains("users") && text.contains("page-2") && text.contains("item 3"),
        "{text}"
    );
    assert!(!failure.error.is_retryable());
    assert_eq!(failure.resume_from, Some(page2.clone()));
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen.items,
        (0..13).collect::<Vec<_>>(),
        "everything before the bad item"
    );
    assert_eq!(
        seen.committed,
        Some(page2),
        "the checkpoint of the last whole page"
    );
    assert_eq!(seen.pages, [2], "that checkpoint covers pages 0 and 1");
}

#[tokio::test(start_paused = true)]
async fn the_context_counts_the_pages_each_checkpoint_covers() {
    let sink = TableSink::default();
    let seen = sink.seen.clone();
    let report = Pipeline::paged("p", ScriptedPaged::numbered(6, 5))
        .batch_size(10)
        .sink(sink)
        .spawn()
        .unwrap()
        .join()
        .await;
    assert!(report.outcome.is_completed());
    let seen = seen.lock().unwrap();
    assert_eq!(seen.items.len(), 30);
    assert!(seen.pages.windows(2).all(|w| w[0] < w[1]), "{:?}", seen.pages);
    assert_eq!(seen.pages.last(), Some(&5), "the last page carries no checkpoint");
}

#[tokio::test]
async fn a_link_back_to_the_first_page_is_a_repeat_not_a_second_fetch() {
    // Page 1 links back to page 0, which was fetched without a cursor.
    let source = ScriptedPaged::numbered(3, 5).next_of(1, 0);
    let log = source.fetch_log();
    let report = Pipeline::paged("loop", source)
        .sink(TableSink::default())
        .spawn()
        .unwrap()
        .join()
        .await;
    let failure = report.outcome.failure().expect("failed");
    assert!(
        matches!(failure.error, StageError::RepeatedCursor { .. }),
        "{:?}",
        failure.error
    );
    assert_eq!(log.requests(), [0, 1]);
}

#[tokio::test]
async fn a_finished_stream_keeps_returning_none() {
    let mut stream = Pipeline::paged("s", ScriptedPaged::numbered(1, 2))
        .into_stream()
        .unwrap();
    assert_eq!(stream.next().await.map(Result::unwrap), Some(0));
    assert_eq!(stream.next().await.map(Result::unwrap), Some(1));
    for _ in 0..3 {
        assert!(stream.next().await.is_none(), "fused: no panic after the end");
    }
    assert!(futures::stream::FusedStream::is_terminated(&stream));
}

/// One write: its items and its checkpoint.
type Write = (Vec<u64>, Option<Cursor>);

/// Records every write.
#[derive(Debug, Clone, Default)]
struct WriteLog(Arc<Mutex<Vec<Write>>>);

#[async_trait]
impl Sink<u64> for WriteLog {
    async fn write(&mut self, items: Vec<u64>, checkpoint: Option<&Cursor>) -> Result<(), SinkError> {
        self.0.lock().unwrap().push((items, checkpoint.cloned()));
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_checkpoint_never_travels_with_items_it_does_not_cover() {
    // Pages of 4, batches of 5: a batch boundary falls inside most pages.
    let log = WriteLog::default();
    let writes = log.0.clone();
    let report = Pipeline::paged("strict", ScriptedPaged::numbered(10, 4))
        .batch_size(5)
        .sink(log)
        .spawn()
        .unwrap()
        .join()
        .await;
    assert!(report.outcome.is_completed());
    let writes = writes.lock().unwrap();
    let mut all = Vec::new();
    for (items, checkpoint) in writes.iter() {
        all.extend_from_slice(items);
        if let Some(c) = checkpoint {
            let page: u64 = c.as_str()["page-".len()..].parse().unwrap();
            // Restarting at `page` yields the items from page * 4 on: the
            // write (and all before it) must end exactly there.
            assert_eq!(all.len() as u64, page * 4, "write {items:?} with {c}");
        }
    }
    assert_eq!(all, (0..40).collect::<Vec<_>>());
}

/// Records how a run ended: writes, last writes and `finish` calls, and
/// records the completion with the last batch when `folds`.
#[derive(Debug, Clone, Default)]
struct Ends {
    folds: bool,
    calls: Arc<Mutex<Vec<String>>>,
}

#[async_trait]
impl Sink<u64> for Ends {
    async fn write(&mut self, items: Vec<u64>, _: Option<&Cursor>) -> Result<(), SinkError> {
        self.calls.lock().unwrap().push(format!("write {}", items.len()));
        Ok(())
    }

    async fn write_last(&mut self, items: Vec<u64>, _: Option<&Cursor>) -> Result<bool, SinkError> {
        self.calls.lock().unwrap().push(format!("last {}", items.len()));
        Ok(self.folds)
    }

    async fn finish(&mut self, outcome: &crawlpipe_core::Outcome) -> Result<(), SinkError> {
        let state = if outcome.is_completed() {
            "completed"
        } else {
            "unfinished"
        };
        self.calls.lock().unwrap().push(format!("finish {state}"));
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_completed_run_writes_its_last_batch_with_write_last() {
    for folds in [false, true] {
        let sink = Ends {
            folds,
            ..Ends::default()
        };
        let calls = sink.calls.clone();
        // Pages of 4, batches of 5: a batch per page, the last one as the last.
        let report = Pipeline::paged("ends", ScriptedPaged::numbered(3, 4))
            .batch_size(5)
            .sink(sink)
            .spawn()
            .unwrap()
            .join()
            .await;
        assert!(report.outcome.is_completed(), "folds {folds}");
        let calls = calls.lock().unwrap().clone();
        let mut expected = vec!["write 4", "write 4", "last 4"];
        if !folds {
            // The sink did not record the completion: `finish` does.
            expected.push("finish completed");
        }
        assert_eq!(calls, expected, "folds {folds}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_run_never_writes_with_write_last() {
    let sink = Ends {
        folds: true,
        ..Ends::default()
    };
    let calls = sink.calls.clone();
    // Pages 0 and 1 arrive, page 2 fails for good.
    let source = ScriptedPaged::numbered(3, 4).fail(2, crawlpipe_core::testkit::Fault::Permanent, 1);
    let report = Pipeline::paged("ends", source)
        .sink(sink)
        .spawn()
        .unwrap()
        .join()
        .await;
    assert!(!report.outcome.is_completed());
    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls, vec!["write 8", "finish unfinished"]);
}
