//! Consuming a pipeline as a plain `Stream` of results.

use crawlpipe_core::testkit::{Fault, ScriptedPaged};
use crawlpipe_core::{Pipeline, StageError};
use futures::StreamExt;

#[tokio::test]
async fn stream_yields_items_in_order() {
    let items: Vec<u64> = Pipeline::paged("s", ScriptedPaged::numbered(5, 9))
        .map(|n: u64| n * 2)
        .into_stream()
        .unwrap()
        .map(|r| r.expect("no failure"))
        .collect()
        .await;
    assert_eq!(items, (0..45).map(|n| n * 2).collect::<Vec<_>>());
}

#[tokio::test]
async fn stream_ends_with_the_failure() {
    let results: Vec<_> = Pipeline::paged("s", ScriptedPaged::numbered(5, 4).fail(3, Fault::Permanent, 1))
        .into_stream()
        .unwrap()
        .collect()
        .await;
    let (last, items) = results.split_last().unwrap();
    let items: Vec<u64> = items.iter().map(|r| *r.as_ref().unwrap()).collect();
    assert_eq!(items, (0..12).collect::<Vec<_>>());
    let failure = last.as_ref().unwrap_err();
    assert!(matches!(failure.error, StageError::Fetch { .. }));
    assert_eq!(failure.resume_from, Some(ScriptedPaged::<u64>::cursor(3)));
}

#[tokio::test]
async fn dropping_the_stream_stops_the_source() {
    let source = ScriptedPaged::numbered(10_000, 10);
    let log = source.fetch_log();
    let mut stream = Pipeline::paged("s", source).capacity(20).into_stream().unwrap();
    for _ in 0..15 {
        stream.next().await.unwrap().unwrap();
    }
    drop(stream);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let fetched = log.requests().len();
    assert!(
        fetched < 100,
        "source kept fetching after the stream was dropped: {fetched}"
    );
}
