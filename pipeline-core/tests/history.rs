//! Run history, freshness and alerts on a runner: each run recorded with
//! its outcome, the board's last success and recent runs, staleness reached
//! and cleared, and alerts in order.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crawlpipe_core::history::{
    AlertEvent, AlertKind, AlertSender, Alerts, MemoryRunHistory, RunHistory, RunOutcome, RunRecord,
};
use crawlpipe_core::policy::RetryPolicy;
use crawlpipe_core::runner::{Collection, Runner};
use crawlpipe_core::testkit::{CollectSink, Fault, ScriptedPaged};
use crawlpipe_core::{BoxError, Pipeline, State, async_trait};
use support::RecordingStore;

/// Collects alerts; its first delivery fails.
#[derive(Debug, Default)]
struct Receiver {
    seen: Mutex<Vec<(String, AlertKind, Option<String>)>>,
    calls: AtomicUsize,
}

#[async_trait]
impl AlertSender for Receiver {
    async fn send(&self, event: &AlertEvent) -> Result<(), BoxError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err("the receiver is not up yet".into());
        }
        self.seen
            .lock()
            .unwrap()
            .push((event.collection.clone(), event.event, event.error.clone()));
        Ok(())
    }
}

/// A collection whose first run fails for good and whose later runs complete.
fn failing_once(name: &str) -> Collection {
    let calls = Arc::new(AtomicUsize::new(0));
    Collection::new(name, move |name| {
        let source = ScriptedPaged::numbered(2, 5);
        let source = match calls.fetch_add(1, Ordering::SeqCst) {
            0 => source.fail(1, Fault::Permanent, 1),
            _ => source,
        };
        Ok(Pipeline::paged(name, source).sink(CollectSink::new()))
    })
}

async fn wait_for(runner: &Runner, what: impl Fn(&Runner) -> bool) {
    for _ in 0..1_000 {
        if what(runner) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached: {:#?}", runner.status());
}

fn status(runner: &Runner, name: &str) -> crawlpipe_core::runner::CollectionStatus {
    runner
        .status()
        .into_iter()
        .find(|s| s.collection == name)
        .unwrap()
}

#[tokio::test]
async fn failed_then_recovered_runs_are_recorded_and_alerted_in_order() {
    let history = Arc::new(MemoryRunHistory::new());
    let receiver = Arc::new(Receiver::default());
    let alerts = Alerts::from_arc(receiver.clone())
        .retry(RetryPolicy::new(3).initial_backoff(Duration::from_millis(10)));
    let runner = Runner::builder(RecordingStore::new())
        .service(true)
        .max_resumes(0)
        .history(history.clone())
        .alerts(alerts)
        .collection(failing_once("flaky"))
        .build()
        .unwrap();
    runner.start().unwrap();
    wait_for(&runner, |r| status(r, "flaky").state == State::Failed).await;
    wait_for(&runner, |r| status(r, "flaky").last_run.is_some()).await;
    let failed = status(&runner, "flaky");
    assert_eq!(failed.last_run.unwrap().outcome, RunOutcome::Failed);
    assert_eq!(failed.last_success_at, None);
    let detail = runner.detail("flaky").unwrap();
    assert_eq!(detail.errors.len(), 1, "{:?}", detail.errors);
    assert!(detail.errors[0].message.contains("flaky"), "{:?}", detail.errors);

    assert!(runner.run_now("flaky").unwrap());
    wait_for(&runner, |r| status(r, "flaky").last_success_at.is_some()).await;
    let recovered = status(&runner, "flaky");
    let last = recovered.last_run.unwrap();
    assert_eq!(
        (last.outcome, last.items, last.pages),
        (RunOutcome::Completed, 10, 2)
    );
    let recent: Vec<RunOutcome> = recovered
        .recent_runs
        .as_slice()
        .iter()
        .map(|r| r.outcome)
        .collect();
    assert_eq!(
        recent,
        [RunOutcome::Completed, RunOutcome::Failed],
        "newest first"
    );

    let runs = runner.runs("flaky", 10).await.unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].outcome, RunOutcome::Completed);
    assert_eq!(runs[1].outcome, RunOutcome::Failed);
    assert_eq!(runs[1].items, 5, "the first page was written before the failure");
    assert!(runs[1].error.as_deref().is_some_and(|e| e.contains("flaky")));
    assert!(runs[0].started_at <= runs[0].ended_at);
    assert!(runner.runs("nope", 10).await.is_err());

    wait_for(&runner, |_| receiver.seen.lock().unwrap().len() == 2).await;
    runner.shutdown();
    runner.join().await;
    let seen = receiver.seen.lock().unwrap().clone();
    let kinds: Vec<(&str, AlertKind)> = seen.iter().map(|(c, k, _)| (c.as_str(), *k)).collect();
    assert_eq!(
        kinds,
        [("flaky", AlertKind::Failed), ("flaky", AlertKind::Recovered)]
    );
    assert!(seen[0].2.is_some(), "a failure alert carries the error");
    assert_eq!(
        receiver.calls.load(Ordering::SeqCst),
        3,
        "the first delivery was retried"
    );
}

