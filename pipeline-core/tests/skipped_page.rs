//! A page the source skips by rule (`FetchError::Skipped`): the collection
//! completes with the pages before it and their checkpoints, the skip is
//! counted and named in the report, the runner's status (`/status` JSON)
//! and the summary, and it is never retried.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use crawlpipe_core::runner::{Collection, Runner};
use crawlpipe_core::testkit::CollectSink;
use crawlpipe_core::{Cursor, FetchError, MemoryCheckpointStore, Page, Paged, Pipeline, State};

/// Pages of 10 numbers; page `skip` (from 0) is skipped by rule.
#[derive(Clone)]
struct Gappy {
    skip: u64,
    fetches: Arc<AtomicU32>,
}

#[async_trait]
impl Paged for Gappy {
    type Item = u64;

    async fn fetch(&mut self, cursor: Option<&Cursor>) -> Result<Page<u64>, FetchError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let page: u64 = cursor
            .map_or(Ok(0), |c| c.as_str().parse())
            .map_err(|_| FetchError::invalid("bad"))?;
        if page == self.skip {
            return Err(FetchError::skipped(format!(
                "page {page}: HTTP 404, on_status 404 = \"skip\""
            )));
        }
        let items = (page * 10..page * 10 + 10).collect();
        Ok(Page::new(items, Some(Cursor::new((page + 1).to_string()))))
    }
}

fn gappy(skip: u64) -> (Gappy, Arc<AtomicU32>) {
    let fetches = Arc::new(AtomicU32::new(0));
    (
        Gappy {
            skip,
            fetches: fetches.clone(),
        },
        fetches,
    )
}

#[tokio::test(start_paused = true)]
async fn a_skipped_page_ends_the_collection_counted_and_named_never_retried() {
    for lookahead in [0, 1] {
        let (source, fetches) = gappy(3);
        let sink = CollectSink::new();
        let handle = sink.handle();
        let report = Pipeline::paged("gappy", source)
            .lookahead(lookahead)
            .sink(sink)
            .spawn()
            .unwrap()
            .join()
            .await;
        assert!(report.outcome.is_completed(), "{:?}", report.outcome);
        assert_eq!(handle.items(), (0..30).collect::<Vec<u64>>());
        assert_eq!(
            handle.last_checkpoint().map(|c| c.as_str().to_owned()).as_deref(),
            Some("3")
        );
        assert_eq!((report.progress.pages, report.progress.pages_skipped), (3, 1));
        let named = report.progress.last_skipped.unwrap();
        assert!(
            named.contains("\"3\"") && named.contains("on_status 404"),
            "{named}"
        );
        assert_eq!(fetches.load(Ordering::SeqCst), 4, "skipped once, not retried");
    }
}

#[tokio::test(start_paused = true)]
async fn the_runner_shows_the_skip_in_its_status_and_summary() {
    let (source, _) = gappy(0);
    let collection = Collection::new("empty", move |name| {
        Ok(Pipeline::paged(name, source.clone()).sink(CollectSink::new()))
    });
    let runner = Runner::builder(Arc::new(MemoryCheckpointStore::new()))
        .collection(collection)
        .build()
        .unwrap();
    let summaries = runner.join().await;
    let s = &summaries[0];
    assert_eq!(
        (s.state, s.progress.items_written, s.progress.pages_skipped),
        (State::Completed, 0, 1)
    );
    assert!(
        s.progress
            .last_skipped
            .as_deref()
            .unwrap()
            .contains("the first page"),
        "{:?}",
        s.progress.last_skipped
    );
    let status = serde_json::to_value(runner.status()).unwrap();
    assert_eq!(status[0]["pages_skipped"], 1, "{status}");
    assert!(status[0]["last_skipped"].as_str().unwrap().contains("HTTP 404"));
}
