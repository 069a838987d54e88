//! `PgCoordinator` and `PgHostSlots` on the real PostgreSQL: exclusive
//! claims with growing fences, takeover after expiry, schedules, the SQL
//! sink's fence check, request starts spaced across registries, in-flight
//! tokens shared and freed with their session, and a shared open breaker.

// Only the helpers are used here, not the shared scenarios.
#[allow(unused_imports)]
mod support;

use std::sync::Arc;
use std::time::Duration;

use crawlpipe_core::policy::{BreakerConfig, Breakers, GateConfig, HostGates, HostSlots};
use crawlpipe_core::runner::{Claim, Coordinator, Due, Lease, RunEnd};
use crawlpipe_core::{CheckpointStore, SinkContext, SinkError};
use crawlpipe_sinks::sqlx::{self, AssertSqlSafe};
use crawlpipe_sinks::{Database, PgCoordinator, PgHostSlots};
use serde_json::json;
use support::{pg_url, unique};

async fn setup(test: &str) -> Option<(Database, String)> {
    let url = pg_url(test).await?;
    let db = Database::open(&url).await.expect("database opens");
    Some((db, unique("clu")))
}

async fn drop_tables(url: &str, prefix: &str, tables: &[&str]) {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    for t in ["leases", "workers", "hosts"] {
        let _ = sqlx::query(AssertSqlSafe(format!("DROP TABLE IF EXISTS \"{prefix}_{t}\"")))
            .execute(&pool)
            .await;
    }
    for t in tables {
        let _ = sqlx::query(AssertSqlSafe(format!("DROP TABLE IF EXISTS \"{t}\"")))
            .execute(&pool)
            .await;
        let _ = sqlx::query("DELETE FROM pipeline_checkpoints WHERE collection = $1")
            .bind(*t)
            .execute(&pool)
            .await;
    }
}

