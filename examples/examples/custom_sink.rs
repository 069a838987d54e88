//! Implementing `Sink`: write batches somewhere the built-in sinks don't go.
//!
//! This sink appends CSV lines to a file and records the checkpoint only
//! after the lines are flushed and synced, so a checkpoint never runs ahead
//! of the data it covers. It owns its checkpoint: `open` learns the
//! collection's name and hands the stored cursor back, so a pipeline resumes
//! by itself; a completed run removes it. (Lines after the last checkpoint
//! may come again after a crash: a plain file has no transactions.)
//! Run: `cargo run -p crawlpipe --example custom_sink`.
#![allow(clippy::print_stdout)]

use std::io::Write;

use async_trait::async_trait;
use crawlpipe_core::{Cursor, Outcome, Pipeline, Sink, SinkContext, SinkError};
use crawlpipe_sources::mock::{MockConfig, MockServer};
use crawlpipe_sources::{HttpContext, HttpSourceConfig, JsonSource, Pagination};
use serde_json::Value;

struct CsvSink {
    file: std::fs::File,
    checkpoint_path: std::path::PathBuf,
    collection: String,
}

impl CsvSink {
    fn io(&self) -> impl Fn(std::io::Error) -> SinkError + '_ {
        |e| SinkError::Write {
            collection: self.collection.clone(),
            source: e.into(),
        }
    }
}

#[async_trait]
impl Sink<Value> for CsvSink {
    async fn open(&mut self, context: &SinkContext) -> Result<Option<Cursor>, SinkError> {
        self.collection = context.collection().to_owned();
        if context.fresh() {
            let _ = std::fs::remove_file(&self.checkpoint_path);
        }
        match std::fs::read_to_string(&self.checkpoint_path) {
            Ok(stored) => Ok(Some(Cursor::new(stored))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io()(e)),
        }
    }

    async fn write(&mut self, items: Vec<Value>, checkpoint: Option<&Cursor>) -> Result<(), SinkError> {
        let io = self.io();
        let mut buf = String::new();
        for item in &items {
            buf.push_str(&format!("{},{}\n", item["id"], item["name"]));
        }
        let mut file = &self.file;
        file.write_all(buf.as_bytes()).map_err(&io)?;
        if let Some(c) = checkpoint {
            // Durable data first, then the checkpoint that covers it.
            self.file.sync_data().map_err(&io)?;
            std::fs::write(&self.checkpoint_path, c.as_str()).map_err(&io)?;
        }
        Ok(())
    }

    async fn finish(&mut self, outcome: &Outcome) -> Result<(), SinkError> {
        if outcome.is_completed() {
            // The next run is a refresh from the first page.
            let _ = std::fs::remove_file(&self.checkpoint_path);
        }
        println!(
            "finished: {}",
            if outcome.is_completed() {
                "completed"
            } else {
                "not completed"
            }
        );
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = MockServer::start(MockConfig::new(500, 50)).await?;
    let dir = tempfile::tempdir()?;
    let sink = CsvSink {
        file: std::fs::File::create(dir.path().join("items.csv"))?,
        checkpoint_path: dir.path().join("items.checkpoint"),
        collection: String::new(),
    };
    let config = HttpSourceConfig::new(server.url("/link?page=1")).pagination(Pagination::LinkHeader);
    let source = JsonSource::from_config(&config, &HttpContext::new()?)?;
    let report = Pipeline::paged("csv", source).sink(sink).spawn()?.join().await;
    let lines = std::fs::read_to_string(dir.path().join("items.csv"))?
        .lines()
        .count();
    println!("{lines} lines written, outcome {:?}", report.outcome);
    assert!(report.outcome.is_completed());
    assert_eq!(lines, 500);
    server.shutdown().await;
    Ok(())
}
