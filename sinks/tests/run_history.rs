//! `pipeline_runs` on both backends: runs newest first, pruned to `keep`
//! per collection, the last success, the marks a cluster reads others'
//! runs by, and a runner recording into it.

#[allow(unused_imports)]
mod support;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crawlpipe_core::Pipeline;
use crawlpipe_core::history::{RunHistory, RunOutcome, RunRecord};
use crawlpipe_core::runner::{Collection, Runner};
use crawlpipe_core::testkit::ScriptedPaged;
use crawlpipe_sinks::{Database, SqlRunHistory};
use support::{pg_url, unique};

fn at(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(1_760_000_000_000 + ms)
}

async fn runs_are_kept_newest_first_and_pruned(db: &Database) {
    let history = SqlRunHistory::new(db).await.unwrap();
    // A second handle creates nothing twice.
    let _again = db.run_history().await.unwrap();
    let (a, b) = (unique("runs_a"), unique("runs_b"));
    let (_, mark) = history.recorded_after(None, 10).await.unwrap();
    let outcomes = [
        RunOutcome::Completed,
        RunOutcome::Failed,
        RunOutcome::Completed,
        RunOutcome::Cancelled,
        RunOutcome::Failed,
    ];
    for (i, outcome) in outcomes.into_iter().enumerate() {
        let i = i as u64;
        let mut run = RunRecord::new(&a, at(i * 1000), at(i * 1000 + 250), outcome);
        run.owner = Some("worker-1".into());
        run.items = 10 * i;
        run.pages = i;
        run.resumes = i as u32;
        run.error = (outcome == RunOutcome::Failed).then(|| format!("error {i}"));
        history.record(&run, 3).await.unwrap();
    }
    history
        .record(&RunRecord::new(&b, at(0), at(1), RunOutcome::Completed), 3)
        .await
        .unwrap();
    let runs = history.runs(&a, 10).await.unwrap();
    let got: Vec<(RunOutcome, u64)> = runs.iter().map(|r| (r.outcome, r.items)).collect();
    assert_eq!(
        got,
        [
            (RunOutcome::Failed, 40),
            (RunOutcome::Cancelled, 30),
            (RunOutcome::Completed, 20)
        ],
        "newest first, the two oldest pruned"
    );
    let newest = &runs[0];
    assert_eq!((newest.started_at, newest.ended_at), (at(4000), at(4250)));
    assert_eq!(newest.owner.as_deref(), Some("worker-1"));
    assert_eq!((newest.pages, newest.resumes), (4, 4));
    assert_eq!(newest.error.as_deref(), Some("error 4"));
    assert_eq!(history.runs(&a, 1).await.unwrap().len(), 1);
    assert_eq!(history.last_success(&a).await.unwrap(), Some(at(2250)));
    assert_eq!(history.last_success(&unique("none")).await.unwrap(), None);
    assert_eq!(
        history.runs(&b, 10).await.unwrap().len(),
        1,
        "other collections untouched"
    );

    // Every run recorded after the mark (by any process), oldest first.
    let (after, next) = history.recorded_after(Some(mark), 1000).await.unwrap();
    let ours: Vec<&RunRecord> = after
        .iter()
        .filter(|r| r.collection == a || r.collection == b)
        .collect();
    // The pruned runs are gone: the three kept of `a`, then `b`'s.
    assert_eq!(ours.len(), 4);
    assert_eq!((ours[0].outcome, ours[0].items), (RunOutcome::Completed, 20));
    assert_eq!(ours[3].collection, b);
    assert!(next > mark);
    let (none, same) = history.recorded_after(Some(next), 1000).await.unwrap();
    assert!(none.iter().all(|r| r.collection != a && r.collection != b));
    assert!(same >= next);
}

