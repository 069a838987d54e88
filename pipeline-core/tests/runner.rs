//! The runner: many collections, resume after failures, shutdown, restart.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crawlpipe_core::policy::RetryPolicy;
use crawlpipe_core::runner::{
    Collection, CollectionError, CollectionSummary, Runner, RunnerBuilder, RunnerEvent,
};
use crawlpipe_core::testkit::{Fault, FetchLog, ScriptedPaged};
use crawlpipe_core::{
    CheckpointStore, Cursor, FetchErrorKind, Pipeline, Sink, SinkContext, SinkError, StageError, State,
};
use futures::StreamExt;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use support::{KeyedSink, RecordingStore, SharedSource};

/// A quick fetch retry policy, so the runner's resume is what is tested.
fn quick_retry(attempts: u32) -> RetryPolicy {
    RetryPolicy::new(attempts)
        .initial_backoff(Duration::from_millis(10))
        .max_backoff(Duration::from_millis(50))
}

fn collection(name: &str, source: SharedSource, sink: KeyedSink) -> Collection {
    Collection::new(name, move |name| {
        Ok(Pipeline::paged(name, source.clone())
            .retry(quick_retry(3))
            .sink(sink.clone()))
    })
}

/// A collection of `pages` pages of 10 numbers, returning its fetch log and sink.
fn scripted(name: &str, source: ScriptedPaged<u64>) -> (Collection, FetchLog, KeyedSink) {
    let log = source.fetch_log();
    let sink = KeyedSink::new();
    (
        collection(name, SharedSource::new(source), sink.clone()),
        log,
        sink,
    )
}

fn builder(store: Arc<dyn CheckpointStore>) -> RunnerBuilder {
    Runner::builder(store).resume_backoff(Duration::from_secs(1), Duration::from_secs(10))
}

/// Collects every event, with the (paused-clock) time it was seen.
fn record(runner: &Runner) -> JoinHandle<Vec<(Instant, RunnerEvent)>> {
    let mut events = runner.events();
    tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(e) = events.next().await {
            seen.push((Instant::now(), e));
        }
        seen
    })
}

fn by_name<'a>(summaries: &'a [CollectionSummary], name: &str) -> &'a CollectionSummary {
    summaries.iter().find(|s| s.collection == name).unwrap()
}

#[tokio::test(start_paused = true)]
async fn outage_mid_crawl_goes_retrying_then_completes_each_item_once() {
    // Page 5 fails 6 times: each attempt's 3 fetch retries are not enough, twice.
    let (c, log, sink) = scripted(
        "issues",
        ScriptedPaged::numbered(10, 10).fail(5, Fault::Transient, 6),
    );
    let store = RecordingStore::new();
    let runner = builder(store.clone()).collection(c).build().unwrap();
    let events = record(&runner);
    let summaries = runner.join().await;
    let events = events.await.unwrap();

    let s = &summaries[0];
    assert_eq!(s.state, State::Completed);
    assert_eq!(s.resumes, 2);
    assert_eq!(s.progress.items_written, 100);
    assert_eq!(s.cursor, None);
    assert!(s.last_error.as_ref().is_some_and(CollectionError::is_retryable));
    sink.assert_exactly_once(100);

    // The crawl restarted at page 5, never at page 0.
    let requests = log.requests();
    let first_failure = requests.iter().position(|&p| p == 5).unwrap();
    assert_eq!(&requests[..first_failure], &[0, 1, 2, 3, 4]);
    assert!(requests[first_failure..].iter().all(|&p| p >= 5), "{requests:?}");
    assert_eq!(requests.iter().filter(|&&p| p == 5).count(), 7);

    // Every transition that lasted was saved; the in-flight pages were
    // written before Retrying. (`Waiting` and `Finalizing` are written in the
    // background, so one superseded before the write is not.)
    let states: Vec<State> = store
        .states("issues")
        .into_iter()
        .filter(|s| !matches!(s, State::Waiting | State::Finalizing))
        .collect();
    use State::*;
    assert_eq!(
        states,
        [Crawling, Retrying, Crawling, Retrying, Crawling, Completed]
    );
    let retrying: Vec<_> = store
        .recorded("issues")
        .into_iter()
        .filter(|(state, _)| *state == Retrying)
        .collect();
    assert!(retrying[0].1.as_deref().unwrap().contains("page-5"));
    assert_eq!(store.stored("issues").await.unwrap().state, Completed);
    assert_eq!(sink.committed(), None, "a completed run clears its cursor");

    let resumed: Vec<_> = events
        .iter()
        .filter_map(|(_, e)| match e {
            RunnerEvent::Resumed { attempt, from, .. } => Some((*attempt, from.clone())),
            _ => None,
        })
        .collect();
    let page5 = Some(ScriptedPaged::<u64>::cursor(5));
    assert_eq!(resumed, [(1, page5.clone()), (2, page5)]);
    assert!(matches!(
        events.last(),
        Some((
            _,
            RunnerEvent::Completed {
                items_written: 100,
                ..
            }
        ))
    ));
}

