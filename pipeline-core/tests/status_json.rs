//! `GET /status` written from each collection's cached JSON, and `GET
//! /status/runs`, the overview's sparklines: the same fields as
//! `Runner::status`, brought up to date when a collection changes.
#![cfg(feature = "serve")]

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crawlpipe_core::history::{MemoryRunHistory, RunHistory, RunOutcome, RunRecord};
use crawlpipe_core::runner::Runner;
use crawlpipe_core::serve::serve;
use crawlpipe_core::testkit::{CollectSink, ScriptedPaged};
use crawlpipe_core::{Pipeline, runner::Collection};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use support::RecordingStore;

/// A plain HTTP/1.0 GET: the status code, the content type and the body as JSON.
async fn get(addr: SocketAddr, path: &str) -> (u16, String, Value) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let code = head.split(' ').nth(1).unwrap().parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
    (code, content_type, body)
}

fn collection(name: &str) -> Collection {
    Collection::new(name, |name| {
        Ok(Pipeline::paged(name, ScriptedPaged::numbered(2, 3)).sink(CollectSink::new()))
    })
    .every(Duration::from_secs(3600))
}

/// Three past runs of `name`, the newest failed.
async fn past_runs(history: &MemoryRunHistory, name: &str) {
    let now = SystemTime::now();
    for (i, outcome) in [RunOutcome::Completed, RunOutcome::Completed, RunOutcome::Failed]
        .into_iter()
        .enumerate()
    {
        let started = now - Duration::from_secs(3600 * (3 - i as u64));
        let mut run = RunRecord::new(name, started, started + Duration::from_millis(1500), outcome);
        run.items = 10 + i as u64;
        history.record(&run, 100).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn status_is_the_runners_status_and_follows_its_changes() {
    let history = Arc::new(MemoryRunHistory::new());
    past_runs(&history, "alpha").await;
    let runner = Runner::builder(RecordingStore::new())
        .service(true)
        .history(history)
        .collection(collection("alpha"))
        .collection(collection("beta"))
        .build()
        .unwrap();
    let server = serve("127.0.0.1:0", runner.clone()).await.unwrap();
    let addr = server.local_addr();
    let start = SystemTime::now();
    runner.start().unwrap();
    wait_runs_of(&runner, "alpha", 1, start).await;
    wait_runs_of(&runner, "beta", 1, start).await;

    // Served twice (the second from the cache): the runner's status exactly,
    // without the recent runs.
    for _ in 0..2 {
        let (code, content_type, body) = get(addr, "/status").await;
        assert_eq!((code, content_type.as_str()), (200, "application/json"));
        assert_eq!(body, serde_json::to_value(runner.status()).unwrap());
        assert!(body[0].get("recent_runs").is_none(), "{body:#}");
        assert_eq!(body[0]["last_run"]["outcome"], "completed");
    }

    // The sparklines: newest first, as [outcome, duration_ms, items].
    let (code, _, runs) = get(addr, "/status/runs").await;
    assert_eq!(code, 200);
    let alpha = runs["alpha"].as_array().unwrap();
    assert_eq!(alpha.len(), 4, "{runs:#}");
    assert_eq!(alpha[0], json!(["completed", alpha[0][1], 6]));
    assert_eq!(alpha[1], json!(["failed", 1500, 12]));
    assert_eq!(alpha[3], json!(["completed", 1500, 10]));
    assert_eq!(runs["beta"].as_array().unwrap().len(), 1);

    // A second run of beta: its cached status is written again.
    let again = SystemTime::now();
    assert!(runner.run_now("beta").unwrap());
    wait_runs_of(&runner, "beta", 2, again).await;
    let (_, _, body) = get(addr, "/status").await;
    assert_eq!(body, serde_json::to_value(runner.status()).unwrap());
    let beta = body
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["collection"] == "beta")
        .unwrap();
    assert_eq!(beta["runs"], 2, "{beta:#}");
    let (_, _, runs) = get(addr, "/status/runs").await;
    assert_eq!(runs["beta"].as_array().unwrap().len(), 2, "{runs:#}");

    runner.shutdown();
    runner.join().await;
    server.shutdown().await;
}

/// Waits (bounded) until `name` has run `n` times, the last one started
/// after `since`, and waits for its next run.
async fn wait_runs_of(runner: &Runner, name: &str, n: u64, since: SystemTime) {
    for _ in 0..2_000 {
        let done = runner.status().iter().any(|s| {
            s.collection == name
                && s.runs >= n
                && s.next_run_at.is_some()
                && s.last_run.is_some_and(|r| r.started_at >= since)
        });
        if done {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{name} did not run {n} times: {:#?}", runner.status());
}
