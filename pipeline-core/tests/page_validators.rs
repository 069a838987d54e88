//! Page validators through a pipeline: the sink's offered store reaches the
//! source, each page's validation reaches the sink with the write holding
//! the page's last items (at the right place, however pages and batches
//! are cut), and `304` pages are counted in `pages_not_modified`.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use crawlpipe_core::{
    Cursor, FetchError, Page, PageEnd, PageValidator, Paged, Pipeline, Sink, SinkContext, SinkError,
    Validation, Validators,
};

#[derive(Debug)]
struct NoneStored;

#[async_trait]
impl Validators for NoneStored {
    async fn get(&self, _: &str) -> Result<Option<PageValidator>, SinkError> {
        Ok(None)
    }
}

/// Pages of `per_page` numbers; page 2 (of 0..pages) is a `304`, odd pages
/// have no validators, the others are fetched with one.
struct Source {
    pages: u64,
    per_page: u64,
    given_store: Arc<Mutex<bool>>,
}

fn validator(page: u64, next: Option<&Cursor>) -> PageValidator {
    PageValidator {
        request: format!("page-{page}"),
        etag: Some(format!("\"{page}\"")),
        last_modified: None,
        next: next.cloned(),
    }
}

#[async_trait]
impl Paged for Source {
    type Item = u64;

    async fn fetch(&mut self, cursor: Option<&Cursor>) -> Result<Page<u64>, FetchError> {
        let page: u64 = cursor.map_or(0, |c| c.as_str().parse().unwrap());
        let next = (page + 1 < self.pages).then(|| Cursor::new((page + 1).to_string()));
        let v = validator(page, next.as_ref());
        Ok(match page {
            2 => Page::new(Vec::new(), next).with_validation(Some(Validation::NotModified(v))),
            p if p % 2 == 1 => Page::new((0..self.per_page).map(|i| p * 100 + i).collect(), next),
            p => Page::new((0..self.per_page).map(|i| p * 100 + i).collect(), next)
                .with_validation(Some(Validation::Fetched(v))),
        })
    }

    fn use_validators(&mut self, _: Arc<dyn Validators>) {
        *self.given_store.lock().unwrap() = true;
    }
}

/// Records every item written and where each validated page ended.
#[derive(Default, Clone)]
struct Recorder {
    written: Arc<Mutex<Vec<u64>>>,
    /// (validator request, items written before the page's end, not modified)
    pages: Arc<Mutex<Vec<(String, usize, bool)>>>,
    pending: Vec<PageEnd>,
}

#[async_trait]
impl Sink<u64> for Recorder {
    async fn open(&mut self, ctx: &SinkContext) -> Result<Option<Cursor>, SinkError> {
        ctx.offer_validators(Arc::new(NoneStored));
        Ok(None)
    }

    fn page_ends(&mut self, ends: Vec<PageEnd>) {
        self.pending = ends;
    }

    async fn write(&mut self, items: Vec<u64>, _: Option<&Cursor>) -> Result<(), SinkError> {
        let mut written = self.written.lock().unwrap();
        let before = written.len();
        for end in std::mem::take(&mut self.pending) {
            assert!(
                end.end <= items.len(),
                "an end past the batch: {} of {}",
                end.end,
                items.len()
            );
            if let Some(v) = end.validation {
                let unchanged = v.is_not_modified();
                self.pages
                    .lock()
                    .unwrap()
                    .push((v.validator().request.clone(), before + end.end, unchanged));
            }
        }
        written.extend(items);
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn each_validation_reaches_the_sink_at_its_page_end() {
    for (per_page, batch, lookahead) in [(5, 3, 1), (5, 5, 0), (3, 100, 2), (7, 2, 1)] {
        let pages = 6;
        let given = Arc::new(Mutex::new(false));
        let source = Source {
            pages,
            per_page,
            given_store: given.clone(),
        };
        let sink = Recorder::default();
        let (written, ends) = (sink.written.clone(), sink.pages.clone());
        let report = Pipeline::paged("validated", source)
            .batch_size(batch)
            .lookahead(lookahead)
            .sink(sink)
            .spawn()
            .unwrap()
            .join()
            .await;
        assert!(report.outcome.is_completed(), "{:?}", report.outcome);
        assert!(*given.lock().unwrap(), "the sink's store reached the source");
        assert_eq!(
            (report.progress.pages, report.progress.pages_not_modified),
            (pages, 1)
        );
        let written = written.lock().unwrap().clone();
        // Pages 0, 1, 3, 4, 5 have items; page 2 is a 304.
        let items_before = |page: u64| -> usize { (0..page).filter(|p| *p != 2).count() * per_page as usize };
        let want: Vec<(String, usize, bool)> = [0, 2, 4]
            .into_iter()
            .map(|p| (format!("page-{p}"), items_before(p + 1), p == 2))
            .collect();
        assert_eq!(*ends.lock().unwrap(), want, "per_page {per_page}, batch {batch}");
        assert_eq!(written.len(), 5 * per_page as usize);
    }
}

#[test]
fn not_modified_pages_are_counted_in_metrics_status_and_summary() {
    use crawlpipe_core::MemoryCheckpointStore;
    use crawlpipe_core::runner::{Collection, Runner};
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let collection = Collection::new("unchanged", |name| {
                let source = Source {
                    pages: 4,
                    per_page: 3,
                    given_store: Arc::default(),
                };
                Ok(Pipeline::paged(name, source).sink(Recorder::default()))
            });
            let runner = Runner::builder(Arc::new(MemoryCheckpointStore::new()))
                .collection(collection)
                .build()
                .unwrap();
            let summaries = runner.join().await;
            assert_eq!(
                (
                    summaries[0].progress.pages,
                    summaries[0].progress.pages_not_modified
                ),
                (4, 1)
            );
            let status = serde_json::to_value(runner.status()).unwrap();
            assert_eq!(status[0]["pages_not_modified"], 1, "{status}");
        });
    });
    let counters: std::collections::HashMap<String, u64> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(key, _, _, value)| {
            let key = key.key();
            let mut labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            match value {
                DebugValue::Counter(c) => Some((format!("{}{{{}}}", key.name(), labels.join(",")), c)),
                _ => None,
            }
        })
        .collect();
    assert_eq!(counters["pipeline_pages_total{collection=unchanged}"], 3);
    assert_eq!(
        counters["pipeline_pages_total{collection=unchanged,outcome=not_modified}"],
        1
    );
}
