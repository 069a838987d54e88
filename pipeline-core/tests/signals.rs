//! SIGTERM handling: the first signal shuts down gracefully, the second forces.
#![cfg(unix)]

mod support;

use std::time::Duration;

use crawlpipe_core::runner::{Collection, Runner};
use crawlpipe_core::testkit::{CollectSink, ScriptedPaged};
use crawlpipe_core::{Pipeline, State};

use support::RecordingStore;

fn sigterm_self() {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn first_sigterm_shuts_down_and_a_second_forces() {
    // The sink never finishes its first write, so only forcing ends the run.
    let stuck = Collection::new("stuck", |name| {
        Ok(Pipeline::paged(name, ScriptedPaged::numbered(3, 10))
            .batch_size(5)
            .drain_timeout(Duration::from_secs(3600))
            .sink(CollectSink::new().slow(Duration::from_secs(3600))))
    });
    let store = RecordingStore::new();
    let runner = Runner::builder(store.clone())
        .shutdown_timeout(Duration::from_secs(3600))
        .collection(stuck)
        .build()
        .unwrap();
    runner.shutdown_on_signals().unwrap();
    runner.start().unwrap();
    while runner.status()[0].state != State::Crawling {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    sigterm_self();
    while !runner.is_shutting_down() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(runner.status()[0].state, State::Crawling, "still draining");

    sigterm_self();
    // A guard against hanging, not a timing assertion.
    let summaries = tokio::time::timeout(Duration::from_secs(60), runner.join())
        .await
        .expect("the second signal forced the end");
    assert_eq!(summaries[0].state, State::Cancelled);
    assert_eq!(store.stored("stuck").await.unwrap().state, State::Cancelled);
}