#[tokio::test]
async fn staleness_is_reached_alerted_and_cleared_by_a_success() {
    let receiver = Arc::new(Receiver::default());
    // Its first delivery fails: retried at once.
    let alerts = Alerts::from_arc(receiver.clone())
        .retry(RetryPolicy::new(3).initial_backoff(Duration::from_millis(1)));
    let fresh = Collection::new("fresh", |name| {
        Ok(Pipeline::paged(name, ScriptedPaged::numbered(1, 1)).sink(CollectSink::new()))
    })
    .stale_after(Duration::from_millis(300));
    let runner = Runner::builder(RecordingStore::new())
        .service(true)
        .alerts(alerts)
        .collection(fresh)
        .build()
        .unwrap();
    assert_eq!(status(&runner, "fresh").stale_after_secs, Some(0.3));
    runner.start().unwrap();
    wait_for(&runner, |r| status(r, "fresh").last_success_at.is_some()).await;
    assert!(!status(&runner, "fresh").stale);
    wait_for(&runner, |r| status(r, "fresh").stale).await;
    let before = status(&runner, "fresh").last_success_at.unwrap();
    assert!(SystemTime::now().duration_since(before).unwrap() >= Duration::from_millis(300));
    runner.run_now("fresh").unwrap();
    wait_for(&runner, |r| !status(r, "fresh").stale).await;
    assert!(status(&runner, "fresh").last_success_at.unwrap() > before);
    wait_for(&runner, |_| receiver.seen.lock().unwrap().len() == 1).await;
    runner.shutdown();
    runner.join().await;
    let seen = receiver.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!((seen[0].0.as_str(), seen[0].1), ("fresh", AlertKind::Stale));
}

#[tokio::test]
async fn a_restarted_runner_reads_its_last_runs_from_the_history() {
    let history = Arc::new(MemoryRunHistory::new());
    let now = SystemTime::now();
    for (i, outcome) in [RunOutcome::Completed, RunOutcome::Failed]
        .into_iter()
        .enumerate()
    {
        let mut run = RunRecord::new("kept", now, now + Duration::from_secs(i as u64), outcome);
        run.items = 40 + i as u64;
        history.record(&run, 100).await.unwrap();
    }
    let runner = Runner::builder(RecordingStore::new())
        .service(true)
        .history(history.clone())
        .history_keep(3)
        .collection(failing_once("kept"))
        .build()
        .unwrap();
    runner.start().unwrap();
    // Its first run fails: the board shows the loaded runs before it.
    wait_for(&runner, |r| status(r, "kept").recent_runs.as_slice().len() == 3).await;
    let s = status(&runner, "kept");
    assert_eq!(s.last_success_at, Some(now));
    assert_eq!(s.recent_runs.as_slice()[1].items, 41);
    runner.run_now("kept").unwrap();
    wait_for(&runner, |r| status(r, "kept").recent_runs.as_slice().len() == 4).await;
    runner.shutdown();
    runner.join().await;
    assert_eq!(
        history.runs("kept", 10).await.unwrap().len(),
        3,
        "kept to history_keep"
    );
}

#[tokio::test]
async fn a_runner_with_a_zero_history_is_refused() {
    let err = Runner::builder(RecordingStore::new())
        .history_keep(0)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("history"), "{err}");
}
