//! Incremental marks known before a run (`high_water_floor`).

use crawlpipe_core::testkit::ScriptedPaged;
use crawlpipe_sinks::Database;
use serde_json::json;

use super::run;
use crate::support::{Reader, unique};

/// A floor is stored by a completed run even without items, and the greater
/// of it and the items' marks wins.
pub async fn a_high_water_floor_is_stored_even_without_items(url: &str) {
    let db = Database::open(url).await.unwrap();
    let reader = Reader::connect(url).await;
    let coll = unique("floor");
    let sink = db
        .documents()
        .build()
        .unwrap()
        .high_water_floor("2024-01-03T00:00:00Z");
    let report = run(&coll, ScriptedPaged::new(vec![Vec::new()]), 10, sink).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(
        db.high_water(&coll).await.unwrap().as_deref(),
        Some("2024-01-03T00:00:00Z")
    );

    let page = vec![
        json!({"id": 1, "at": "2024-01-05T00:00:00Z"}),
        json!({"id": 2, "at": "2024-01-02T00:00:00Z"}),
    ];
    let sink = db
        .documents()
        .high_water("/at")
        .build()
        .unwrap()
        .high_water_floor("2024-01-04T00:00:00Z");
    let report = run(&coll, ScriptedPaged::new(vec![page]), 10, sink).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(
        db.high_water(&coll).await.unwrap().as_deref(),
        Some("2024-01-05T00:00:00Z")
    );
    reader.cleanup(&[&coll]).await;
}
