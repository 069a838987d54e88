//! Child collections with the Rust API: one `issues` crawl per repository,
//! added to the runner by a feeder while the `repos` crawl runs.
//!
//! The parent's sink commits its rows (and cursor) to SQLite; a
//! [`ChildQueue`] lists every committed parent row as a pending child, so
//! children start as parent items arrive and a killed run loses none. The
//! feeder keeps at most `WINDOW` children in the runner ([`Runner::add_watched`],
//! each [`Collection::group`]ed under `issues`, each with its own
//! checkpoint), and holds the runner open ([`Runner::hold`]) until the
//! parent and every child have ended. The `crawl` binary does the same from
//! `parent = "repos"` in its config file.
//! Run: `cargo run -p examples --example child_collections`.
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use pipeline_core::runner::{Collection, Runner};
use pipeline_core::{Pipeline, State};
use serde_json::{Value, json};
use sinks::{ColumnType, Database, ParentColumns};
use sources::mock::{MockConfig, MockServer, tree_issue_count};
use sources::{HttpContext, HttpSourceConfig, JsonSource, Pagination, UrlTemplate};

/// Children in the runner at once.
const WINDOW: usize = 4;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut mock = MockConfig::new(10, 10);
    mock.tree_repos = 25;
    let server = MockServer::start(mock).await?;
    let ctx = HttpContext::new()?;
    let dir = tempfile::tempdir()?;
    let db = Database::open(&format!("sqlite://{}", dir.path().join("tree.db").display())).await?;

    let (parent_db, parent_ctx, repos_url) = (db.clone(), ctx.clone(), server.url("/tree/repos"));
    let repos = Collection::new_async("repos", move |name: &str| {
        let config = HttpSourceConfig::new(repos_url.clone()).pagination(Pagination::LinkHeader);
        let built = JsonSource::from_config(&config, &parent_ctx)
            .map_err(Box::<dyn std::error::Error + Send + Sync>::from)
            .and_then(|source| {
                let sink = parent_db.documents().key_pointer("/id").build()?;
                Ok(Pipeline::paged(name, source).sink(sink))
            });
        async move { built }
    });
    let runner = Runner::builder(Arc::new(db.checkpoint_store()))
        .concurrency(WINDOW)
        .build()?;
    let parent_end = runner.add_watched(repos)?;
    let hold = runner.hold(); // before the start: the runner waits for the feeder
    runner.start()?;

    let template = UrlTemplate::parse(&server.url("/tree/repos/{/name}/issues"))?;
    let queue = db.child_queue("issues", "repos", ParentColumns::Document)?;
    queue.prepare(true).await?;
    let feeder = {
        let (runner, db, ctx) = (runner.clone(), db.clone(), ctx.clone());
        tokio::spawn(async move {
            let mut parent = Box::pin(parent_end.ended());
            let mut parent_done = false;
            let mut running = FuturesUnordered::new();
            loop {
                // Whether the parent had ended *before* this look at its table.
                let ended = parent_done;
                queue.discover().await?;
                for child in queue.claim(WINDOW - running.len()).await? {
                    let url = template.render(child.parent.as_ref().unwrap_or(&Value::Null))?;
                    let (db, ctx, key) = (db.clone(), ctx.clone(), child.parent_key.clone());
                    let issues = Collection::new(format!("issues/{key}"), move |name: &str| {
                        let config = HttpSourceConfig::new(url.clone()).pagination(Pagination::LinkHeader);
                        let source = JsonSource::from_config(&config, &ctx).map_err(|e| {
                            pipeline_core::BuildError::Definition {
                                collection: name.to_owned(),
                                reason: e.to_string(),
                            }
                        })?;
                        let sink = db
                            .rows::<Value>()
                            .table("issues")
                            .columns([("data", ColumnType::Json), ("parent", ColumnType::Text)])
                            .key_pointer("/data/id")
                            .build()
                            .map_err(|e| pipeline_core::BuildError::Definition {
                                collection: name.to_owned(),
                                reason: e.to_string(),
                            })?;
                        let parent = key.clone();
                        Ok(Pipeline::paged(name, source)
                            .map(move |item: Value| json!({ "data": item, "parent": parent }))
                            .sink(sink))
                    })
                    .group("issues");
                    let end = runner.add_watched(issues)?;
                    let key = child.parent_key;
                    running.push(async move { (key, end.ended().await) });
                }
                if ended && running.is_empty() && queue.unfinished().await? == 0 {
                    break;
                }
                tokio::select! {
                    Some((key, summary)) = running.next() => {
                        let done = summary.is_some_and(|s| s.state == State::Completed);
                        if done { queue.finish(&[&key], &[]).await? } else { queue.finish(&[], &[&key]).await? }
                    }
                    _ = &mut parent, if !parent_done => parent_done = true,
                    () = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
            }
            drop(hold);
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
    };
    let summaries = runner.join().await;
    feeder.await?.map_err(|e| e.to_string())?;
    let groups = runner.groups();
    let issues = &groups[0];
    println!(
        "repos: {:?}; issues: {} children done, {} failed, {} rows",
        summaries[0].state, issues.done, issues.failed, issues.items_written
    );
    let expected: u64 = (1..=25).map(|r| tree_issue_count(r, 10) as u64).sum();
    assert_eq!((issues.done, issues.items_written), (25, expected));
    db.close().await;
    server.shutdown().await;
    Ok(())
}