/// Polls (bounded) until the lease on `collection` has expired by the database's clock.
async fn wait_expired(prefix: &str, collection: &str) {
    let pool = sqlx::PgPool::connect(&db_url().await).await.unwrap();
    let sql = format!("SELECT \"lease_until\" < now() FROM \"{prefix}_leases\" WHERE \"collection\" = $1");
    for _ in 0..500 {
        let expired: Option<bool> = sqlx::query_scalar(AssertSqlSafe(sql.clone()))
            .bind(collection)
            .fetch_optional(&pool)
            .await
            .unwrap()
            .flatten();
        if expired == Some(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the lease on {collection} never expired");
}

fn claimed(claim: Claim) -> Lease {
    match claim {
        Claim::Claimed(lease) => lease,
        other => panic!("expected a claim, got {other:?}"),
    }
}

#[cfg_attr(no_pg_tests, ignore = "needs PostgreSQL: set PIPELINE_TEST_PG_URL")]
#[tokio::test]
async fn one_holder_at_a_time_and_a_larger_fence_after_expiry() {
    let Some((db, prefix)) = setup("claims").await else {
        return;
    };
    let lease = Duration::from_millis(400);
    let a = PgCoordinator::with_prefix(&db, &prefix, lease).await.unwrap();
    let b = PgCoordinator::with_prefix(&db, &prefix, lease).await.unwrap();

    let first = claimed(a.claim("issues", Due::Scheduled).await.unwrap());
    match b.claim("issues", Due::Now).await.unwrap() {
        Claim::Refused { owner, .. } => assert_eq!(owner.as_deref(), Some(a.worker())),
        other => panic!("a held lease was claimed again: {other:?}"),
    }
    assert!(a.renew(&first).await.unwrap());
    // a stops renewing: after the lease, b takes over with a larger fence.
    wait_expired(&prefix, "issues").await;
    let second = claimed(b.claim("issues", Due::Scheduled).await.unwrap());
    assert!(second.fence.token() > first.fence.token());
    assert!(!a.renew(&first).await.unwrap(), "the old holder cannot renew");
    a.release(&first, RunEnd::Stopped).await.unwrap();
    let leases = b.leases().await.unwrap();
    let row = leases.iter().find(|l| l.collection == "issues").unwrap();
    assert_eq!(
        row.owner.as_deref(),
        Some(b.worker()),
        "a stale release changes nothing"
    );
    assert!(b.workers().await.unwrap() >= 1);
    drop_tables(&db_url().await, &prefix, &[]).await;
}

async fn db_url() -> String {
    std::env::var("PIPELINE_TEST_PG_URL").unwrap()
}

#[cfg_attr(no_pg_tests, ignore = "needs PostgreSQL: set PIPELINE_TEST_PG_URL")]
#[tokio::test]
async fn a_release_schedules_the_next_run_and_once_rounds_end() {
    let Some((db, prefix)) = setup("schedule").await else {
        return;
    };
    let c = PgCoordinator::with_prefix(&db, &prefix, Duration::from_secs(5))
        .await
        .unwrap();
    let lease = claimed(c.claim("feed", Due::Scheduled).await.unwrap());
    c.release(
        &lease,
        RunEnd::Ended {
            next_run_in: Some(Duration::from_secs(60)),
        },
    )
    .await
    .unwrap();
    match c.claim("feed", Due::Scheduled).await.unwrap() {
        Claim::Refused {
            owner, next_run_at, ..
        } => {
            assert_eq!(owner, None);
            assert!(next_run_at.is_some(), "scheduled in a minute");
        }
        other => panic!("claimed before it was due: {other:?}"),
    }
    let now = claimed(c.claim("feed", Due::Now).await.unwrap());
    c.release(&now, RunEnd::Once).await.unwrap();
    match c.claim("feed", Due::Once).await.unwrap() {
        Claim::Refused {
            ended_since_start, ..
        } => assert!(ended_since_start),
        other => panic!("a one-shot round ran it twice: {other:?}"),
    }
    drop_tables(&db_url().await, &prefix, &[]).await;
}

#[cfg_attr(no_pg_tests, ignore = "needs PostgreSQL: set PIPELINE_TEST_PG_URL")]
#[tokio::test]
async fn a_sink_with_a_stale_fence_commits_nothing() {
    let Some((db, prefix)) = setup("fence").await else {
        return;
    };
    let coll = unique("fenced");
    let lease = Duration::from_millis(400);
    let a = PgCoordinator::with_prefix(&db, &prefix, lease).await.unwrap();
    let b = PgCoordinator::with_prefix(&db, &prefix, lease).await.unwrap();
    let old = claimed(a.claim(&coll, Due::Once).await.unwrap());

    // The old holder's pipeline writes one page, then is paused past its lease.
    let sink = db.documents().key_pointer("/id").build().unwrap();
    let ctx = SinkContext::new(coll.clone(), false).with_fence(Some(old.fence.clone()));
    let mut sink: Box<dyn crawlpipe_core::Sink<serde_json::Value>> = Box::new(sink);
    sink.open(&ctx).await.unwrap();
    let cursor = crawlpipe_core::Cursor::new("page-2");
    sink.write(vec![json!({"id": 1})], Some(&cursor)).await.unwrap();
    wait_expired(&prefix, &coll).await;
    let new = claimed(b.claim(&coll, Due::Now).await.unwrap());

    let err = sink
        .write(
            vec![json!({"id": 2})],
            Some(&crawlpipe_core::Cursor::new("page-3")),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, SinkError::Fenced { .. }), "{err}");
    assert!(!err.is_retryable());
    let err = sink
        .finish(&crawlpipe_core::Outcome::Cancelled)
        .await
        .unwrap_err();
    assert!(matches!(err, SinkError::Fenced { .. }), "{err}");
    let stored = db.checkpoint_store().load(&coll).await.unwrap().unwrap();
    assert_eq!(stored.cursor.as_ref().map(|c| c.as_str()), Some("page-2"));
    assert_eq!(stored.items_written, 1, "the refused batch left no row");

    // The new holder writes under its own fence, from the committed cursor.
    let mut sink: Box<dyn crawlpipe_core::Sink<serde_json::Value>> =
        Box::new(db.documents().key_pointer("/id").build().unwrap());
    let ctx = SinkContext::new(coll.clone(), false).with_fence(Some(new.fence.clone()));
    let resume = sink.open(&ctx).await.unwrap();
    assert_eq!(resume.as_ref().map(|c| c.as_str()), Some("page-2"));
    sink.write(
        vec![json!({"id": 3})],
        Some(&crawlpipe_core::Cursor::new("page-3")),
    )
    .await
    .unwrap();
    sink.finish(&crawlpipe_core::Outcome::Completed).await.unwrap();
    drop_tables(&db_url().await, &prefix, &[&coll]).await;
}

#[cfg_attr(no_pg_tests, ignore = "needs PostgreSQL: set PIPELINE_TEST_PG_URL")]
#[tokio::test(flavor = "multi_thread")]
async fn request_starts_from_separate_registries_keep_the_interval() {
    let Some((db, prefix)) = setup("slots").await else {
        return;
    };
    let interval = Duration::from_millis(10);
    let host = unique("host");
    let config = GateConfig::default().min_interval(interval);
    let mut tasks = Vec::new();
    // Three "processes": each its own registry and its own store handle.
    // Allowed noise: a start up to 1 ms late on its slot (the timer's grain)
    // and the mapping of the server's clock to this one.
    for p in 0..3 {
        let slots = PgHostSlots::with_prefix(&db, &prefix).await.unwrap();
        let gate = HostGates::shared(Arc::new(slots)).gate(&host, config.clone());
        tasks.push(tokio::spawn(async move {
            let mut starts = Vec::new();
            for _ in 0..20 {
                let permit = gate.acquire().await;
                starts.push((permit.started(), p));
                permit.success();
            }
            starts
        }));
    }
    let mut starts = Vec::new();
    for t in tasks {
        starts.extend(t.await.unwrap());
    }
    starts.sort();
    let (closest, pair) = starts
        .windows(2)
        .map(|w| (w[1].0 - w[0].0, (w[0].1, w[1].1)))
        .min_by_key(|(d, _)| *d)
        .unwrap();
    let t0 = starts[0].0;
    let all: Vec<(u128, i32)> = starts.iter().map(|(t, p)| ((*t - t0).as_micros(), *p)).collect();
    assert!(
        closest >= interval - Duration::from_millis(2),
        "starts {closest:?} apart, processes {pair:?}: {all:?}"
    );
    drop_tables(&db_url().await, &prefix, &[]).await;
}

#[cfg_attr(no_pg_tests, ignore = "needs PostgreSQL: set PIPELINE_TEST_PG_URL")]
#[tokio::test(flavor = "multi_thread")]
async fn in_flight_tokens_are_shared_and_freed_with_their_session() {
    let Some((db, prefix)) = setup("tokens").await else {
        return;
    };
    let host = unique("host");
    let a = PgHostSlots::with_prefix(&db, &prefix).await.unwrap();
    let b = PgHostSlots::with_prefix(&db, &prefix).await.unwrap();
    let first = a.take_token(&host, 2).await.unwrap().expect("a free token");
    let second = a
        .take_token(&host, 2)
        .await
        .unwrap()
        .expect("a second free token");
    assert_ne!(first, second, "a token the session holds was taken again");
    assert_eq!(a.take_token(&host, 2).await.unwrap(), None);
    assert_eq!(b.take_token(&host, 2).await.unwrap(), None, "a third token");
    a.give_back(&host, &[first]).await.unwrap();
    assert_eq!(b.take_token(&host, 2).await.unwrap(), Some(first));
    // A process that dies: its session ends, and the database frees its token.
    drop(a);
    let mut freed = None;
    for _ in 0..100 {
        freed = b.take_token(&host, 2).await.unwrap();
        if freed.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(freed, Some(second), "the dead session's token stayed taken");
    b.give_back(&host, &[first, second]).await.unwrap();
    let c = PgHostSlots::with_prefix(&db, &prefix).await.unwrap();
    assert!(c.take_token(&host, 2).await.unwrap().is_some(), "given back");
    drop_tables(&db_url().await, &prefix, &[]).await;
}

#[cfg_attr(no_pg_tests, ignore = "needs PostgreSQL: set PIPELINE_TEST_PG_URL")]
#[tokio::test(flavor = "multi_thread")]
async fn a_breaker_opened_in_one_process_stops_the_other() {
    let Some((db, prefix)) = setup("breaker").await else {
        return;
    };
    let host = unique("host");
    let config = BreakerConfig {
        failures: 2,
        cooldown: Duration::from_secs(30),
    };
    let store = PgHostSlots::with_prefix(&db, &prefix).await.unwrap();
    let a = Breakers::shared(Arc::new(store.clone())).breaker(&host, config);
    let b = Breakers::shared(Arc::new(PgHostSlots::with_prefix(&db, &prefix).await.unwrap()))
        .breaker(&host, config);
    b.refresh().await;
    assert!(b.check().is_ok(), "nothing is open yet");
    a.check().unwrap().failure();
    a.check().unwrap().failure();
    assert!(a.check().is_err(), "a's own breaker opened");
    // b has seen no failure; it reads the cluster's breaker at most once a second.
    let mut stopped = false;
    for _ in 0..50 {
        b.refresh().await;
        if b.check().is_err() {
            stopped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        stopped,
        "b kept sending requests to a host whose breaker a opened"
    );
    let left = store.breaker(&host).await.unwrap().expect("published as open");
    assert!(
        left > Duration::from_secs(20) && left <= config.cooldown,
        "{left:?}"
    );
    // A successful probe closes it for everyone.
    store.set_breaker(&host, None).await.unwrap();
    assert_eq!(store.breaker(&host).await.unwrap(), None);
    drop_tables(&db_url().await, &prefix, &[]).await;
}
