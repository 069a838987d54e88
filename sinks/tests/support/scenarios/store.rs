//! The checkpoint store and collection locks.

use std::time::Duration;

use crawlpipe_core::testkit::{Fault, ScriptedPaged};
use crawlpipe_core::{CheckpointError, CheckpointStore, SinkError, State, StateRecord};
use crawlpipe_sinks::{Database, Error};
use serde_json::Value;

use super::super::{Reader, docs, unique};
use super::{docs_sink, run, run_with, sink_error};

pub async fn checkpoint_store_records_state_only_and_reports_corruption(url: &str) {
    let db = Database::open(url).await.unwrap();
    let reader = Reader::connect(url).await;
    let store = db.checkpoint_store();
    let coll = unique("store");
    assert!(store.load(&coll).await.unwrap().is_none());
    store
        .record(&coll, State::Retrying, Some("HTTP 503"))
        .await
        .unwrap();
    let fresh_row = store.load(&coll).await.unwrap().unwrap();
    assert_eq!(
        (fresh_row.cursor, fresh_row.pages, fresh_row.items_written),
        (None, 0, 0),
        "a new row has no cursor and zero counts"
    );
    assert_eq!(fresh_row.last_error.as_deref(), Some("HTTP 503"));

    // A run that fails stores its cursor and counts; recording a state keeps them.
    let source = ScriptedPaged::new(docs(4, 10, "a")).fail(2, Fault::Permanent, usize::MAX);
    let _ = run(&coll, source, 10, docs_sink(&db)).await;
    let before = store.load(&coll).await.unwrap().unwrap();
    assert_eq!(before.cursor, Some(ScriptedPaged::<Value>::cursor(2)));
    assert_eq!((before.pages, before.items_written), (2, 20));
    store.record(&coll, State::Retrying, Some("later")).await.unwrap();
    let after = store.load(&coll).await.unwrap().unwrap();
    assert_eq!(
        (after.cursor, after.pages, after.items_written),
        (before.cursor, before.pages, before.items_written)
    );
    assert_eq!(
        (after.state, after.last_error.as_deref()),
        (State::Retrying, Some("later"))
    );
    assert!(after.updated_at >= before.updated_at);

    let mut created = vec![coll.clone()];
    for (column, value) in [("state", "'bogus'"), ("pages", "-1")] {
        let bad = unique("corrupt");
        created.push(bad.clone());
        store.record(&bad, State::Crawling, None).await.unwrap();
        reader
            .exec(&format!(
                "UPDATE pipeline_checkpoints SET \"{column}\" = {value} WHERE collection = '{bad}'"
            ))
            .await;
        let err = store.load(&bad).await.unwrap_err();
        assert!(
            matches!(&err, CheckpointError::Corrupt { collection, .. } if *collection == bad),
            "{err}"
        );
        // The sink refuses to guess from it; fresh is the way out.
        let report = run(&bad, ScriptedPaged::new(docs(1, 3, "a")), 10, docs_sink(&db)).await;
        let err = sink_error(&report);
        assert!(
            matches!(err, SinkError::Config { .. }) && !err.is_retryable(),
            "{err}"
        );
        let text = err.to_string();
        assert!(
            text.contains("corrupt") && text.contains("--fresh") && text.contains(&bad),
            "{text}"
        );
        let report = run_with(
            &bad,
            ScriptedPaged::new(docs(1, 3, "a")),
            10,
            true,
            docs_sink(&db),
        )
        .await;
        assert!(report.outcome.is_completed(), "{:?}", report.outcome);
        let reset = store.load(&bad).await.unwrap().unwrap();
        assert_eq!((reset.cursor, reset.pages, reset.items_written), (None, 0, 3));
    }
    let names: Vec<&str> = created.iter().map(String::as_str).collect();
    reader.cleanup(&names).await;
}

pub async fn a_second_lock_holder_fails_fast_naming_the_first(url: &str) {
    let first = Database::open(url).await.unwrap();
    let second = Database::open(url).await.unwrap();
    let (a, b) = (unique("locka"), unique("lockb"));
    let locks = first.lock(&[&a, &b]).await.unwrap();
    assert_eq!(locks.collections(), [a.clone(), b.clone()]);
    let err = second.lock(&[&b]).await.unwrap_err();
    match &err {
        Error::Locked { collection, holder } => {
            assert_eq!(collection, &b);
            let pid = format!("pid={}", std::process::id());
            assert!(holder.contains("host=") && holder.contains(&pid), "{holder}");
        }
        other => panic!("expected Locked, got {other}"),
    }
    assert!(err.to_string().contains(&b), "{err}");
    // Released explicitly: the other one gets it at once.
    locks.release().await.unwrap();
    let locks = second.lock(&[&a, &b]).await.unwrap();
    // Released by dropping the guard (the server may take a moment to notice).
    drop(locks);
    let mut taken = None;
    for _ in 0..100 {
        match first.lock(&[&b]).await {
            Ok(l) => {
                taken = Some(l);
                break;
            }
            Err(Error::Locked { .. }) => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(taken.is_some(), "dropping the guard released the lock");
}

/// A runner's batch of states is written in one call; each row gets its
/// state and error, and a committed cursor and counts stay as they were.
pub async fn recorded_states_are_written_together_and_keep_cursors(url: &str) {
    let db = Database::open(url).await.unwrap();
    let reader = Reader::connect(url).await;
    let store = db.checkpoint_store();
    let (a, b) = (unique("batcha"), unique("batchb"));
    let source = ScriptedPaged::new(docs(4, 10, "a")).fail(2, Fault::Permanent, usize::MAX);
    let _ = run(&a, source, 10, docs_sink(&db)).await;
    let committed = store.load(&a).await.unwrap().unwrap();
    store
        .record_states(&[
            StateRecord::new(a.as_str(), State::Failed, Some("gone".into())),
            StateRecord::new(b.as_str(), State::Crawling, None),
        ])
        .await
        .unwrap();
    let stored_a = store.load(&a).await.unwrap().unwrap();
    assert_eq!(
        (stored_a.state, stored_a.last_error.as_deref()),
        (State::Failed, Some("gone"))
    );
    assert_eq!(
        (stored_a.cursor, stored_a.pages, stored_a.items_written),
        (committed.cursor, committed.pages, committed.items_written)
    );
    let stored_b = store.load(&b).await.unwrap().unwrap();
    assert_eq!((stored_b.state, stored_b.cursor), (State::Crawling, None));
    store.record_states(&[]).await.unwrap();
    reader.cleanup(&[&a, &b]).await;
}
