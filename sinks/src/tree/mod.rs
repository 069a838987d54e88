//! Trees of collections: parents whose committed rows list the children of
//! child collections, to any depth (repos → issues → comments).
//!
//! [`CollectionTree`] puts a tree on a [`Runner`]: the top-level collections
//! join it, and each child collection gets a [`ChildFeeder`] that adds its
//! children (one grouped collection per parent row, made by a factory) a
//! bounded window at a time. [`TreePlan`] (read from the checkpoint store
//! before the run) says which collections run and whether each child
//! collection starts a new run or resumes the last.

mod feeder;
mod scans;

use std::collections::HashMap;

use crawlpipe_core::CheckpointError;
use crawlpipe_core::runner::{Collection, Runner, RunnerError, TreeNode, TreePlan};
use tokio::sync::watch;

use self::feeder::watch_end;
pub use self::feeder::{ChildFactory, ChildFeeder, DEFAULT_WINDOW, Ended};
use crate::{Database, ParentColumns, QueuedChild};

/// Why a tree could not be put on a runner.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TreeError {
    /// The runner refused a top-level collection.
    #[error("{source}")]
    Runner {
        /// The collection.
        collection: String,
        /// Why.
        source: RunnerError,
    },
    /// The parents of these child collections form a loop (or name each other).
    #[error("the parents of the child collections loop")]
    ParentsLoop {
        /// The child collections left unplaced.
        collections: Vec<String>,
    },
}

/// A child collection of a tree, before it is wired.
struct ChildSpec {
    name: String,
    parent: String,
    columns: ParentColumns,
    factory: ChildFactory,
}

/// A parent/child tree of collections for one runner and database.
///
/// Top-level collections are [`Collection`]s as any; a child collection
/// is its name, its parent's name, how the parent's table keeps what the
/// child needs ([`ParentColumns`]) and a factory making one child's
/// collection from a parent row (see [`ChildFeeder`]). A parent left out of
/// the tree counts as ended: its stored rows are the parents.
///
/// # Examples
///
/// The example program `examples/examples/incremental_tree.rs` crawls
/// repos → issues → comments over HTTP with it; in short:
///
/// ```no_run
/// # async fn f(runner: crawlpipe_core::runner::Runner, db: crawlpipe_sinks::Database,
/// #     repos: crawlpipe_core::runner::Collection,
/// #     issue: impl Fn(&str, crawlpipe_sinks::QueuedChild) -> crawlpipe_core::runner::Collection + Send + Sync + 'static,
/// #     comment: impl Fn(&str, crawlpipe_sinks::QueuedChild) -> crawlpipe_core::runner::Collection + Send + Sync + 'static,
/// # ) -> Result<(), Box<dyn std::error::Error>> {
/// use crawlpipe_sinks::{CollectionTree, ParentColumns};
///
/// let tree = CollectionTree::new()
///     .collection(repos)
///     .child("issues", "repos", ParentColumns::Document, issue)
///     .child("comments", "issues", ParentColumns::Document, comment)
///     .window(8);
/// let plan = tree.plan(&db.checkpoint_store(), false).await?;
/// let ends = tree.wire(&runner, &db, &plan)?; // before the runner starts
/// runner.start()?;
/// runner.join().await;
/// assert!(ends.unfinished().is_empty());
/// # Ok(())
/// # }
/// ```
#[must_use = "a tree does nothing until wired to a runner"]
#[derive(Default)]
pub struct CollectionTree {
    top: Vec<Collection>,
    children: Vec<ChildSpec>,
    window: Option<usize>,
}

impl std::fmt::Debug for CollectionTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CollectionTree")
            .field("nodes", &self.nodes())
            .field("window", &self.window)
            .finish()
    }
}

/// How the child collections of a wired tree end, in wiring order.
#[derive(Debug, Clone)]
pub struct TreeEnds {
    children: Vec<(String, Ended)>,
}

impl TreeEnds {
    /// Each child collection and its end.
    pub fn children(&self) -> &[(String, Ended)] {
        &self.children
    }

    /// The child collections that did not complete (yet): a child or the
    /// parent failed, or the run was interrupted.
    pub fn unfinished(&self) -> Vec<String> {
        self.children
            .iter()
            .filter(|(_, end)| *end.borrow() != Some(true))
            .map(|(name, _)| name.clone())
            .collect()
    }
}

fn ended(completed: Option<bool>) -> Ended {
    watch::channel(completed).1
}

