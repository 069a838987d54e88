//! `POST /collections/{name}/run` over real HTTP: refused without an admin
//! token, 401 without the right bearer token, 404 for unknown names, and a
//! run that really happens when allowed.
#![cfg(feature = "serve")]

mod client;
mod support;

use std::net::SocketAddr;
use std::time::Duration;

use crawlpipe_core::runner::{Collection, Runner, RunnerEvent, RunnerEvents};
use crawlpipe_core::serve::{ServeConfig, Server, serve, serve_with};
use crawlpipe_core::testkit::{FetchLog, ScriptedPaged};
use crawlpipe_core::{Pipeline, State};
use futures::{FutureExt, StreamExt};
use tokio::time::Instant;

use client::post;
use support::{KeyedSink, RecordingStore, SharedSource};

const TOKEN: &str = "s3cret-token";

/// A service with `once` (one page; completes, then waits for run-now) and
/// `slow` (hangs on its first page), both started.
fn runner() -> (Runner, FetchLog) {
    let source = ScriptedPaged::numbered(1, 10);
    let log = source.fetch_log();
    let shared = SharedSource::new(source);
    let once = Collection::new("once", move |name| {
        Ok(Pipeline::paged(name, shared.clone()).sink(KeyedSink::new()))
    });
    let slow = Collection::new("slow", |name| {
        Ok(Pipeline::paged(
            name,
            ScriptedPaged::numbered(2, 10).delay_page(0, Duration::from_secs(3600)),
        )
        .sink(KeyedSink::new()))
    });
    let runner = Runner::builder(RecordingStore::new())
        .service(true)
        .collection(once)
        .collection(slow)
        .build()
        .unwrap();
    runner.start().unwrap();
    (runner, log)
}

fn runs(runner: &Runner, name: &str) -> (State, u64) {
    let status = runner.status();
    let s = status.iter().find(|s| s.collection == name).unwrap();
    (s.state, s.runs)
}