async fn a_runner_records_its_runs_in_the_table(db: &Database) {
    let history = Arc::new(db.run_history().await.unwrap());
    let name = unique("recorded");
    let runner = Runner::builder(Arc::new(db.checkpoint_store()))
        .history(history.clone())
        .collection(Collection::new(&name, |name| {
            let sink = crawlpipe_core::testkit::CollectSink::new();
            Ok(Pipeline::paged(name, ScriptedPaged::numbered(3, 4)).sink(sink))
        }))
        .build()
        .unwrap();
    runner.join().await;
    let runs = history.runs(&name, 10).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        (runs[0].outcome, runs[0].items, runs[0].pages),
        (RunOutcome::Completed, 12, 3)
    );
    assert_eq!(runs[0].owner, None);
    assert_eq!(runner.runs(&name, 10).await.unwrap(), runs);
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_runs_are_kept_newest_first_and_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&format!("sqlite://{}", dir.path().join("runs.db").display()))
        .await
        .unwrap();
    runs_are_kept_newest_first_and_pruned(&db).await;
    a_runner_records_its_runs_in_the_table(&db).await;
}

#[cfg(feature = "postgres")]
#[cfg_attr(no_pg_tests, ignore = "needs PostgreSQL: set PIPELINE_TEST_PG_URL")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_runs_are_kept_newest_first_and_pruned() {
    let Some(url) = pg_url("postgres_runs_are_kept_newest_first_and_pruned").await else {
        return;
    };
    let db = Database::open(&url).await.unwrap();
    runs_are_kept_newest_first_and_pruned(&db).await;
    a_runner_records_its_runs_in_the_table(&db).await;
}

/// A child collection gets one run per run of its feeder, its children summed.
#[cfg(feature = "sqlite")]
#[tokio::test]
async fn a_child_collection_is_one_run_summing_its_children() {
    use crawlpipe_sinks::{ChildFeeder, ColumnType, ParentColumns};
    use serde_json::{Value, json};

    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&format!("sqlite://{}", dir.path().join("t.db").display()))
        .await
        .unwrap();
    let history = Arc::new(db.run_history().await.unwrap());
    let runner = Runner::builder(Arc::new(db.checkpoint_store()))
        .history(history.clone())
        .build()
        .unwrap();
    let repos_db = db.clone();
    let repos = runner
        .add_watched(Collection::new("repos", move |name| {
            let pages = vec![vec![json!({"id": 1}), json!({"id": 2}), json!({"id": 3})]];
            let sink = repos_db.documents().key_pointer("/id").build().expect("sink");
            Ok(Pipeline::paged(name, ScriptedPaged::new(pages)).sink(sink))
        }))
        .unwrap();
    let issues_db = db.clone();
    let ended = ChildFeeder::new(
        &db,
        &runner,
        "issues",
        "repos",
        ParentColumns::Document,
        move |name, child| {
            let (db, parent) = (issues_db.clone(), child.parent_key.clone());
            Collection::new(name, move |name| {
                let sink = db
                    .rows::<Value>()
                    .table("issues")
                    .child_of("issues", &parent)
                    .columns([("data", ColumnType::Json), ("parent", ColumnType::Text)])
                    .key_pointer("/data/id")
                    .build()
                    .expect("sink");
                let p = parent.clone();
                let items = vec![
                    vec![json!({"id": format!("{parent}.1")})],
                    vec![json!({"id": format!("{parent}.2")})],
                ];
                Ok(Pipeline::paged(name, ScriptedPaged::new(items))
                    .map(move |item: Value| json!({"data": item, "parent": p}))
                    .sink(sink))
            })
        },
    )
    .unwrap()
    .parent(repos)
    .spawn();
    runner.start().unwrap();
    runner.join().await;
    assert_eq!(*ended.borrow(), Some(true));
    let issues = history.runs("issues", 10).await.unwrap();
    assert_eq!(issues.len(), 1, "one run for the child collection: {issues:#?}");
    assert_eq!(
        (issues[0].outcome, issues[0].items, issues[0].pages),
        (RunOutcome::Completed, 6, 6)
    );
    assert_eq!(
        history.runs("issues/1", 10).await.unwrap(),
        [],
        "no row per child"
    );
    assert_eq!(history.runs("repos", 10).await.unwrap().len(), 1);
    assert_eq!(
        runner.runs("issues", 10).await.unwrap(),
        issues,
        "served for the child collection too"
    );
}