#[tokio::test(start_paused = true)]
async fn twenty_collections_four_at_once_two_failing_do_not_disturb_the_others() {
    let store = RecordingStore::new();
    let mut b = builder(store.clone()).concurrency(4);
    let mut sinks = Vec::new();
    for i in 0..20 {
        let name = format!("c{i:02}");
        let mut source = ScriptedPaged::numbered(5, 10).delay(Duration::from_millis(100));
        if i == 3 || i == 11 {
            source = source.fail(2, Fault::Permanent, usize::MAX);
        }
        let (c, _, sink) = scripted(&name, source);
        sinks.push((name, sink));
        b = b.collection(c);
    }
    let runner = b.build().unwrap();
    let mut events = runner.events();
    let watcher = {
        let runner = runner.clone();
        tokio::spawn(async move {
            let (mut running, mut most, mut most_seen_in_status) = (0i32, 0i32, 0usize);
            while let Some(e) = events.next().await {
                match e {
                    RunnerEvent::Started { .. } | RunnerEvent::Resumed { .. } => running += 1,
                    RunnerEvent::Completed { .. }
                    | RunnerEvent::Failed { .. }
                    | RunnerEvent::Cancelled { .. } => running -= 1,
                    _ => {}
                }
                most = most.max(running);
                let active = runner
                    .status()
                    .iter()
                    .filter(|s| matches!(s.state, State::Crawling | State::Finalizing))
                    .count();
                most_seen_in_status = most_seen_in_status.max(active);
            }
            (most, most_seen_in_status)
        })
    };
    let summaries = runner.join().await;
    let (most, most_in_status) = watcher.await.unwrap();
    assert_eq!(most, 4, "at most 4 at once, and the limit was used");
    assert!(most_in_status <= 4);

    for (name, sink) in &sinks {
        let s = by_name(&summaries, name);
        if name == "c03" || name == "c11" {
            assert_eq!(s.state, State::Failed, "{name}");
            assert_eq!(s.resumes, 0, "a permanent error is not resumed");
            assert_eq!(s.cursor, Some(ScriptedPaged::<u64>::cursor(2)));
            assert_eq!(s.progress.items_written, 20);
            match &s.last_error {
                Some(CollectionError::Stage(StageError::Fetch { kind, .. })) => {
                    assert_eq!(*kind, FetchErrorKind::Permanent)
                }
                other => panic!("unexpected error {other:?}"),
            }
            let stored = store.stored(name).await.unwrap();
            assert_eq!(stored.state, State::Failed);
            assert!(stored.last_error.is_some());
        } else {
            assert_eq!(s.state, State::Completed, "{name}");
            sink.assert_exactly_once(50);
        }
    }
    let completed = summaries.iter().filter(|s| s.state == State::Completed).count();
    assert_eq!(completed, 18);
}

