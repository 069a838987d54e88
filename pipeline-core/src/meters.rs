//! Cached metric handles: looked up once per pipeline, incremented per chunk.
//!
//! Label values come only from configuration (collection names, configured
//! hosts), never from URLs, item data or error text.

use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};

use crate::FetchErrorKind;

pub(crate) struct Meters {
    pub(crate) items_source: Counter,
    pub(crate) items_sink: Counter,
    pub(crate) items_skipped: Counter,
    pub(crate) items_rejected: Counter,
    pub(crate) pages: Counter,
    pub(crate) pages_not_modified: Counter,
    pub(crate) sink_batch: Histogram,
    pub(crate) fetch_duration: Histogram,
    pub(crate) retries: Counter,
    host: String,
}

impl Meters {
    pub(crate) fn new(collection: &str, host: Option<&str>) -> Self {
        let c = label(collection).to_owned();
        let host = host.unwrap_or("unknown").to_owned();
        Self {
            items_source: counter!("pipeline_items_total", "collection" => c.clone(), "stage" => "source"),
            items_sink: counter!("pipeline_items_total", "collection" => c.clone(), "stage" => "sink"),
            items_skipped: counter!("pipeline_items_total", "collection" => c.clone(), "stage" => "skipped"),
            items_rejected: counter!("pipeline_items_total", "collection" => c.clone(), "stage" => "rejected"),
            pages: counter!("pipeline_pages_total", "collection" => c.clone()),
            pages_not_modified: counter!("pipeline_pages_total", "collection" => c.clone(), "outcome" => "not_modified"),
            sink_batch: histogram!("pipeline_sink_batch_duration_seconds", "collection" => c),
            fetch_duration: histogram!("pipeline_fetch_duration_seconds", "host" => host.clone()),
            retries: counter!("pipeline_retries_total", "host" => host.clone()),
            host,
        }
    }

    /// Counts a fetch error (an error path, so the handle is not cached).
    pub(crate) fn fetch_error(&self, kind: FetchErrorKind) {
        counter!("pipeline_fetch_errors_total", "host" => self.host.clone(), "kind" => kind.as_str())
            .increment(1);
    }
}

/// A collection's metric label: the name up to its first `/`, so a child
/// collection (`issues/<parent key>`, a name made from data) is labelled by
/// its configured group (`issues`).
pub(crate) fn label(collection: &str) -> &str {
    collection.split('/').next().unwrap_or(collection)
}

pub(crate) fn edge_gauge(collection: &str, edge: &'static str) -> Gauge {
    gauge!("pipeline_edge_items", "collection" => label(collection).to_owned(), "edge" => edge)
}
