//! The JSON Lines and stdout sinks.

use std::collections::BTreeSet;

use crawlpipe_core::testkit::{Fault, ScriptedPaged};
use crawlpipe_core::{Pipeline, Report, State};
use crawlpipe_sinks::{JsonLinesCheckpoint, JsonLinesSink, StdoutSink};
use serde_json::Value;

fn docs(pages: usize, per_page: usize) -> Vec<Vec<Value>> {
    (0..pages)
        .map(|p| {
            (0..per_page)
                .map(|i| serde_json::json!({"id": format!("k{}", p * per_page + i)}))
                .collect()
        })
        .collect()
}

fn keys(from: usize, to: usize) -> BTreeSet<String> {
    (from..to).map(|n| format!("k{n}")).collect()
}

fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn ids(values: &[Value]) -> BTreeSet<String> {
    values
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn run(path: &std::path::Path, source: ScriptedPaged<Value>, batch: usize) -> Report {
    Pipeline::paged("jl", source)
        .batch_size(batch)
        .sink(JsonLinesSink::new(path))
        .spawn()
        .unwrap()
        .join()
        .await
}

#[tokio::test]
async fn a_failed_run_resumes_from_the_side_file_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    let source = ScriptedPaged::new(docs(5, 4)).fail(3, Fault::Permanent, usize::MAX);
    let report = run(&path, source, 4).await;
    assert!(!report.outcome.is_completed());
    let cp = JsonLinesCheckpoint::load(&path).await.unwrap().unwrap();
    assert_eq!(cp.state, State::Failed);
    assert_eq!(cp.cursor, Some(ScriptedPaged::<Value>::cursor(3)));
    assert_eq!(cp.offset, std::fs::metadata(&path).unwrap().len());

    // Lines written after the last checkpoint (as a crash would leave them) are cut off.
    std::fs::write(
        &path,
        [
            std::fs::read(&path).unwrap(),
            b"{\"id\":\"k12\"}\n{\"id\"".to_vec(),
        ]
        .concat(),
    )
    .unwrap();
    let source = ScriptedPaged::new(docs(5, 4));
    let log = source.fetch_log();
    let report = run(&path, source, 4).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(
        log.requests(),
        [3, 4],
        "resumed from the side file's cursor by itself"
    );
    let all = lines(&path);
    assert_eq!(all.len(), 20, "no duplicates");
    assert_eq!(ids(&all), keys(0, 20));
    let cp = JsonLinesCheckpoint::load(&path).await.unwrap().unwrap();
    assert_eq!(
        (cp.state, cp.cursor, cp.items_written),
        (State::Completed, None, 20)
    );
}

#[tokio::test]
async fn an_in_band_failure_after_a_pages_items_resumes_with_exact_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    // Page 2 links back to page 1: its items are written, then the pipeline
    // fails in-band (a repeated cursor) before any checkpoint covers them.
    // Batches of 5 with pages of 4 end at each page's checkpoint, so the
    // side file's offset is exact at every checkpoint.
    let source = ScriptedPaged::new(docs(5, 4)).next_of(2, 1);
    let report = run(&path, source, 5).await;
    assert!(!report.outcome.is_completed());
    assert_eq!(
        lines(&path).len(),
        12,
        "page 2 was written without its checkpoint"
    );
    let cp = JsonLinesCheckpoint::load(&path).await.unwrap().unwrap();
    assert_eq!(cp.cursor, Some(ScriptedPaged::<Value>::cursor(2)));
    let source = ScriptedPaged::new(docs(5, 4));
    let log = source.fetch_log();
    let report = run(&path, source, 5).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(log.requests().first(), Some(&2));
    let all: Vec<String> = lines(&path)
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = (0..20).map(|n| format!("k{n}")).collect();
    assert_eq!(all, expected, "every line once, in order");
}

#[tokio::test]
async fn a_fresh_run_cuts_off_the_unfinished_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    let report = run(&path, ScriptedPaged::new(docs(1, 3)), 4).await;
    assert!(report.outcome.is_completed());
    let source = ScriptedPaged::new(docs(5, 4)).fail(3, Fault::Permanent, usize::MAX);
    assert!(!run(&path, source, 4).await.outcome.is_completed());
    let report = Pipeline::paged("jl", ScriptedPaged::new(docs(2, 2)))
        .fresh(true)
        .sink(JsonLinesSink::new(&path))
        .spawn()
        .unwrap()
        .join()
        .await;
    assert!(report.outcome.is_completed());
    // The completed run's 3 lines, then the fresh run's 4; none of the failed run's.
    let all = lines(&path);
    assert_eq!(all.len(), 7);
    assert_eq!(ids(&all[3..]), keys(0, 4));
}

#[tokio::test]
async fn a_completed_file_is_appended_to() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    for _ in 0..2 {
        let source = ScriptedPaged::new(docs(2, 3));
        let log = source.fetch_log();
        let report = run(&path, source, 1024).await;
        assert!(report.outcome.is_completed());
        assert_eq!(log.requests(), [0, 1]);
    }
    assert_eq!(lines(&path).len(), 12);
}

#[tokio::test]
async fn a_corrupt_side_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    std::fs::write(dir.path().join("out.jsonl.checkpoint"), "{not json").unwrap();
    let report = run(&path, ScriptedPaged::new(docs(1, 1)), 4).await;
    let err = report.outcome.failure().unwrap().error.to_string();
    assert!(err.contains("corrupt") && err.contains("--fresh"), "{err}");
}

#[tokio::test]
async fn a_side_file_of_another_collection_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    assert!(
        run(&path, ScriptedPaged::new(docs(1, 1)), 4)
            .await
            .outcome
            .is_completed()
    );
    let report = Pipeline::paged("other", ScriptedPaged::new(docs(1, 1)))
        .sink(JsonLinesSink::new(&path))
        .spawn()
        .unwrap()
        .join()
        .await;
    let err = report.outcome.failure().unwrap().error.to_string();
    assert!(err.contains("holds collection \"jl\""), "{err}");
}

#[tokio::test]
async fn stdout_sink_writes_every_item() {
    let report = Pipeline::paged("out", ScriptedPaged::new(docs(2, 2)))
        .sink(StdoutSink::new())
        .spawn()
        .unwrap()
        .join()
        .await;
    assert!(report.outcome.is_completed());
    assert_eq!(report.progress.items_written, 4);
}