#[tokio::test(start_paused = true)]
async fn shutdown_mid_crawl_cancels_and_the_next_run_resumes_without_loss_or_duplicates() {
    let store = RecordingStore::new();
    let mut parts = Vec::new();
    let mut logs = Vec::new();
    for i in 0..4 {
        let name = format!("c{i}");
        let source = ScriptedPaged::numbered(10, 10).delay(Duration::from_secs(1));
        logs.push(source.fetch_log());
        parts.push((name, SharedSource::new(source), KeyedSink::new()));
    }
    let build = |store: Arc<RecordingStore>| {
        let mut b = builder(store).concurrency(2);
        for (name, source, sink) in &parts {
            b = b.collection(collection(name, source.clone(), sink.clone()));
        }
        b.build().unwrap()
    };

    let runner = build(store.clone());
    runner.start().unwrap();
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let during = runner.status();
    assert_eq!(during[0].state, State::Crawling);
    assert_eq!(during[3].state, State::Waiting);
    runner.shutdown();
    let first = runner.join().await;
    for s in &first {
        assert_eq!(s.state, State::Cancelled, "{}", s.collection);
        let stored = store.stored(&s.collection).await.unwrap();
        assert_eq!(stored.state, State::Cancelled);
    }
    for (s, (.., sink)) in first.iter().zip(&parts) {
        assert_eq!(
            sink.committed(),
            s.cursor,
            "{}: the sink holds the cursor",
            s.collection
        );
    }
    // The two crawling ones stopped at a page boundary with their items written.
    for s in &first[..2] {
        assert!(s.progress.items_written >= 20, "{s:?}");
        let next = s.progress.items_written / 10;
        assert_eq!(s.cursor, Some(ScriptedPaged::<u64>::cursor(next as usize)));
    }
    for s in &first[2..] {
        assert_eq!((s.progress.items_written, s.cursor.clone()), (0, None));
    }

    let fetched_before: Vec<usize> = logs.iter().map(|l| l.requests().len()).collect();
    let runner = build(store.clone());
    let events = record(&runner);
    let second = runner.join().await;
    assert!(second.iter().all(|s| s.state == State::Completed), "{second:?}");
    for (_, _, sink) in &parts {
        sink.assert_exactly_once(100);
    }
    let starts: Vec<_> = events
        .await
        .unwrap()
        .into_iter()
        .filter_map(|(_, e)| match e {
            RunnerEvent::Started { collection, from } => Some((collection.to_string(), from)),
            _ => None,
        })
        .collect();
    assert_eq!(starts.len(), 4);
    for (i, log) in logs.iter().enumerate() {
        // The second run starts at the page the sink committed, not at page 0.
        let resumed_at = log.requests()[fetched_before[i]];
        let committed = first[i].cursor.clone().unwrap_or(ScriptedPaged::<u64>::cursor(0));
        assert_eq!(ScriptedPaged::<u64>::cursor(resumed_at), committed, "c{i}");
    }
}

#[tokio::test(start_paused = true)]
async fn shutdown_deadline_forces_a_pipeline_that_does_not_drain() {
    let store = RecordingStore::new();
    let runner = builder(store.clone())
        .shutdown_timeout(Duration::from_secs(5))
        .collection(Collection::new("slow", |name| {
            Ok(Pipeline::paged(name, ScriptedPaged::numbered(10, 10))
                .drain_timeout(Duration::from_secs(3600))
                .sink(crawlpipe_core::testkit::CollectSink::new().slow(Duration::from_secs(3600))))
        }))
        .build()
        .unwrap();
    runner.start().unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let asked = Instant::now();
    runner.shutdown();
    let summaries = runner.join().await;
    assert!(
        asked.elapsed() < Duration::from_secs(60),
        "forced at the runner's deadline"
    );
    assert_eq!(summaries[0].state, State::Cancelled);
    assert_eq!(store.stored("slow").await.unwrap().state, State::Cancelled);
}

