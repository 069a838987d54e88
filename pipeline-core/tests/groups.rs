//! Collections added by a running feeder: grouped children leave the board
//! when they end and are counted per group, a hold keeps a one-shot runner
//! alive, and `add_watched` tells the feeder when each child ended.

use std::sync::Arc;
use std::time::Duration;

use crawlpipe_core::runner::{Collection, Runner};
use crawlpipe_core::testkit::{CollectSink, ScriptedPaged};
use crawlpipe_core::{BuildError, MemoryCheckpointStore, Pipeline, State};
use futures::StreamExt;
use futures::stream::FuturesUnordered;

fn child(name: String, fails: bool) -> Collection {
    Collection::new(name, move |name: &str| {
        if fails {
            return Err(BuildError::Definition {
                collection: name.to_owned(),
                reason: "parent \"7\": no /name".to_owned(),
            });
        }
        Ok(Pipeline::paged(
            name,
            ScriptedPaged::numbered(2, 3).delay(Duration::from_millis(1)),
        )
        .sink(CollectSink::<u64>::new()))
    })
    .group("issues")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_feeder_adds_children_in_a_bounded_window_and_groups_count_them() {
    let runner = Runner::builder(Arc::new(MemoryCheckpointStore::new()))
        .concurrency(3)
        .collection(Collection::new("repos", |name: &str| {
            Ok(Pipeline::paged(name, ScriptedPaged::numbered(1, 1)).sink(CollectSink::<u64>::new()))
        }))
        .build()
        .unwrap();
    // Taken before the start: the runner cannot end while the feeder may add children.
    let hold = runner.hold();
    runner.start().unwrap();
    let feeder = {
        let runner = runner.clone();
        tokio::spawn(async move {
            // Let the parent end first: only the hold keeps the runner alive now.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let mut running = FuturesUnordered::new();
            let mut peak_on_board = 0;
            for key in 0..40 {
                while running.len() >= 4 {
                    running.next().await;
                }
                let end = runner
                    .add_watched(child(format!("issues/{key}"), key == 7))
                    .unwrap();
                running.push(end.ended());
                let g = runner.groups();
                peak_on_board = peak_on_board.max(g[0].running);
                assert!(
                    runner
                        .status()
                        .iter()
                        .all(|s| !s.collection.starts_with("issues/"))
                );
            }
            while running.next().await.is_some() {}
            drop(hold);
            peak_on_board
        })
    };
    let summaries = tokio::time::timeout(Duration::from_secs(30), runner.join())
        .await
        .expect("the runner ends once the hold is dropped");
    let peak = feeder.await.unwrap();
    assert!(peak <= 4, "at most the window is on the board: {peak}");
    assert_eq!(summaries.len(), 1, "children are not summarised one by one");
    assert_eq!(summaries[0].state, State::Completed);
    let groups = runner.groups();
    assert_eq!(groups.len(), 1);
    let g = &groups[0];
    assert_eq!((g.done, g.failed, g.running, g.total), (39, 1, 0, 40));
    assert_eq!(g.items_written, 39 * 6);
    assert_eq!(g.failing[0].collection, "issues/7");
    assert!(g.failing[0].error.as_deref().unwrap().contains("parent \"7\""));
}

#[tokio::test(flavor = "multi_thread")]
async fn grouped_collections_take_their_own_slots_with_group_concurrency() {
    // One slot, held by a parent that runs until it is shut down: children
    // sharing that slot would never start.
    let runner = Runner::builder(Arc::new(MemoryCheckpointStore::new()))
        .concurrency(1)
        .group_concurrency(2)
        .collection(Collection::new("repos", |name: &str| {
            Ok(Pipeline::paged(
                name,
                ScriptedPaged::numbered(1000, 1).delay(Duration::from_millis(50)),
            )
            .sink(CollectSink::<u64>::new()))
        }))
        .build()
        .unwrap();
    runner.start().unwrap();
    let ends: Vec<_> = (0..5)
        .map(|key| runner.add_watched(child(format!("issues/{key}"), false)).unwrap())
        .collect();
    let mut states = Vec::new();
    for end in ends {
        states.push(end.ended().await.map(|s| s.state));
    }
    assert_eq!(states, vec![Some(State::Completed); 5]);
    let parent = runner
        .status()
        .into_iter()
        .find(|s| s.collection == "repos")
        .unwrap();
    assert_eq!(
        parent.state,
        State::Crawling,
        "the parent kept its slot meanwhile"
    );
    runner.shutdown();
    let summaries = tokio::time::timeout(Duration::from_secs(30), runner.join())
        .await
        .expect("the runner ends after the shutdown");
    assert_eq!(summaries[0].state, State::Cancelled);
}

/// `CollectionEnd::written` follows the run's commits while it runs.
#[tokio::test(flavor = "multi_thread")]
async fn written_follows_the_commits_of_a_running_collection() {
    let runner = Runner::builder(Arc::new(MemoryCheckpointStore::new()))
        .build()
        .unwrap();
    // A one-shot runner with nothing to run ends at once: the hold keeps it
    // alive until the collection is added, as a feeder's does.
    let hold = runner.hold();
    runner.start().unwrap();
    let end = runner
        .add_watched(Collection::new("repos", |name: &str| {
            Ok(Pipeline::paged(
                name,
                ScriptedPaged::numbered(1000, 2).delay(Duration::from_millis(20)),
            )
            .batch_timeout(Duration::from_millis(10))
            .sink(CollectSink::<u64>::new()))
        }))
        .unwrap();
    drop(hold);
    let mut written = end.written();
    let seen = tokio::time::timeout(Duration::from_secs(10), written.wait_for(|n| *n >= 4))
        .await
        .expect("commits show while the collection runs")
        .map(|n| *n)
        .unwrap();
    assert!(seen >= 4);
    let parent = runner
        .status()
        .into_iter()
        .find(|s| s.collection == "repos")
        .unwrap();
    assert_eq!(parent.state, State::Crawling, "seen before the end");
    runner.shutdown();
    let ended = tokio::time::timeout(Duration::from_secs(30), end.ended())
        .await
        .expect("the collection ends after the shutdown");
    assert_eq!(ended.map(|s| s.state), Some(State::Cancelled));
}

#[test]
fn group_concurrency_must_be_at_least_one() {
    let built = Runner::builder(Arc::new(MemoryCheckpointStore::new()))
        .group_concurrency(0)
        .build();
    assert!(built.is_err());
}

/// `GET /status/children` serves the groups; `/status` leaves children out.
#[cfg(feature = "serve")]
#[tokio::test(flavor = "multi_thread")]
async fn status_children_serves_the_groups_as_json() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: std::net::SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response.split_once("\r\n\r\n").unwrap().1.to_owned()
    }

    let runner = Runner::builder(Arc::new(MemoryCheckpointStore::new()))
        .build()
        .unwrap();
    let hold = runner.hold();
    runner.start().unwrap();
    for key in 0..3 {
        let end = runner
            .add_watched(child(format!("issues/{key}"), key == 1))
            .unwrap();
        end.ended().await;
    }
    let server = crawlpipe_core::serve::serve("127.0.0.1:0", runner.clone())
        .await
        .unwrap();
    let groups: serde_json::Value =
        serde_json::from_str(&get(server.local_addr(), "/status/children").await).unwrap();
    assert_eq!(groups[0]["group"], "issues");
    assert_eq!(
        (groups[0]["done"].as_u64(), groups[0]["failed"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(groups[0]["failing"][0]["collection"], "issues/1");
    let statuses: serde_json::Value =
        serde_json::from_str(&get(server.local_addr(), "/status").await).unwrap();
    assert_eq!(statuses.as_array().map(Vec::len), Some(0));
    server.shutdown().await;
    drop(hold);
    runner.join().await;
}
