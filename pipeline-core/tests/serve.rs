//! The observability server: `/metrics` and `/status` over real HTTP.
#![cfg(feature = "serve")]

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use crawlpipe_core::policy::RetryPolicy;
use crawlpipe_core::runner::{Collection, Runner, RunnerEvent};
use crawlpipe_core::serve::{install_recorder, serve};
use crawlpipe_core::testkit::{Fault, ScriptedPaged};
use crawlpipe_core::{Pipeline, State};
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use support::{KeyedSink, RecordingStore};

/// A plain HTTP/1.0 GET: returns the status code and the body.
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let code = head.split(' ').nth(1).unwrap().parse().unwrap();
    (code, body.to_owned())
}

/// Checks the Prometheus text format line by line; returns `# TYPE` lines.
fn parse_exposition(text: &str) -> Vec<(String, String)> {
    let mut types = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            types.push((name.to_owned(), kind.to_owned()));
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment {line}");
        let (series, value) = line.rsplit_once(' ').unwrap();
        let value_ok = value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value);
        assert!(value_ok, "bad value in {line}");
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad name in {line}"
        );
        if let Some(labels) = series.strip_prefix(name) {
            assert!(
                labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
                "bad labels in {line}"
            );
        }
    }
    types
}

#[tokio::test]
async fn metrics_and_status_are_served_during_a_run() {
    // Before any pipeline starts, so their metric handles go to Prometheus.
    install_recorder().unwrap();
    let quick = RetryPolicy::new(3).initial_backoff(Duration::from_millis(1));
    let fast = Collection::new("fast", move |name| {
        Ok(Pipeline::paged(
            name,
            ScriptedPaged::numbered(3, 10)
                .fail(1, Fault::Transient, 1)
                .with_host("api.example.com"),
        )
        .retry(quick.clone())
        .sink(KeyedSink::new()))
    });
    // Hangs on its second page until the shutdown.
    let stuck = Collection::new("stuck", move |name| {
        Ok(Pipeline::paged(
            name,
            ScriptedPaged::numbered(3, 10).delay_page(1, Duration::from_secs(3600)),
        )
        .sink(KeyedSink::new()))
    });
    let runner = Runner::builder(RecordingStore::new())
        .collection(fast)
        .collection(stuck)
        .build()
        .unwrap();
    let server = serve("127.0.0.1:0", runner.clone()).await.unwrap();
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0);

    let mut events = runner.events();
    runner.start().unwrap();
    while let Some(e) = events.next().await {
        if let RunnerEvent::Completed { collection, .. } = &e
            && &**collection == "fast"
        {
            break;
        }
    }
    // `stuck` has written its first page and waits on the second.
    let mut crawling = false;
    for _ in 0..200 {
        let (code, body) = get(addr, "/status").await;
        assert_eq!(code, 200);
        let status: serde_json::Value = serde_json::from_str(&body).unwrap();
        let states: Vec<&str> = status
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["state"].as_str().unwrap())
            .collect();
        assert_eq!(states[0], "completed");
        if states[1] == "crawling" && status[1]["items_written"] == 10 {
            assert_eq!(status[1]["collection"], "stuck");
            assert_eq!(status[1]["cursor"], "page-1");
            crawling = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(crawling, "/status never showed `stuck` crawling");

    let (code, text) = get(addr, "/metrics").await;
    assert_eq!(code, 200);
    let types = parse_exposition(&text);
    for (name, kind) in [
        ("pipeline_items_total", "counter"),
        ("pipeline_pages_total", "counter"),
        ("pipeline_edge_items", "gauge"),
        ("pipeline_fetch_duration_seconds", "histogram"),
        ("pipeline_fetch_errors_total", "counter"),
        ("pipeline_retries_total", "counter"),
        ("pipeline_sink_batch_duration_seconds", "histogram"),
        ("pipeline_collections", "gauge"),
        ("pipeline_stalled", "gauge"),
    ] {
        assert!(
            types.contains(&(name.to_owned(), kind.to_owned())),
            "missing `# TYPE {name} {kind}` in\n{text}"
        );
    }
    assert!(
        text.contains(r#"pipeline_collections{state="crawling"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"pipeline_collections{state="completed"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"pipeline_items_total{collection="fast",stage="sink"} 30"#),
        "{text}"
    );
    assert!(
        text.contains(r#"pipeline_retries_total{host="api.example.com"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"pipeline_stalled{collection="stuck"} 0"#),
        "{text}"
    );

    runner.shutdown();
    let summaries = runner.join().await;
    assert_eq!(summaries[1].state, State::Cancelled);
    let (_, body) = get(addr, "/status").await;
    assert!(body.contains(r#""state":"cancelled""#), "{body}");
    let (code, _) = get(addr, "/nope").await;
    assert_eq!(code, 404);
    server.shutdown().await;
    assert!(TcpStream::connect(addr).await.is_err(), "the server stopped");
}