impl CollectionTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a top-level collection.
    pub fn collection(mut self, collection: Collection) -> Self {
        self.top.push(collection);
        self
    }

    /// Adds child collection `name` of collection `parent`; `factory` makes
    /// the collection of one child (see [`ChildFeeder::new`]).
    pub fn child(
        mut self,
        name: impl Into<String>,
        parent: impl Into<String>,
        columns: ParentColumns,
        factory: impl Fn(&str, QueuedChild) -> Collection + Send + Sync + 'static,
    ) -> Self {
        self.children.push(ChildSpec {
            name: name.into(),
            parent: parent.into(),
            columns,
            factory: std::sync::Arc::new(factory),
        });
        self
    }

    /// At most `window` children of each child collection in the runner at
    /// once (default [`DEFAULT_WINDOW`]); give the runner as many group
    /// slots ([`RunnerBuilder::group_concurrency`](crawlpipe_core::runner::RunnerBuilder::group_concurrency)).
    pub fn window(mut self, window: usize) -> Self {
        self.window = Some(window);
        self
    }

    /// The tree's collections and their parents.
    pub fn nodes(&self) -> Vec<TreeNode<'_>> {
        let top = self.top.iter().map(|c| (c.name(), None));
        let children = self
            .children
            .iter()
            .map(|c| (c.name.as_str(), Some(c.parent.as_str())));
        top.chain(children).collect()
    }

    /// Reads the stored states: which collections run and how (see
    /// [`TreePlan::read`]).
    ///
    /// # Errors
    ///
    /// The store could not be read.
    pub async fn plan(
        &self,
        store: &dyn crawlpipe_core::CheckpointStore,
        fresh: bool,
    ) -> Result<TreePlan, CheckpointError> {
        TreePlan::read(&self.nodes(), store, fresh).await
    }

    /// Adds the top-level collections to `runner` (built without them) and
    /// spawns a feeder per child collection, following `plan`; call before
    /// the runner starts, inside a Tokio runtime. A child collection whose
    /// feeder cannot be made (an invalid table name) is logged and ends
    /// failed.
    ///
    /// # Errors
    ///
    /// [`TreeError::Runner`] when the runner refuses a collection,
    /// [`TreeError::ParentsLoop`] when parents loop.
    pub fn wire(self, runner: &Runner, db: &Database, plan: &TreePlan) -> Result<TreeEnds, TreeError> {
        let window = self.window.unwrap_or(DEFAULT_WINDOW);
        let names: Vec<String> = self.nodes().iter().map(|(n, _)| (*n).to_owned()).collect();
        let mut ends: HashMap<String, Ended> = HashMap::new();
        // Top-level parents' items written: their commits wake their children's feeders.
        let mut written: HashMap<String, watch::Receiver<u64>> = HashMap::new();
        let children = self.children;
        let has_children = |name: &str| children.iter().any(|c| c.parent == name);
        for c in self.top {
            let name = c.name().to_owned();
            let refused = |source| TreeError::Runner {
                collection: name.clone(),
                source,
            };
            if plan.is_skipped(&name) {
                tracing::info!(collection = %name, "completed, with unfinished child collections: not crawled again yet");
                ends.insert(name, ended(Some(true)));
                continue;
            }
            if !has_children(&name) {
                runner.add(c).map_err(refused)?;
                continue;
            }
            let end = runner.add_watched(c).map_err(refused)?;
            let (end, parent_written) = watch_end(end);
            written.insert(name.clone(), parent_written);
            ends.insert(name, end);
        }
        // Parents before children: a child's feeder waits on its parent's end.
        let mut pending = children;
        let mut outcomes = Vec::new();
        while !pending.is_empty() {
            let before = pending.len();
            let mut rest = Vec::new();
            for c in pending {
                let parent_end = match ends.get(&c.parent) {
                    Some(end) => end.clone(),
                    // A parent not in the tree: its stored rows are the parents.
                    None if !names.contains(&c.parent) => ended(Some(true)),
                    None => {
                        rest.push(c);
                        continue;
                    }
                };
                let end = if plan.is_skipped(&c.name) {
                    ended(Some(true))
                } else {
                    let factory = c.factory;
                    match ChildFeeder::new(db, runner, &c.name, &c.parent, c.columns, move |n, q| {
                        factory(n, q)
                    }) {
                        Ok(feeder) => feeder
                            .window(window)
                            .new_run(plan.is_new_run(&c.name))
                            .parent_signals(parent_end, written.get(&c.parent).cloned())
                            .spawn(),
                        Err(e) => {
                            tracing::error!(collection = %c.name, error = %e, "child collection not started");
                            ended(Some(false))
                        }
                    }
                };
                outcomes.push((c.name.clone(), end.clone()));
                ends.insert(c.name, end);
            }
            if rest.len() == before {
                return Err(TreeError::ParentsLoop {
                    collections: rest.into_iter().map(|c| c.name).collect(),
                });
            }
            pending = rest;
        }
        Ok(TreeEnds { children: outcomes })
    }
}
