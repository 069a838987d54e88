//! A collection removed from a running service leaves `/metrics` (its own
//! process: the runner's gauges are process-wide).
#![cfg(feature = "serve")]

mod support;

use std::net::SocketAddr;

use crawlpipe_core::Pipeline;
use crawlpipe_core::runner::{Collection, Runner, RunnerEvent};
use crawlpipe_core::serve::serve;
use crawlpipe_core::testkit::ScriptedPaged;
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use support::{KeyedSink, RecordingStore};

/// A plain HTTP/1.0 GET of the body.
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.split(' ').nth(1).unwrap().parse().unwrap(), body.to_owned())
}

#[tokio::test]
async fn a_removed_collections_series_leave_the_scrape() {
    let runner = Runner::builder(RecordingStore::new())
        .service(true)
        .collection(Collection::new("dropped_later", |name| {
            Ok(Pipeline::paged(name, ScriptedPaged::numbered(2, 5)).sink(KeyedSink::new()))
        }))
        .collection(Collection::new("kept_on", |name| {
            Ok(Pipeline::paged(name, ScriptedPaged::numbered(1, 5)).sink(KeyedSink::new()))
        }))
        .build()
        .unwrap();
    let mut events = runner.events();
    runner.start().unwrap();
    let server = serve("127.0.0.1:0", runner.clone()).await.unwrap();
    let addr = server.local_addr();
    let mut completed = 0;
    while completed < 2 {
        if let Some(RunnerEvent::Completed { .. }) = events.next().await {
            completed += 1;
        }
    }
    let dropped = r#"pipeline_items_total{collection="dropped_later",stage="sink"} 10"#;
    let kept = r#"pipeline_items_total{collection="kept_on",stage="sink"} 5"#;
    let (_, text) = get(addr, "/metrics").await;
    assert!(text.contains(dropped) && text.contains(kept), "{text}");

    runner.remove("dropped_later").unwrap();
    let (_, text) = get(addr, "/metrics").await;
    assert!(!text.contains(r#"collection="dropped_later""#), "{text}");
    assert!(text.contains(kept), "{text}");

    // Added again, it is scraped again (its counters kept counting).
    runner
        .add(Collection::new("dropped_later", |name| {
            Ok(Pipeline::paged(name, ScriptedPaged::numbered(1, 5)).sink(KeyedSink::new()))
        }))
        .unwrap();
    let (_, text) = get(addr, "/metrics").await;
    assert!(text.contains(r#"collection="dropped_later""#), "{text}");

    runner.shutdown();
    runner.join().await;
    server.shutdown().await;
}
