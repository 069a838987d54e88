//! The runner as a service: schedules, collections added, removed and made
//! due while it runs, and an end only on shutdown.

mod support;

use std::time::Duration;

use crawlpipe_core::Pipeline;
use crawlpipe_core::State;
use crawlpipe_core::runner::{Collection, Runner, RunnerError};
use crawlpipe_core::testkit::ScriptedPaged;
use support::{KeyedSink, RecordingStore, SharedSource};

fn numbered(
    name: &str,
    pages: usize,
    delay: Duration,
) -> (Collection, KeyedSink, crawlpipe_core::testkit::FetchLog) {
    let source = ScriptedPaged::numbered(pages, 10).delay(delay);
    let log = source.fetch_log();
    let shared = SharedSource::new(source);
    let sink = KeyedSink::new();
    let target = sink.clone();
    let c = Collection::new(name, move |name| {
        Ok(Pipeline::paged(name, shared.clone()).sink(target.clone()))
    });
    (c, sink, log)
}

fn service() -> crawlpipe_core::runner::RunnerBuilder {
    Runner::builder(RecordingStore::new()).service(true)
}

async fn wait_for(runner: &Runner, what: impl Fn(&Runner) -> bool) {
    for _ in 0..10_000 {
        if what(runner) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached: {:?}", runner.status());
}

fn state(runner: &Runner, name: &str) -> Option<State> {
    runner
        .status()
        .into_iter()
        .find(|s| s.collection == name)
        .map(|s| s.state)
}

#[tokio::test(start_paused = true)]
async fn a_collection_every_two_seconds_runs_three_times_in_seven() {
    let (c, sink, log) = numbered("feed", 2, Duration::from_millis(100));
    let runner = service()
        .collection(c.every(Duration::from_secs(2)))
        .build()
        .unwrap();
    runner.start().unwrap();
    tokio::time::sleep(Duration::from_secs(7)).await;
    let status = &runner.status()[0];
    assert!(status.runs >= 3, "{status:?}");
    assert_eq!(status.state, State::Waiting, "between runs");
    assert!(status.next_run_at.is_some());
    // Every run is a refresh from the first page.
    let firsts = log.requests().iter().filter(|&&p| p == 0).count();
    assert_eq!(
        firsts as u64,
        status.runs + 1 - u64::from(status.state == State::Waiting)
    );
    let json = serde_json::to_value(status).unwrap();
    let next = json["next_run_at"].as_str().expect("RFC 3339 text");
    assert!(next.ends_with('Z') && next.contains('T'), "{next}");
    assert_eq!(json["runs"], status.runs);
    runner.shutdown();
    let summaries = runner.join().await;
    assert!(summaries[0].runs >= 3);
    assert_eq!(sink.counts().len(), 20);
}

#[tokio::test(start_paused = true)]
async fn a_service_ends_only_on_shutdown() {
    let (c, _, _) = numbered("once", 1, Duration::ZERO);
    let runner = service().collection(c).build().unwrap();
    runner.start().unwrap();
    wait_for(&runner, |r| state(r, "once") == Some(State::Completed)).await;
    let join = tokio::spawn({
        let runner = runner.clone();
        async move { runner.join().await }
    });
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(
        !join.is_finished(),
        "every collection completed, yet a service runs on"
    );
    runner.shutdown();
    let summaries = join.await.unwrap();
    assert_eq!(summaries[0].state, State::Completed);
}

#[tokio::test(start_paused = true)]
async fn collections_are_added_removed_and_run_now_while_it_runs() {
    let (slow, slow_sink, _) = numbered("slow", 100, Duration::from_secs(1));
    let runner = service().concurrency(4).collection(slow).build().unwrap();
    runner.start().unwrap();

    let (quick, quick_sink, quick_log) = numbered("quick", 3, Duration::ZERO);
    runner.add(quick).unwrap();
    wait_for(&runner, |r| state(r, "quick") == Some(State::Completed)).await;
    quick_sink.assert_exactly_once(30);

    // A running collection is left alone; a completed one runs again.
    assert!(!runner.run_now("slow").unwrap());
    assert!(runner.run_now("quick").unwrap());
    wait_for(&runner, |r| {
        r.status().iter().any(|s| s.collection == "quick" && s.runs == 2)
    })
    .await;
    assert_eq!(quick_log.requests(), [0, 1, 2, 0, 1, 2]);

    // Removing stops at a page boundary; the committed items and cursor stay.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    runner.remove("slow").unwrap();
    wait_for(&runner, |r| state(r, "slow").is_none()).await;
    let written = slow_sink.counts().len() as u64;
    assert!(written >= 30 && written.is_multiple_of(10), "{written}");
    let cursor = slow_sink.committed().expect("the checkpoint is kept");
    assert_eq!(cursor, ScriptedPaged::<u64>::cursor((written / 10) as usize));
    assert!(matches!(
        runner.run_now("slow"),
        Err(RunnerError::UnknownCollection { .. })
    ));

    runner.shutdown();
    let summaries = runner.join().await;
    let names: Vec<_> = summaries.iter().map(|s| s.collection.as_str()).collect();
    assert_eq!(names, ["quick"]);
}

#[tokio::test(start_paused = true)]
async fn adding_a_name_that_exists_replaces_it_after_it_drains() {
    let (old, old_sink, _) = numbered("c", 100, Duration::from_secs(1));
    let runner = service().collection(old).build().unwrap();
    runner.start().unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;

    // The new definition resumes where the old one committed.
    let committed = old_sink.committed();
    let (new, new_sink, new_log) = numbered("c", 5, Duration::ZERO);
    runner.add(new).unwrap();
    wait_for(&runner, |r| {
        r.status()[0].state == State::Completed && r.status()[0].runs == 1
    })
    .await;
    assert!(committed.is_some());
    assert_eq!(new_sink.counts().len(), 50);
    assert_eq!(new_log.requests(), [0, 1, 2, 3, 4], "its own sink had no cursor");
    assert_eq!(runner.status().len(), 1);
    let old_written = old_sink.counts().len();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(old_sink.counts().len(), old_written, "the old pipeline stopped");
    runner.shutdown();
    runner.join().await;
}

#[tokio::test(start_paused = true)]
async fn a_one_shot_runner_ignores_schedules_and_ends() {
    let (c, sink, _) = numbered("a", 2, Duration::ZERO);
    let summaries = Runner::builder(RecordingStore::new())
        .collection(c.every(Duration::from_secs(1)))
        .build()
        .unwrap()
        .join()
        .await;
    assert_eq!((summaries[0].state, summaries[0].runs), (State::Completed, 1));
    sink.assert_exactly_once(20);
}

#[tokio::test(start_paused = true)]
async fn a_failed_scheduled_collection_resumes_at_its_failed_page_next_time() {
    let source = ScriptedPaged::numbered(4, 10).fail(2, crawlpipe_core::testkit::Fault::Permanent, 1);
    let log = source.fetch_log();
    let shared = SharedSource::new(source);
    let sink = KeyedSink::new();
    let target = sink.clone();
    let c = Collection::new("f", move |name| {
        Ok(Pipeline::paged(name, shared.clone()).sink(target.clone()))
    })
    .every(Duration::from_secs(10));
    let runner = service().collection(c).build().unwrap();
    runner.start().unwrap();
    wait_for(&runner, |r| r.status()[0].state == State::Failed).await;
    assert!(runner.status()[0].next_run_at.is_some(), "still scheduled");
    let summary_error = runner.status()[0].last_error.clone().unwrap();
    assert!(summary_error.contains("page-2"), "{summary_error}");
    wait_for(&runner, |r| r.status()[0].runs == 1).await;
    assert_eq!(log.requests(), [0, 1, 2, 2, 3], "resumed at the failed page");
    sink.assert_exactly_once(40);
    runner.shutdown();
    runner.join().await;
}
