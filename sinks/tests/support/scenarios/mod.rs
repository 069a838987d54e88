//! Behaviours every SQL backend must have, run by `sqlite.rs` and `postgres.rs`.

mod high_water;
mod items;
mod raw;
mod record_keys;
mod resume;
mod staging;
mod store;

pub use self::high_water::*;
pub use self::items::*;
pub use self::raw::*;
pub use self::record_keys::*;
pub use self::resume::*;
pub use self::staging::*;
pub use self::store::*;

use crawlpipe_core::testkit::ScriptedPaged;
use crawlpipe_core::{Cursor, Pipeline, Report, Sink, SinkError, StageError};
use crawlpipe_sinks::Database;
use serde_json::Value;

/// Runs `pages` through `sink` as collection `coll`, `batch` items per
/// batch; the sink says where to resume.
pub async fn run<S: Sink<Value>>(coll: &str, source: ScriptedPaged<Value>, batch: usize, sink: S) -> Report {
    run_with(coll, source, batch, false, sink).await
}

/// As [`run`], starting over when `fresh`.
pub async fn run_with<S: Sink<Value>>(
    coll: &str,
    source: ScriptedPaged<Value>,
    batch: usize,
    fresh: bool,
    sink: S,
) -> Report {
    Pipeline::paged(coll, source)
        .fresh(fresh)
        .batch_size(batch)
        .capacity(batch.max(1024))
        .sink(sink)
        .spawn()
        .expect("spawn")
        .join()
        .await
}

/// The SQL documents sink with default settings.
pub fn docs_sink(db: &Database) -> crawlpipe_sinks::SqlSink<Value> {
    db.documents().build().expect("build")
}

/// The sink error a failed report carries.
pub fn sink_error(report: &Report) -> &SinkError {
    match report.outcome.failure().map(|f| &f.error) {
        Some(StageError::Sink { source, .. }) => source,
        other => panic!("expected a sink failure, got {other:?}"),
    }
}

fn page_index(cursor: Option<&Cursor>) -> usize {
    cursor
        .and_then(|c| c.as_str().strip_prefix("page-"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}
