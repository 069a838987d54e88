//! An incremental parent → child → grandchild crawl (repos → issues →
//! comments) composed in Rust with the library alone, no `crawl` config:
//! the same guarantees as `crawl` with `parent` and `incremental` keys.
//!
//! - [`CollectionTree`] puts the tree on a [`Runner`]: `repos` is a
//!   collection as any; `issues` and `comments` are child collections, each
//!   fed by a [`crawlpipe_sinks::ChildFeeder`] from its parent's committed rows, a
//!   window of children at a time, each child with its own checkpoint.
//! - [`Incremental`] makes every collection (and every child, under its
//!   own name) ask only for the items updated since the greatest
//!   `updated_at` of its last completed run: the SQL sink keeps that mark
//!   ([`Database::high_water`]) and the next run sends it as `since`.
//!
//! The first run stores the whole tree; after the mock server updates three
//! items ([`MockServer::touch_tree`]), the second run fetches exactly those.
//! Run: `cargo run -p crawlpipe --example incremental_tree`.
#![allow(clippy::print_stdout)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use crawlpipe_core::runner::{Collection, CollectionSummary, GroupStatus, Runner};
use crawlpipe_core::{BoxError, Pipeline, Runnable, State};
use crawlpipe_sinks::{CollectionTree, ColumnType, Database, ParentColumns, QueuedChild};
use crawlpipe_sources::dates::{Incremental, Timestamp};
use crawlpipe_sources::mock::{MockConfig, MockServer, TreeItem, tree_issue, tree_issue_count};
use crawlpipe_sources::{HttpContext, HttpSourceConfig, JsonSource, Pagination, UrlTemplate};
use serde_json::{Value, json};

/// Children of each child collection in the runner at once.
const WINDOW: usize = 8;
const REPOS: usize = 12;
const PER_PAGE: usize = 5;
/// The field whose greatest value is a collection's mark.
const FIELD: &str = "/updated_at";

/// Everything a collection's factory needs.
#[derive(Clone)]
struct Env {
    db: Database,
    ctx: HttpContext,
    incremental: Incremental,
}

/// A JSON source over `url` (`link_header` pages), asking for what changed
/// since `collection`'s mark.
async fn source(env: &Env, collection: &str, url: &str) -> Result<JsonSource, BoxError> {
    let mark = env.db.high_water(collection).await?;
    let config = HttpSourceConfig::new(url).pagination(Pagination::LinkHeader);
    let config = env
        .incremental
        .apply(&config, mark.as_deref(), Timestamp::now())?;
    Ok(JsonSource::from_config(&config, &env.ctx)?)
}

/// The top-level collection `repos`: documents keyed by `/id`, its mark
/// the greatest `/updated_at`. A short batch timeout commits its rows, which
/// list the children, soon after they arrive.
fn repos(env: &Env, url: String) -> Collection {
    let env = env.clone();
    Collection::new_async("repos", move |name: &str| {
        let (env, url, name) = (env.clone(), url.clone(), name.to_owned());
        async move {
            let source = source(&env, &name, &url).await?;
            let sink = env.db.documents().key_pointer("/id").high_water(FIELD).build()?;
            let pipeline = Pipeline::paged(&name, source).batch_timeout(Duration::from_millis(20));
            Ok::<Runnable<Value>, BoxError>(pipeline.sink(sink))
        }
    })
}

/// The children of child collection `table`: one collection per parent
/// row, its URL rendered from the row, rows `{data, parent}` keyed by
/// `/data/id`, marked done with the child's last batch.
fn children(
    env: &Env,
    table: &'static str,
    template: UrlTemplate,
) -> impl Fn(&str, QueuedChild) -> Collection + Send + Sync + 'static {
    let env = env.clone();
    move |name: &str, child: QueuedChild| {
        let url = template
            .render(child.parent.as_ref().unwrap_or(&Value::Null))
            .map_err(|e| e.to_string());
        let (env, parent) = (env.clone(), child.parent_key);
        Collection::new_async(name, move |name: &str| {
            let (env, url, parent, name) = (env.clone(), url.clone(), parent.clone(), name.to_owned());
            async move {
                let source = source(&env, &name, &url?).await?;
                let sink = env
                    .db
                    .rows::<Value>()
                    .table(table)
                    .child_of(table, &parent)
                    .columns([("data", ColumnType::Json), ("parent", ColumnType::Text)])
                    .key_pointer("/data/id")
                    .high_water_fn(|row: &Value| {
                        row["data"]
                            .pointer(FIELD)
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    })
                    .build()?;
                let pipeline = Pipeline::paged(&name, source).batch_timeout(Duration::from_millis(20));
                let rows = pipeline.map(move |item: Value| json!({ "data": item, "parent": parent }));
                Ok::<Runnable<Value>, BoxError>(rows.sink(sink))
            }
        })
    }
}

