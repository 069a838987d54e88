//! Which collections of a parent/child tree run, and how: the plan made
//! before the runner starts, and the feeders it spawns.
//!
//! A child collection's state (a row in the checkpoint table under its own
//! name, written by its feeder) says whether its last run finished. A run is
//! *new* for a child collection whose last run completed (its children are
//! listed again from the parent's table) and *resumed* otherwise (`done`
//! children are skipped). A collection that completed while a descendant
//! did not is not crawled again: it counts as ended, so the descendants
//! finish the interrupted run first and fetch nothing twice.

use std::collections::HashMap;
use std::sync::Arc;

use pipeline_core::runner::{Collection, Runner};
use pipeline_core::{CheckpointStore, State};
use sinks::{Database, ParentColumns, SqlCheckpointStore};
use sources::HttpContext;
use tokio::sync::watch;

use super::config::{CollectionConfig, Mode};
use super::fanout::{Ended, Feeder};

/// The plan of one crawl's tree.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// Collections not crawled this time (completed; a descendant is unfinished).
    pub(crate) skipped: Vec<String>,
    /// Child collections whose children are listed again.
    pub(crate) new_runs: Vec<String>,
}

fn is_child(c: &CollectionConfig) -> bool {
    c.parent.is_some()
}

/// Whether `c` descends from `ancestor`.
fn descends(all: &[CollectionConfig], c: &CollectionConfig, ancestor: &str) -> bool {
    let mut at = c.parent.as_deref();
    while let Some(p) = at {
        if p == ancestor {
            return true;
        }
        at = all.iter().find(|x| x.name == p).and_then(|x| x.parent.as_deref());
    }
    false
}

/// Reads the stored states and decides what runs.
pub(crate) async fn plan(
    selected: &[CollectionConfig],
    store: &SqlCheckpointStore,
    fresh: bool,
) -> Result<Plan, String> {
    let mut completed = HashMap::new();
    for c in selected {
        let stored = store.load(&c.name).await.map_err(|e| e.to_string())?;
        let done = stored.is_some_and(|s| s.state == State::Completed && s.cursor.is_none());
        completed.insert(c.name.clone(), (done, is_child(c)));
    }
    let mut plan = Plan::default();
    if fresh {
        plan.new_runs = selected
            .iter()
            .filter(|c| is_child(c))
            .map(|c| c.name.clone())
            .collect();
        return Ok(plan);
    }
    for c in selected {
        let unfinished_descendant = selected
            .iter()
            .any(|d| is_child(d) && descends(selected, d, &c.name) && !completed[&d.name].0);
        if completed[&c.name].0 && unfinished_descendant {
            plan.skipped.push(c.name.clone());
        } else if is_child(c) && (completed[&c.name].0 || !store_has(store, &c.name).await) {
            plan.new_runs.push(c.name.clone());
        }
    }
    Ok(plan)
}

async fn store_has(store: &SqlCheckpointStore, name: &str) -> bool {
    matches!(store.load(name).await, Ok(Some(_)))
}

/// What [`wire`] needs.
pub(crate) struct Wiring<'a> {
    /// Every configured collection (a parent may be left out by `--only`).
    pub(crate) all: &'a [CollectionConfig],
    pub(crate) selected: &'a [CollectionConfig],
    pub(crate) runner: &'a Runner,
    pub(crate) db: &'a Database,
    pub(crate) ctx: &'a HttpContext,
    pub(crate) mode: Mode,
    pub(crate) window: usize,
    pub(crate) fresh: bool,
}

/// How the child collections ended: one receiver per child collection.
pub(crate) type Outcomes = Vec<(String, Ended)>;

/// Adds the top-level collections to `runner` (built without them) and
/// spawns a feeder per child collection; call before the runner starts.
pub(crate) fn wire(
    w: &Wiring<'_>,
    plan: &Plan,
    top: impl Fn(&CollectionConfig) -> Collection,
) -> Result<Outcomes, String> {
    let mut ends: HashMap<String, Ended> = HashMap::new();
    // Top-level parents' items written: their commits wake their children's feeders.
    let mut written: HashMap<String, watch::Receiver<u64>> = HashMap::new();
    let has_children = |name: &str| w.selected.iter().any(|c| c.parent.as_deref() == Some(name));
    for c in w.selected.iter().filter(|c| !is_child(c)) {
        if plan.skipped.contains(&c.name) {
            tracing::info!(collection = %c.name, "completed, with unfinished child collections: not crawled again yet");
            ends.insert(c.name.clone(), watch::channel(Some(true)).1);
            continue;
        }
        if !has_children(&c.name) {
            w.runner.add(top(c)).map_err(|e| e.to_string())?;
            continue;
        }
        let end = w.runner.add_watched(top(c)).map_err(|e| e.to_string())?;
        written.insert(c.name.clone(), end.written());
        let (tx, rx) = watch::channel(None);
        tokio::spawn(async move {
            let ok = end.ended().await.is_some_and(|s| s.state == State::Completed);
            tx.send_replace(Some(ok));
        });
        ends.insert(c.name.clone(), rx);
    }
    // Parents before children: a child's feeder waits on its parent's end.
    let mut pending: Vec<&CollectionConfig> = w.selected.iter().filter(|c| is_child(c)).collect();
    let mut outcomes = Vec::new();
    while !pending.is_empty() {
        let before = pending.len();
        pending.retain(|c| {
            let parent = c.parent.as_deref().unwrap_or_default();
            let parent_end = match ends.get(parent) {
                Some(end) => end.clone(),
                // A parent not selected (`--only`): its stored rows are the parents.
                None if !w.selected.iter().any(|p| p.name == parent) => watch::channel(Some(true)).1,
                None => return true,
            };
            let end = if plan.skipped.contains(&c.name) {
                watch::channel(Some(true)).1
            } else {
                match spawn_feeder(w, plan, c, parent, parent_end, written.get(parent).cloned()) {
                    Ok(end) => end,
                    Err(e) => {
                        tracing::error!(collection = %c.name, error = %e, "child collection not started");
                        watch::channel(Some(false)).1
                    }
                }
            };
            outcomes.push((c.name.clone(), end.clone()));
            ends.insert(c.name.clone(), end);
            false
        });
        if pending.len() == before {
            return Err("the parents of the child collections loop".to_owned());
        }
    }
    Ok(outcomes)
}

fn spawn_feeder(
    w: &Wiring<'_>,
    plan: &Plan,
    c: &CollectionConfig,
    parent: &str,
    parent_end: Ended,
    parent_written: Option<watch::Receiver<u64>>,
) -> Result<Ended, String> {
    let parent_config = w.all.iter().find(|p| p.name == parent);
    let columns = match parent_config.and_then(|p| p.http.scrape.as_ref()) {
        Some(scrape) => {
            let mut names = vec!["url".to_owned()];
            names.extend(scrape.fields.keys().cloned());
            ParentColumns::Text(names)
        }
        None => ParentColumns::Document,
    };
    let queue =
        w.db.child_queue(&c.name, parent, columns)
            .map_err(|e| e.to_string())?;
    let (done, end) = watch::channel(None);
    let feeder = Feeder {
        child: Arc::new(c.clone()),
        queue,
        runner: w.runner.clone(),
        db: w.db.clone(),
        ctx: w.ctx.clone(),
        mode: w.mode,
        store: w.db.checkpoint_store(),
        window: w.window,
        new_run: plan.new_runs.contains(&c.name),
        fresh: w.fresh,
        parent: parent_end,
        parent_written,
        done,
    };
    let hold = w.runner.hold();
    tokio::spawn(feeder.run(hold));
    Ok(end)
}
