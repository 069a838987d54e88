//! Which collections of a parent/child tree run, and how: the plan made
//! before the runner starts.
//!
//! A child collection's state (a row in the checkpoint store under its own
//! name, recorded by its feeder) says whether its last run finished. A run
//! is *new* for a child collection whose last run completed (its children
//! are listed again from the parent's table) and *resumed* otherwise
//! (children already done are skipped). A collection that completed while a
//! descendant did not is not crawled again: it counts as ended, so the
//! descendants finish the interrupted run first and fetch nothing twice.

use std::collections::HashMap;

use crate::{CheckpointError, CheckpointStore, State};

/// One collection of a tree: its name and, for a child collection, its
/// parent's name. A parent that is not in the tree counts as ended (its
/// stored rows are the parents).
pub type TreeNode<'a> = (&'a str, Option<&'a str>);

/// The plan of one crawl of a tree of collections; from [`TreePlan::read`].
///
/// # Examples
///
/// ```
/// use crawlpipe_core::runner::TreePlan;
/// use crawlpipe_core::{CheckpointStore, MemoryCheckpointStore, State};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = MemoryCheckpointStore::new();
/// let tree = [("repos", None), ("issues", Some("repos"))];
/// // Nothing stored: the child collection starts a new run.
/// let plan = TreePlan::read(&tree, &store, false).await?;
/// assert!(plan.is_new_run("issues") && !plan.is_skipped("repos"));
///
/// // `repos` completed, `issues` was interrupted: `repos` waits, `issues` resumes.
/// store.record("repos", State::Completed, None).await?;
/// store.record("issues", State::Cancelled, None).await?;
/// let plan = TreePlan::read(&tree, &store, false).await?;
/// assert!(plan.is_skipped("repos") && !plan.is_new_run("issues"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreePlan {
    /// Collections not crawled this time (completed; a descendant is unfinished).
    skipped: Vec<String>,
    /// Child collections whose children are listed again.
    new_runs: Vec<String>,
}

/// Whether `name` descends from `ancestor` in `nodes`.
fn descends(nodes: &[TreeNode<'_>], name: &str, ancestor: &str) -> bool {
    let parent_of = |n: &str| nodes.iter().find(|(x, _)| *x == n).and_then(|(_, p)| *p);
    let mut at = parent_of(name);
    while let Some(p) = at {
        if p == ancestor {
            return true;
        }
        at = parent_of(p);
    }
    false
}

impl TreePlan {
    /// Reads the stored states of `nodes` and decides what runs. With
    /// `fresh` every child collection starts a new run and nothing is skipped.
    ///
    /// # Errors
    ///
    /// The store could not be read.
    pub async fn read(
        nodes: &[TreeNode<'_>],
        store: &dyn CheckpointStore,
        fresh: bool,
    ) -> Result<Self, CheckpointError> {
        let mut plan = Self::default();
        if fresh {
            plan.new_runs = nodes
                .iter()
                .filter(|(_, parent)| parent.is_some())
                .map(|(name, _)| (*name).to_owned())
                .collect();
            return Ok(plan);
        }
        // Per collection: completed (with no cursor left), and stored at all.
        let mut stored = HashMap::new();
        for (name, _) in nodes {
            let checkpoint = store.load(name).await?;
            let done = checkpoint
                .as_ref()
                .is_some_and(|s| s.state == State::Completed && s.cursor.is_none());
            stored.insert(*name, (done, checkpoint.is_some()));
        }
        for (name, parent) in nodes {
            let unfinished_descendant = nodes
                .iter()
                .any(|(d, p)| p.is_some() && descends(nodes, d, name) && !stored[d].0);
            let (done, known) = stored[name];
            if done && unfinished_descendant {
                plan.skipped.push((*name).to_owned());
            } else if parent.is_some() && (done || !known) {
                plan.new_runs.push((*name).to_owned());
            }
        }
        Ok(plan)
    }

    /// Whether `name` is not crawled this time: it completed, and a
    /// descendant did not.
    pub fn is_skipped(&self, name: &str) -> bool {
        self.skipped.iter().any(|n| n == name)
    }

    /// Whether child collection `name` starts a new run (its children are
    /// listed again) instead of resuming the last one.
    pub fn is_new_run(&self, name: &str) -> bool {
        self.new_runs.iter().any(|n| n == name)
    }

    /// The collections not crawled this time.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// The child collections that start a new run.
    pub fn new_runs(&self) -> &[String] {
        &self.new_runs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryCheckpointStore;

    const TREE: [TreeNode<'static>; 3] = [
        ("repos", None),
        ("issues", Some("repos")),
        ("comments", Some("issues")),
    ];

    async fn store_with(states: &[(&str, State)]) -> MemoryCheckpointStore {
        let store = MemoryCheckpointStore::new();
        for (name, state) in states {
            store.record(name, *state, None).await.unwrap();
        }
        store
    }

    #[tokio::test]
    async fn a_completed_tree_runs_again_as_new_runs() {
        let store = store_with(&[
            ("repos", State::Completed),
            ("issues", State::Completed),
            ("comments", State::Completed),
        ])
        .await;
        let plan = TreePlan::read(&TREE, &store, false).await.unwrap();
        assert!(plan.skipped().is_empty());
        assert_eq!(plan.new_runs(), ["issues", "comments"]);
    }

    #[tokio::test]
    async fn an_interrupted_grandchild_resumes_and_its_completed_ancestors_wait() {
        let store = store_with(&[
            ("repos", State::Completed),
            ("issues", State::Completed),
            ("comments", State::Cancelled),
        ])
        .await;
        let plan = TreePlan::read(&TREE, &store, false).await.unwrap();
        assert_eq!(plan.skipped(), ["repos", "issues"]);
        assert!(plan.new_runs().is_empty(), "comments resumes: {plan:?}");
    }

    #[tokio::test]
    async fn fresh_lists_every_child_collection_again_and_skips_nothing() {
        let store = store_with(&[("repos", State::Completed), ("issues", State::Failed)]).await;
        let plan = TreePlan::read(&TREE, &store, true).await.unwrap();
        assert!(plan.skipped().is_empty());
        assert_eq!(plan.new_runs(), ["issues", "comments"]);
    }

    #[tokio::test]
    async fn a_child_whose_parent_is_left_out_is_planned_alone() {
        let store = store_with(&[("issues", State::Failed)]).await;
        let plan = TreePlan::read(&[("issues", Some("repos"))], &store, false)
            .await
            .unwrap();
        assert!(plan.skipped().is_empty() && !plan.is_new_run("issues"));
    }
}
