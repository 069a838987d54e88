//! Child collections with the Rust API: one `issues` crawl per repository,
//! added to the runner by a feeder while the `repos` crawl runs.
//!
//! The parent's sink commits its rows (and cursor) to SQLite; a
//! [`ChildFeeder`] lists every committed parent row as a pending child
//! (in `pipeline_children`), so children start as parent items arrive and a
//! killed run loses none. It keeps at most `WINDOW` children in the runner
//! (each grouped under `issues`, each with its own checkpoint), and holds
//! the runner open until the parent and every child have ended. The `crawl`
//! binary does the same from `parent = "repos"` in its config file; for a
//! whole tree see `incremental_tree.rs` ([`crawlpipe_sinks::CollectionTree`]).
//! Run: `cargo run -p crawlpipe --example child_collections`.
#![allow(clippy::print_stdout)]

use std::sync::Arc;

use crawlpipe_core::Pipeline;
use crawlpipe_core::runner::{Collection, Runner};
use crawlpipe_sinks::{ChildFeeder, ColumnType, Database, ParentColumns, QueuedChild};
use crawlpipe_sources::mock::{MockConfig, MockServer, tree_issue_count};
use crawlpipe_sources::{HttpContext, HttpSourceConfig, JsonSource, Pagination, UrlTemplate};
use serde_json::{Value, json};

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
    let template = UrlTemplate::parse(&server.url("/tree/repos/{/name}/issues"))?;
    // The feeder lists every committed `repos` row as a pending child and
    // adds its collection, made here, to the runner: `WINDOW` at a time.
    let issues = ChildFeeder::new(&db, &runner, "issues", "repos", ParentColumns::Document, {
        let (db, ctx) = (db.clone(), ctx.clone());
        move |name: &str, child: QueuedChild| {
            let url = template
                .render(child.parent.as_ref().unwrap_or(&Value::Null))
                .map_err(|e| e.to_string());
            let (db, ctx, key) = (db.clone(), ctx.clone(), child.parent_key);
            Collection::new(name, move |name: &str| {
                let definition = |e: String| crawlpipe_core::BuildError::Definition {
                    collection: name.to_owned(),
                    reason: e,
                };
                let url = url.clone().map_err(definition)?;
                let config = HttpSourceConfig::new(url).pagination(Pagination::LinkHeader);
                let source = JsonSource::from_config(&config, &ctx).map_err(|e| definition(e.to_string()))?;
                let sink = db
                    .rows::<Value>()
                    .table("issues")
                    .child_of("issues", &key) // marked done with its last batch
                    .columns([("data", ColumnType::Json), ("parent", ColumnType::Text)])
                    .key_pointer("/data/id")
                    .build()
                    .map_err(|e| definition(e.to_string()))?;
                let parent = key.clone();
                Ok(Pipeline::paged(name, source)
                    .map(move |item: Value| json!({ "data": item, "parent": parent }))
                    .sink(sink))
            })
        }
    })?
    .window(WINDOW)
    .parent(parent_end) // new children as the parent commits; ends after it
    .spawn(); // holds the runner open until every child has ended
    runner.start()?;

    let summaries = runner.join().await;
    assert_eq!(*issues.borrow(), Some(true), "every child completed");
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