/// Waits up to 10 s for `once` to have completed `n` runs.
async fn completed_runs(runner: &Runner, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while runs(runner, "once") != (State::Completed, n) {
        assert!(Instant::now() < deadline, "not {n} runs: {:?}", runner.status());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Checks that the refused requests sent since `events` was subscribed
/// started nothing, without sleeping: a run started now through the Rust API
/// is a barrier, and it must be the only start of `once` the events show,
/// fetching page 0 just once more.
async fn assert_did_not_run(runner: &Runner, log: &FetchLog, mut events: RunnerEvents, server: SocketAddr) {
    assert!(runner.run_now("once").unwrap(), "once was idle (via {server})");
    completed_runs(runner, 2).await;
    assert_eq!(
        starts_of_once(&mut events),
        1,
        "only the barrier's run started (via {server})"
    );
    assert_eq!(log.requests(), [0, 0], "no other page was fetched");
}

/// The `Started` events of `once` already received on `events`.
fn starts_of_once(events: &mut RunnerEvents) -> usize {
    let mut starts = 0;
    while let Some(Some(event)) = events.next().now_or_never() {
        if matches!(&event, RunnerEvent::Started { collection, .. } if &**collection == "once") {
            starts += 1;
        }
    }
    starts
}

async fn stop(runner: Runner, server: Server) {
    runner.shutdown();
    runner.join().await;
    server.shutdown().await;
}

#[tokio::test]
async fn run_now_is_forbidden_without_a_configured_admin_token() {
    let (runner, log) = runner();
    let server = serve("127.0.0.1:0", runner.clone()).await.unwrap();
    let addr = server.local_addr();
    completed_runs(&runner, 1).await;
    let events = runner.events();

    let bare = post(addr, "/collections/once/run", &[]).await;
    assert_eq!(bare.code, 403, "{bare:?}");
    assert!(bare.json()["error"].as_str().unwrap().contains("disabled"));
    // Any token is refused too: there is none to match.
    let bearer = format!("Bearer {TOKEN}");
    let with_token = post(addr, "/collections/once/run", &[("Authorization", &bearer)]).await;
    assert_eq!(with_token.code, 403, "{with_token:?}");
    let empty = post(addr, "/collections/once/run", &[("Authorization", "Bearer ")]).await;
    assert_eq!(empty.code, 403, "{empty:?}");
    assert_did_not_run(&runner, &log, events, addr).await;
    stop(runner, server).await;
}

#[tokio::test]
async fn run_now_needs_the_right_bearer_token() {
    let (runner, log) = runner();
    let config = ServeConfig::new().admin_token(TOKEN);
    let server = serve_with("127.0.0.1:0", runner.clone(), config).await.unwrap();
    let addr = server.local_addr();
    completed_runs(&runner, 1).await;
    let mut events = runner.events();

    let longer = format!("Bearer {TOKEN}x");
    let basic = format!("Basic {TOKEN}");
    for headers in [
        vec![],
        vec![("Authorization", "Bearer wrong-token!")],
        vec![("Authorization", longer.as_str())],
        vec![("Authorization", "Bearer s3cret")],
        vec![("Authorization", basic.as_str())],
        vec![("Authorization", TOKEN)],
    ] {
        let refused = post(addr, "/collections/once/run", &headers).await;
        assert_eq!(refused.code, 401, "{headers:?}: {refused:?}");
        assert_eq!(refused.header("www-authenticate"), Some("Bearer"));
        assert!(!refused.body.contains(TOKEN), "{refused:?}");
    }

    // The accepted request is the barrier: its run must be the only one.
    let bearer = format!("Bearer {TOKEN}");
    let accepted = post(addr, "/collections/once/run", &[("Authorization", &bearer)]).await;
    assert_eq!(accepted.code, 202, "{accepted:?}");
    assert_eq!(accepted.header("content-type"), Some("application/json"));
    assert_eq!(
        accepted.json(),
        serde_json::json!({ "collection": "once", "started": true })
    );
    completed_runs(&runner, 2).await;
    assert_eq!(starts_of_once(&mut events), 1, "no refused request started a run");
    assert_eq!(log.requests(), [0, 0], "it ran again from the first page");

    // The scheme is case-insensitive (RFC 7235).
    let lower = format!("bearer {TOKEN}");
    let again = post(addr, "/collections/once/run", &[("Authorization", &lower)]).await;
    assert_eq!(again.code, 202, "{again:?}");
    completed_runs(&runner, 3).await;
    stop(runner, server).await;
}

#[tokio::test]
async fn run_now_leaves_a_running_collection_alone_and_404s_unknown_names() {
    let (runner, _) = runner();
    let config = ServeConfig::new().admin_token(TOKEN);
    let server = serve_with("127.0.0.1:0", runner.clone(), config).await.unwrap();
    let addr = server.local_addr();
    let bearer = format!("Bearer {TOKEN}");
    let auth = [("Authorization", bearer.as_str())];

    let deadline = Instant::now() + Duration::from_secs(10);
    while runs(&runner, "slow").0 != State::Crawling {
        assert!(Instant::now() < deadline, "{:?}", runner.status());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let running = post(addr, "/collections/slow/run", &auth).await;
    assert_eq!(running.code, 202, "{running:?}");
    assert_eq!(
        running.json(),
        serde_json::json!({ "collection": "slow", "started": false })
    );
    assert_eq!(runs(&runner, "slow"), (State::Crawling, 0));

    let unknown = post(addr, "/collections/nope/run", &auth).await;
    assert_eq!(unknown.code, 404, "{unknown:?}");
    assert!(unknown.json()["error"].as_str().unwrap().contains("nope"));
    // Without the token an unknown name is a 401 like any other: names are
    // not probed before authentication.
    let anonymous = post(addr, "/collections/nope/run", &[]).await;
    assert_eq!(anonymous.code, 401, "{anonymous:?}");
    // The read-only endpoints stay open.
    assert_eq!(client::get(addr, "/status").await.code, 200);
    assert_eq!(client::get(addr, "/").await.code, 200);
    stop(runner, server).await;
}

#[test]
fn the_admin_token_never_shows_in_debug_output() {
    let config = ServeConfig::new().admin_token(TOKEN);
    let debug = format!("{config:?} {config:#?}");
    assert!(config.admin_enabled());
    assert!(!debug.contains(TOKEN), "{debug}");
    assert!(debug.contains("redacted"), "{debug}");
    assert!(
        !ServeConfig::new().admin_token("").admin_enabled(),
        "an empty token enables nothing"
    );
    assert!(!ServeConfig::default().admin_enabled());
}