#[tokio::test(start_paused = true)]
async fn completed_collections_are_crawled_again_and_fresh_ignores_checkpoints() {
    let store = RecordingStore::new();
    let (c, log, sink) = scripted("a", ScriptedPaged::numbered(3, 10));
    let run_one = |c: Collection| builder(store.clone()).collection(c).build().unwrap();
    let runner = run_one(c);
    assert_eq!(runner.join().await[0].state, State::Completed);
    assert_eq!(store.stored("a").await.unwrap().state, State::Completed);

    assert_eq!(log.requests(), [0, 1, 2]);
    sink.assert_exactly_once(30);

    // Completed last time: a refresh from the first page.
    let (c, log, sink) = scripted("a", ScriptedPaged::numbered(3, 10));
    let runner = run_one(c);
    assert_eq!(runner.join().await[0].state, State::Completed);
    assert_eq!(log.requests(), [0, 1, 2]);
    sink.assert_exactly_once(30);

    // An unfinished checkpoint (held by the sink) resumes; `fresh` ignores it.
    let page2 = ScriptedPaged::<u64>::cursor(2);
    let source = ScriptedPaged::numbered(3, 10);
    let log = source.fetch_log();
    let c = collection(
        "a",
        SharedSource::new(source),
        KeyedSink::stopped_at(page2.clone()),
    );
    run_one(c).join().await;
    assert_eq!(log.requests(), [2]);

    let source = ScriptedPaged::numbered(3, 10);
    let log = source.fetch_log();
    let sink = KeyedSink::stopped_at(page2);
    let c = collection("a", SharedSource::new(source), sink.clone());
    let runner = builder(store.clone()).fresh(true).collection(c).build().unwrap();
    assert_eq!(runner.join().await[0].state, State::Completed);
    assert_eq!(log.requests(), [0, 1, 2]);
    sink.assert_exactly_once(30);
}

/// A sink whose stored checkpoint cannot be read.
struct CorruptSink;

#[async_trait::async_trait]
impl Sink<u64> for CorruptSink {
    async fn open(&mut self, context: &SinkContext) -> Result<Option<Cursor>, SinkError> {
        Err(SinkError::Config {
            reason: format!(
                "the checkpoint of {} is corrupt; run with fresh",
                context.collection()
            ),
        })
    }

    async fn write(&mut self, _: Vec<u64>, _: Option<&Cursor>) -> Result<(), SinkError> {
        unreachable!("never written: it did not open")
    }
}

#[tokio::test(start_paused = true)]
async fn a_sink_that_cannot_read_its_checkpoint_fails_loudly_without_fetching() {
    let store = RecordingStore::new();
    let source = ScriptedPaged::numbered(3, 10);
    let fetched = source.fetch_log();
    let shared = SharedSource::new(source);
    let bad = Collection::new("bad", move |name| {
        Ok(Pipeline::paged(name, shared.clone()).sink(CorruptSink))
    });
    let (good, _, sink) = scripted("good", ScriptedPaged::numbered(3, 10));
    let runner = builder(store.clone())
        .collection(bad)
        .collection(good)
        .build()
        .unwrap();
    let summaries = runner.join().await;

    assert!(fetched.requests().is_empty(), "never restarted from page one");
    let s = by_name(&summaries, "bad");
    assert_eq!((s.state, s.resumes), (State::Failed, 0));
    let status = &runner.status()[0];
    assert!(status.last_error.as_deref().unwrap().contains("corrupt"));
    assert_eq!(by_name(&summaries, "good").state, State::Completed);
    sink.assert_exactly_once(30);
}

