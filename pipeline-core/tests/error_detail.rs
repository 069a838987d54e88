//! A collection's last error is in its status as fields too: kind, HTTP
//! status, cursor and message.

mod support;

use crawlpipe_core::runner::{Collection, Runner};
use crawlpipe_core::testkit::CollectSink;
use crawlpipe_core::{Cursor, FetchError, Page, Paged, Pipeline, State, async_trait};

use support::RecordingStore;

/// One page, then an HTTP 404 on the second.
struct GoneAfterOnePage;

#[async_trait]
impl Paged for GoneAfterOnePage {
    type Item = u64;
    async fn fetch(&mut self, cursor: Option<&Cursor>) -> Result<Page<u64>, FetchError> {
        match cursor {
            None => Ok(Page::new(vec![1, 2], Some(Cursor::new("page-2")))),
            Some(_) => Err(
                FetchError::permanent("GET https://api.example.com/items?page=2: HTTP 404")
                    .with_http_status(404),
            ),
        }
    }
}

#[tokio::test]
async fn a_failed_collection_shows_its_error_as_fields() {
    let runner = Runner::builder(RecordingStore::new())
        .max_resumes(0)
        .collection(Collection::new("gone", |name| {
            Ok(Pipeline::paged(name, GoneAfterOnePage).sink(CollectSink::new()))
        }))
        .build()
        .unwrap();
    runner.start().unwrap();
    let summaries = runner.join().await;
    assert_eq!(summaries[0].state, State::Failed);
    let status = runner.status();
    let detail = status[0]
        .last_error_detail
        .clone()
        .expect("the detail of the last error");
    assert_eq!(detail.kind, "permanent");
    assert_eq!(detail.http_status, Some(404));
    assert_eq!(detail.cursor.as_deref(), Some("page-2"));
    assert!(detail.message.contains("HTTP 404"), "{detail:?}");
    let json = serde_json::to_value(&status[0]).unwrap();
    assert_eq!(json["last_error_detail"]["http_status"], 404, "{json}");
}
