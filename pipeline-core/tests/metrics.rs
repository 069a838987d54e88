//! The core's metrics, with the names in docs/operations.md and labels from configuration only.

use crawlpipe_core::Pipeline;
use crawlpipe_core::testkit::{CollectSink, Fault, ScriptedPaged};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

#[test]
fn core_metrics_count_items_pages_batches_and_errors() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let report = Pipeline::paged(
                "metered",
                ScriptedPaged::numbered(6, 10)
                    .fail(2, Fault::Transient, 1)
                    .with_host("api.test"),
            )
            .batch_size(20)
            .filter(|n| n % 2 == 0)
            .sink(CollectSink::new())
            .spawn()
            .unwrap()
            .join()
            .await;
            assert!(report.outcome.is_completed());
        });
    });

    let mut counters = std::collections::HashMap::new();
    let mut histograms = std::collections::HashMap::new();
    let mut gauges = std::collections::HashMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let mut labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        labels.sort();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        match value {
            DebugValue::Counter(c) => {
                counters.insert(name, c);
            }
            DebugValue::Histogram(h) => {
                histograms.insert(name, h.len());
            }
            DebugValue::Gauge(g) => {
                gauges.insert(name, g.into_inner());
            }
        }
    }
    assert_eq!(
        counters["pipeline_items_total{collection=metered,stage=source}"],
        60
    );
    assert_eq!(
        counters["pipeline_items_total{collection=metered,stage=sink}"],
        30
    );
    assert_eq!(counters["pipeline_pages_total{collection=metered}"], 6);
    assert_eq!(counters["pipeline_retries_total{host=api.test}"], 1);
    assert_eq!(
        counters["pipeline_fetch_errors_total{host=api.test,kind=transient}"],
        1
    );
    assert_eq!(histograms["pipeline_fetch_duration_seconds{host=api.test}"], 7);
    assert!(histograms["pipeline_sink_batch_duration_seconds{collection=metered}"] >= 2);
    // Every item that entered an edge left it.
    assert_eq!(gauges["pipeline_edge_items{collection=metered,edge=source}"], 0.0);
    assert_eq!(gauges["pipeline_edge_items{collection=metered,edge=sink}"], 0.0);
}
