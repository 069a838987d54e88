//! The JSON Lines and stdout sinks.

use std::collections::BTreeSet;

use pipeline_core::testkit::{Fault, ScriptedPaged};
use pipeline_core::{Pipeline, State};
use serde_json::Value;
use sinks::{JsonLinesCheckpoint, JsonLinesSink, StdoutSink};

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

#[tokio::test]
async fn a_failed_run_resumes_from_the_side_file_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    let sink = JsonLinesSink::open("jl", &path).await.unwrap();
    assert_eq!(sink.resume_cursor(), None);
    let source = ScriptedPaged::new(docs(5, 4)).fail(3, Fault::Permanent, usize::MAX);
    let report = Pipeline::paged("jl", source)
        .batch_size(4)
        .sink(sink)
        .spawn()
        .unwrap()
        .join()
        .await;
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
    let sink = JsonLinesSink::open("jl", &path).await.unwrap();
    let resume = sink.resume_cursor().cloned();
    assert_eq!(resume, cp.cursor);
    let source = ScriptedPaged::new(docs(5, 4));
    let report = Pipeline::paged("jl", source)
        .resume_from(resume)
        .batch_size(4)
        .sink(sink)
        .spawn()
        .unwrap()
        .join()
        .await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    let all = lines(&path);
    assert_eq!(all.len(), 20, "no duplicates");
    assert_eq!(ids(&all), keys(0, 20));
    let cp = JsonLinesCheckpoint::load(&path).await.unwrap().unwrap();
    assert_eq!((cp.state, cp.cursor), (State::Completed, None));
}

#[tokio::test]
async fn a_completed_file_is_appended_to() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    for _ in 0..2 {
        let sink = JsonLinesSink::open("jl", &path).await.unwrap();
        assert_eq!(sink.resume_cursor(), None);
        let report = Pipeline::paged("jl", ScriptedPaged::new(docs(2, 3)))
            .sink(sink)
            .spawn()
            .unwrap()
            .join()
            .await;
        assert!(report.outcome.is_completed());
    }
    assert_eq!(lines(&path).len(), 12);
}

#[tokio::test]
async fn a_corrupt_side_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    std::fs::write(dir.path().join("out.jsonl.checkpoint"), "{not json").unwrap();
    let err = JsonLinesSink::<Value>::open("jl", &path).await.unwrap_err();
    assert!(err.to_string().contains("corrupt"), "{err}");
}

#[tokio::test]
async fn stdout_sink_writes_every_item() {
    let report = Pipeline::paged("out", ScriptedPaged::new(docs(2, 2)))
        .sink(StdoutSink::new("out"))
        .spawn()
        .unwrap()
        .join()
        .await;
    assert!(report.outcome.is_completed());
    assert_eq!(report.items_written, 4);
}
