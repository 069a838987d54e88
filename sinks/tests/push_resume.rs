//! A resumed push pipeline starts where its sink committed: no sink sees an
//! item twice, whether it upserts or appends.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use crawlpipe_core::{
    Cursor, Emitter, FetchError, Outcome, Pipeline, PushSource, Sink, SinkContext, SinkError,
};
use crawlpipe_sinks::{Database, JsonLinesSink};
use serde_json::{Value, json};

/// Emits items `{"id": n}` for n in 0..total, 10 per chunk, each chunk
/// checkpointed with the next number; fails after `fail_after` items if set.
/// Resumes after the start cursor and records every item it emitted.
struct Numbers {
    total: u64,
    fail_after: Option<u64>,
    emitted: Arc<Mutex<Vec<u64>>>,
}

impl Numbers {
    fn new(total: u64, fail_after: Option<u64>) -> (Self, Arc<Mutex<Vec<u64>>>) {
        let emitted = Arc::new(Mutex::new(Vec::new()));
        let source = Numbers {
            total,
            fail_after,
            emitted: emitted.clone(),
        };
        (source, emitted)
    }
}

#[async_trait]
impl PushSource for Numbers {
    type Item = Value;
    async fn run(&mut self, start: Option<Cursor>, emitter: &mut Emitter<Value>) -> Result<(), FetchError> {
        let mut next: u64 = match start {
            Some(c) => c
                .as_str()
                .parse()
                .map_err(|_| FetchError::permanent("bad start cursor"))?,
            None => 0,
        };
        while next < self.total {
            if self.fail_after.is_some_and(|n| next >= n) {
                return Err(FetchError::permanent("stream reset"));
            }
            let end = (next + 10).min(self.total);
            self.emitted.lock().unwrap().extend(next..end);
            if emitter
                .emit((next..end).map(|n| json!({ "id": n })).collect())
                .await
                .is_err()
            {
                return Ok(());
            }
            next = end;
            if emitter.checkpoint(Cursor::new(next.to_string())).await.is_err() {
                return Ok(());
            }
        }
        Ok(())
    }
}

fn ids(values: impl IntoIterator<Item = Value>) -> Vec<u64> {
    values.into_iter().map(|v| v["id"].as_u64().unwrap()).collect()
}

#[tokio::test]
async fn a_resumed_push_pipeline_appends_no_duplicate_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    let (source, _) = Numbers::new(100, Some(40));
    let report = Pipeline::push("numbers", source)
        .sink(JsonLinesSink::<Value>::new(&path))
        .spawn()
        .unwrap()
        .join()
        .await;
    assert!(
        matches!(report.outcome, Outcome::Failed(_)),
        "{:?}",
        report.outcome
    );

    let (source, emitted) = Numbers::new(100, None);
    let report = Pipeline::push("numbers", source)
        .sink(JsonLinesSink::<Value>::new(&path))
        .spawn()
        .unwrap()
        .join()
        .await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(
        emitted.lock().unwrap().first(),
        Some(&40),
        "resumed at the committed cursor"
    );
    let lines: Vec<Value> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(ids(lines), (0..100).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_resumed_push_pipeline_writes_each_row_once_to_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("push.db").display());
    let db = Database::open(&url).await.unwrap();
    let (source, _) = Numbers::new(100, Some(60));
    let report = Pipeline::push("numbers", source)
        .sink(db.documents().key_pointer("/id").build().unwrap())
        .spawn()
        .unwrap()
        .join()
        .await;
    assert_eq!(report.progress.items_written, 60);

    let (source, emitted) = Numbers::new(100, None);
    let report = Pipeline::push("numbers", source)
        .sink(db.documents().key_pointer("/id").build().unwrap())
        .spawn()
        .unwrap()
        .join()
        .await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(
        report.progress.items_written, 40,
        "only the items after the committed cursor"
    );
    assert_eq!(*emitted.lock().unwrap(), (60..100).collect::<Vec<_>>());
}

/// A sink without upserts: it remembers every item it was given and reports
/// its own committed cursor in `open`, as a user's sink would.
#[derive(Clone, Default)]
struct Ledger {
    items: Arc<Mutex<Vec<u64>>>,
    cursor: Arc<Mutex<Option<Cursor>>>,
}

#[async_trait]
impl Sink<Value> for Ledger {
    async fn open(&mut self, _ctx: &SinkContext) -> Result<Option<Cursor>, SinkError> {
        Ok(self.cursor.lock().unwrap().clone())
    }
    async fn write(&mut self, items: Vec<Value>, checkpoint: Option<&Cursor>) -> Result<(), SinkError> {
        self.items.lock().unwrap().extend(ids(items));
        if let Some(c) = checkpoint {
            *self.cursor.lock().unwrap() = Some(c.clone());
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_custom_sink_sees_each_item_once_across_a_resume() {
    let ledger = Ledger::default();
    let (source, _) = Numbers::new(100, Some(30));
    let _ = Pipeline::push("numbers", source)
        .sink(ledger.clone())
        .spawn()
        .unwrap()
        .join()
        .await;
    let (source, _) = Numbers::new(100, None);
    let report = Pipeline::push("numbers", source)
        .sink(ledger.clone())
        .spawn()
        .unwrap()
        .join()
        .await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(*ledger.items.lock().unwrap(), (0..100).collect::<Vec<_>>());
}

#[tokio::test]
async fn resume_from_overrides_where_a_push_source_starts() {
    let ledger = Ledger::default();
    let (source, emitted) = Numbers::new(50, None);
    let report = Pipeline::push("numbers", source)
        .resume_from(Some(Cursor::new("20")))
        .sink(ledger.clone())
        .spawn()
        .unwrap()
        .join()
        .await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(*emitted.lock().unwrap(), (20..50).collect::<Vec<_>>());
}