#[tokio::test(start_paused = true)]
async fn a_pipeline_named_otherwise_than_its_collection_is_refused() {
    let c = Collection::new("issues", |_| {
        Ok(Pipeline::paged("issues_v2", ScriptedPaged::numbered(3, 10)).sink(KeyedSink::new()))
    });
    let summaries = builder(RecordingStore::new())
        .collection(c)
        .build()
        .unwrap()
        .join()
        .await;
    assert_eq!(summaries[0].state, State::Failed);
    let error = summaries[0].last_error.as_ref().unwrap().to_string();
    assert!(
        error.contains("issues_v2") && error.contains("collection"),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_async_factory_error_is_resumed_like_a_failure() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let sink = KeyedSink::new();
    let target = sink.clone();
    let c = Collection::new_async("db", move |name| {
        let attempt = counter.fetch_add(1, Ordering::SeqCst);
        let name = name.to_owned();
        let sink = target.clone();
        async move {
            if attempt < 2 {
                return Err("database is down".into());
            }
            Ok::<_, crawlpipe_core::BoxError>(
                Pipeline::paged(name, ScriptedPaged::numbered(3, 10)).sink(sink),
            )
        }
    });
    let summaries = builder(RecordingStore::new())
        .collection(c)
        .build()
        .unwrap()
        .join()
        .await;
    assert_eq!((summaries[0].state, summaries[0].resumes), (State::Completed, 2));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    sink.assert_exactly_once(30);
}

#[tokio::test(start_paused = true)]
async fn resumes_stop_after_max_resumes_keeping_error_and_cursor() {
    let (c, log, sink) = scripted(
        "down",
        ScriptedPaged::numbered(5, 10).fail(3, Fault::Transient, usize::MAX),
    );
    let store = RecordingStore::new();
    let runner = builder(store.clone())
        .max_resumes(2)
        .collection(c)
        .build()
        .unwrap();
    let s = &runner.join().await[0];
    assert_eq!(s.state, State::Failed);
    assert_eq!(s.resumes, 2);
    assert_eq!(s.cursor, Some(ScriptedPaged::<u64>::cursor(3)));
    assert!(s.last_error.as_ref().is_some_and(CollectionError::is_retryable));
    assert_eq!(log.requests().iter().filter(|&&p| p == 3).count(), 9);
    assert_eq!(sink.counts().len(), 30);
    let stored = store.stored("down").await.unwrap();
    assert_eq!(stored.state, State::Failed);
    assert_eq!(
        sink.committed(),
        s.cursor,
        "the sink keeps the cursor to resume from"
    );
}

#[tokio::test(start_paused = true)]
async fn resume_waits_for_the_failures_retry_at() {
    // An open breaker for 30 s: later than the runner's own 1 s backoff.
    let (c, _, sink) = scripted(
        "breaker",
        ScriptedPaged::numbered(4, 10).fail(2, Fault::CircuitOpen(Duration::from_secs(30)), 1),
    );
    let runner = builder(RecordingStore::new()).collection(c).build().unwrap();
    let events = record(&runner);
    assert_eq!(runner.join().await[0].state, State::Completed);
    let events = events.await.unwrap();
    let failed_at = events
        .iter()
        .find_map(|(t, e)| matches!(e, RunnerEvent::Failed { will_retry: true, .. }).then_some(*t))
        .unwrap();
    let resumed_at = events
        .iter()
        .find_map(|(t, e)| matches!(e, RunnerEvent::Resumed { .. }).then_some(*t))
        .unwrap();
    assert!(resumed_at - failed_at >= Duration::from_secs(29));
    sink.assert_exactly_once(40);
}

#[tokio::test(start_paused = true)]
async fn a_retrying_collection_leaves_its_slot_to_waiting_ones() {
    let (a, _, _) = scripted(
        "a",
        ScriptedPaged::numbered(3, 10).fail(1, Fault::CircuitOpen(Duration::from_secs(60)), 1),
    );
    let (b, _, _) = scripted("b", ScriptedPaged::numbered(3, 10));
    let runner = builder(RecordingStore::new())
        .concurrency(1)
        .collection(a)
        .collection(b)
        .build()
        .unwrap();
    let events = record(&runner);
    let summaries = runner.join().await;
    assert!(summaries.iter().all(|s| s.state == State::Completed));
    let order: Vec<String> = events
        .await
        .unwrap()
        .into_iter()
        .filter_map(|(_, e)| match e {
            RunnerEvent::Completed { collection, .. } => Some(format!("{collection} completed")),
            RunnerEvent::Resumed { collection, .. } => Some(format!("{collection} resumed")),
            _ => None,
        })
        .collect();
    assert_eq!(order, ["b completed", "a resumed", "a completed"]);
}

#[tokio::test(start_paused = true)]
async fn a_collection_without_progress_is_flagged_stalled() {
    let (c, _, _) = scripted(
        "slow",
        ScriptedPaged::numbered(4, 10).delay_page(2, Duration::from_secs(600)),
    );
    let runner = builder(RecordingStore::new())
        .stall_after(Some(Duration::from_secs(60)))
        .collection(c)
        .build()
        .unwrap();
    runner.start().unwrap();
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(!runner.status()[0].stalled);
    tokio::time::sleep(Duration::from_secs(120)).await;
    let status = &runner.status()[0];
    assert_eq!(status.state, State::Crawling);
    assert!(status.stalled);
    let json = serde_json::to_value(runner.status()).unwrap();
    assert_eq!(json[0]["stalled"], true);
    assert_eq!(json[0]["state"], "crawling");
    let summaries = runner.join().await;
    assert_eq!(summaries[0].state, State::Completed);
    assert!(!runner.status()[0].stalled, "progress clears the flag");
}

#[tokio::test]
async fn invalid_runner_settings_are_refused() {
    let store: Arc<dyn CheckpointStore> = RecordingStore::new();
    let c = || scripted("x", ScriptedPaged::numbered(1, 1)).0;
    let err = Runner::builder(store.clone())
        .collection(c())
        .collection(c())
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("added twice"));
    let err = Runner::builder(store.clone())
        .collection(scripted("Users", ScriptedPaged::numbered(1, 1)).0)
        .collection(scripted("users", ScriptedPaged::numbered(1, 1)).0)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("differ only in case"), "{err}");
    let err = Runner::builder(store).concurrency(0).build().unwrap_err();
    assert!(err.to_string().contains("concurrency"));
}

