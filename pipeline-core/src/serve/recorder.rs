//! The process-wide Prometheus recorder behind `GET /metrics`.

use std::sync::Mutex;

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::ServeError;

static RECORDER: Mutex<Option<PrometheusHandle>> = Mutex::new(None);

/// Seconds buckets for the fetch and sink-batch histograms: 5 ms .. 60 s.
const SECONDS_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
];

/// Installs the process-wide Prometheus recorder once and returns its handle;
/// later calls return the same handle.
///
/// # Errors
///
/// [`ServeError::Recorder`] when another global recorder was installed first.
pub fn install_recorder() -> Result<PrometheusHandle, ServeError> {
    let mut installed = RECORDER.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(handle) = &*installed {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_duration_seconds".to_owned()), &SECONDS_BUCKETS)
        .and_then(PrometheusBuilder::install_recorder)
        .map_err(|source| ServeError::Recorder { source })?;
    describe();
    *installed = Some(handle.clone());
    Ok(handle)
}

/// `# HELP` texts for every metric in docs/operations.md, "Metrics and status",
/// table, the runner's included.
fn describe() {
    describe_counter!(
        "pipeline_items_total",
        "Items per collection and stage (source: fetched, sink: committed, skipped, rejected)."
    );
    describe_counter!("pipeline_pages_total", "Pages fetched per collection.");
    describe_gauge!("pipeline_edge_items", "Items waiting on an edge.");
    describe_histogram!(
        "pipeline_fetch_duration_seconds",
        Unit::Seconds,
        "Duration of page fetches per host."
    );
    describe_counter!(
        "pipeline_fetch_errors_total",
        "Failed fetches per host and error kind."
    );
    describe_counter!("pipeline_retries_total", "Fetch retries per host.");
    describe_gauge!(
        "pipeline_circuit_open",
        "1 while the host's circuit breaker is open."
    );
    describe_histogram!(
        "pipeline_sink_batch_duration_seconds",
        Unit::Seconds,
        "Duration of sink batch writes per collection."
    );
    describe_gauge!("pipeline_collections", "Collections per runner state.");
    describe_gauge!(
        "pipeline_stalled",
        "1 while a crawling collection has made no progress for the stall timeout."
    );
}