/// One run of the whole tree; the summaries of `repos` and the groups.
async fn crawl(
    env: &Env,
    server: &MockServer,
) -> Result<(Vec<CollectionSummary>, Vec<GroupStatus>), BoxError> {
    let runner = Runner::builder(Arc::new(env.db.checkpoint_store()))
        .concurrency(4)
        .group_concurrency(WINDOW)
        .build()?;
    let tree = CollectionTree::new()
        .collection(repos(env, server.url("/tree/repos")))
        .child(
            "issues",
            "repos",
            ParentColumns::Document,
            children(
                env,
                "issues",
                UrlTemplate::parse(&server.url("/tree/repos/{/name}/issues"))?,
            ),
        )
        .child(
            "comments",
            "issues",
            ParentColumns::Document,
            children(
                env,
                "comments",
                UrlTemplate::parse(&server.url("/tree/issues/{/id}/comments"))?,
            ),
        )
        .window(WINDOW);
    // Which collections run, and whether each child collection lists its
    // children again or resumes an interrupted run.
    let plan = tree.plan(&env.db.checkpoint_store(), false).await?;
    let ends = tree.wire(&runner, &env.db, &plan)?;
    runner.start()?;
    let summaries = runner.join().await;
    assert!(
        ends.unfinished().is_empty(),
        "unfinished: {:?}",
        ends.unfinished()
    );
    assert!(
        summaries.iter().all(|s| s.state == State::Completed),
        "{summaries:?}"
    );
    let mut groups = runner.groups();
    groups.sort_by(|a, b| a.group.cmp(&b.group));
    Ok((summaries, groups))
}

/// `(key, parent)` of rows.
type Pairs = BTreeSet<(String, String)>;

/// `(key, parent, updated_at)` of every row of a child table.
async fn rows(url: &str, table: &str) -> Result<BTreeSet<(String, String, String)>, BoxError> {
    let pool = crawlpipe_sinks::sqlx::SqlitePool::connect(url).await?;
    let sql = format!("SELECT key, parent, json_extract(data, '$.updated_at') FROM \"{table}\"");
    let found: Vec<(String, String, String)> =
        crawlpipe_sinks::sqlx::query_as(crawlpipe_sinks::sqlx::AssertSqlSafe(sql))
            .fetch_all(&pool)
            .await?;
    pool.close().await;
    Ok(found.into_iter().collect())
}

/// The tree as served before any change: `(key, parent)` of the issues
/// and of the comments.
fn expected() -> (Pairs, Pairs) {
    let (mut issues, mut comments) = (BTreeSet::new(), BTreeSet::new());
    for r in 1..=REPOS {
        for i in 0..tree_issue_count(r, PER_PAGE) {
            let id = tree_issue(r, i)["id"].as_u64().unwrap_or_default();
            issues.insert((id.to_string(), r.to_string()));
            for j in 0..id % 3 {
                comments.insert(((id * 10 + j).to_string(), id.to_string()));
            }
        }
    }
    (issues, comments)
}

fn pairs(rows: &BTreeSet<(String, String, String)>) -> Pairs {
    rows.iter().map(|(k, p, _)| (k.clone(), p.clone())).collect()
}

/// Items the groups wrote, by group name.
fn written(groups: &[GroupStatus]) -> Vec<(String, u64)> {
    groups
        .iter()
        .map(|g| (g.group.clone(), g.items_written))
        .collect()
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let mut mock = MockConfig::new(10, PER_PAGE);
    mock.tree_repos = REPOS;
    let server = MockServer::start(mock).await?;
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("tree.db").display());
    let env = Env {
        db: Database::open(&url).await?,
        ctx: HttpContext::new()?,
        incremental: Incremental::new("since", FIELD),
    };

    // First run: the whole tree, exactly.
    let (summaries, groups) = crawl(&env, &server).await?;
    let (issues, comments) = expected();
    let issue_rows = rows(&url, "issues").await?;
    let comment_rows = rows(&url, "comments").await?;
    assert_eq!(summaries[0].progress.items_written, REPOS as u64);
    assert_eq!(
        (pairs(&issue_rows), pairs(&comment_rows)),
        (issues.clone(), comments.clone())
    );
    assert_eq!(
        written(&groups),
        [
            ("comments".to_owned(), comments.len() as u64),
            ("issues".to_owned(), issues.len() as u64)
        ]
    );
    println!(
        "first run: {} repos, {} issues, {} comments",
        summaries[0].progress.items_written,
        issues.len(),
        comments.len()
    );

    // The server updates one item at each level.
    let issue = tree_issue(3, 1)["id"].as_u64().unwrap_or_default() as usize;
    let comment = comments
        .iter()
        .next()
        .map_or(0, |(k, _)| k.parse().unwrap_or_default());
    server.touch_tree(&[
        TreeItem::Repo(2),
        TreeItem::Issue(issue),
        TreeItem::Comment(comment),
    ]);
    let before = server.requests().len();

    // Second run: every collection and child asks for what changed since
    // its own mark, and only the three updated items come back.
    let (summaries, groups) = crawl(&env, &server).await?;
    assert_eq!(summaries[0].progress.items_written, 1);
    assert_eq!(
        written(&groups),
        [("comments".to_owned(), 1), ("issues".to_owned(), 1)]
    );
    let asked = &server.requests()[before..];
    assert!(asked[0].starts_with("/tree/repos?since="), "{asked:?}");
    let issue_rows_after = rows(&url, "issues").await?;
    let comment_rows_after = rows(&url, "comments").await?;
    assert_eq!(
        (pairs(&issue_rows_after), pairs(&comment_rows_after)),
        (issues, comments)
    );
    let changed = |a: &BTreeSet<(String, String, String)>, b: &BTreeSet<(String, String, String)>| {
        b.difference(a).map(|(k, _, _)| k.clone()).collect::<Vec<_>>()
    };
    assert_eq!(changed(&issue_rows, &issue_rows_after), [issue.to_string()]);
    assert_eq!(changed(&comment_rows, &comment_rows_after), [comment.to_string()]);
    println!(
        "second run after 3 updates: {} requests, 1 repo, 1 issue and 1 comment fetched",
        asked.len()
    );
    env.db.close().await;
    server.shutdown().await;
    Ok(())
}