#[tokio::test]
async fn status_serializes_as_json() {
    let (c, _, _) = scripted("json", ScriptedPaged::numbered(2, 5));
    let runner = builder(RecordingStore::new()).collection(c).build().unwrap();
    let before = serde_json::to_value(runner.status()).unwrap();
    assert_eq!(before[0]["state"], "waiting");
    runner.join().await;
    let after = serde_json::to_value(runner.status()).unwrap();
    assert_eq!(after[0]["collection"], "json");
    assert_eq!(after[0]["state"], "completed");
    assert_eq!(after[0]["items_written"], 10);
    assert!(after[0]["started_at"].is_u64());
    assert!(after[0]["next_attempt_at"].is_null());
    let _: Option<Cursor> = serde_json::from_value(after[0]["cursor"].clone()).unwrap();
}

#[test]
fn runner_types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Runner>();
    assert_send_sync::<RunnerEvent>();
    assert_send_sync::<CollectionError>();
    assert_send_sync::<CollectionSummary>();
}

#[tokio::test(start_paused = true)]
async fn the_committed_cursor_is_never_ahead_of_the_items() {
    let (c, _, sink) = scripted("a", ScriptedPaged::numbered(10, 10).delay(Duration::from_secs(1)));
    let store = RecordingStore::new();
    let runner = builder(store.clone()).collection(c).build().unwrap();
    runner.start().unwrap();
    tokio::time::sleep(Duration::from_millis(4500)).await;

    // As a process killed now would find it: the runner recorded the state
    // only, the sink holds a cursor covering exactly what it committed.
    let stored = store.stored("a").await.unwrap();
    assert_eq!((stored.state, stored.cursor), (State::Crawling, None));
    let cursor = sink.committed().expect("a committed cursor");
    let page: u64 = cursor.as_str()["page-".len()..].parse().unwrap();
    assert!(page >= 2, "{cursor}");
    let written = sink.counts();
    assert!(written.keys().all(|k| *k < page * 10), "never ahead of the items");
    assert_eq!(written.len() as u64, page * 10, "every covered item is committed");

    runner.shutdown();
    runner.join().await;
}

/// The runner's gauges, as `name{label=value}` → value.
fn gauges(snapshotter: &metrics_util::debugging::Snapshotter) -> std::collections::HashMap<String, f64> {
    use metrics_util::debugging::DebugValue;
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(key, _, _, value)| {
            let key = key.key();
            let labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            match value {
                DebugValue::Gauge(g) => {
                    Some((format!("{}{{{}}}", key.name(), labels.join(",")), g.into_inner()))
                }
                _ => None,
            }
        })
        .collect()
}

#[test]
fn stall_and_state_gauges_are_kept_current() {
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let (slow, _, _) = scripted(
                "slow",
                ScriptedPaged::numbered(4, 10).delay_page(2, Duration::from_secs(600)),
            );
            let (quick, _, _) = scripted("quick", ScriptedPaged::numbered(2, 10));
            let runner = builder(RecordingStore::new())
                .stall_after(Some(Duration::from_secs(60)))
                .collection(slow)
                .collection(quick)
                .build()
                .unwrap();
            let g = gauges(&snapshotter);
            assert_eq!(g["pipeline_collections{state=waiting}"], 2.0);
            assert_eq!(g["pipeline_stalled{collection=slow}"], 0.0);

            runner.start().unwrap();
            tokio::time::sleep(Duration::from_secs(150)).await;
            let g = gauges(&snapshotter);
            assert_eq!(g["pipeline_stalled{collection=slow}"], 1.0);
            assert_eq!(g["pipeline_stalled{collection=quick}"], 0.0);
            assert_eq!(g["pipeline_collections{state=crawling}"], 1.0);
            assert_eq!(g["pipeline_collections{state=completed}"], 1.0);
            assert_eq!(g["pipeline_collections{state=waiting}"], 0.0);

            runner.join().await;
            let g = gauges(&snapshotter);
            assert_eq!(g["pipeline_stalled{collection=slow}"], 0.0);
            assert_eq!(g["pipeline_collections{state=crawling}"], 0.0);
            assert_eq!(g["pipeline_collections{state=completed}"], 2.0);
        });
    });
}

/// A sink whose `finish` takes a while, like a staging swap.
struct SlowFinish(KeyedSink);

#[async_trait::async_trait]
impl Sink<u64> for SlowFinish {
    async fn write(&mut self, items: Vec<u64>, checkpoint: Option<&Cursor>) -> Result<(), SinkError> {
        self.0.write(items, checkpoint).await
    }

    async fn finish(&mut self, outcome: &crawlpipe_core::Outcome) -> Result<(), SinkError> {
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.0.finish(outcome).await
    }
}

#[tokio::test(start_paused = true)]
async fn forcing_while_a_sink_finishes_reports_its_real_outcome() {
    let sink = KeyedSink::new();
    let target = sink.clone();
    let c = Collection::new("swap", move |name| {
        Ok(Pipeline::paged(name, ScriptedPaged::numbered(3, 10)).sink(SlowFinish(target.clone())))
    });
    let runner = builder(RecordingStore::new()).collection(c).build().unwrap();
    runner.start().unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(runner.status()[0].state, State::Finalizing);
    runner.force();
    let summaries = runner.join().await;
    assert_eq!(
        summaries[0].state,
        State::Completed,
        "the swap committed: not cancelled"
    );
    sink.assert_exactly_once(30);
}
