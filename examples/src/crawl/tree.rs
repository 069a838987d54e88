//! The configured parent/child tree as a library [`CollectionTree`]: the
//! selected top-level collections, and per child collection its parent,
//! the parent table's columns and the [`child_factory`]. Which collections
//! run and how is the library's [`TreePlan`].

use std::sync::Arc;

use crawlpipe_core::runner::{Collection, TreePlan};
use crawlpipe_sinks::{CollectionTree, Database, ParentColumns, SqlCheckpointStore};
use crawlpipe_sources::HttpContext;

use super::config::{CollectionConfig, Mode};
use super::fanout::child_factory;

/// Reads the stored states and decides what runs.
pub(crate) async fn plan(
    selected: &[CollectionConfig],
    store: &SqlCheckpointStore,
    fresh: bool,
) -> Result<TreePlan, String> {
    let nodes: Vec<_> = selected
        .iter()
        .map(|c| (c.name.as_str(), c.parent.as_deref()))
        .collect();
    TreePlan::read(&nodes, store, fresh)
        .await
        .map_err(|e| e.to_string())
}

/// What [`tree`] needs.
pub(crate) struct Wiring<'a> {
    /// Every configured collection (a parent may be left out by `--only`).
    pub(crate) all: &'a [CollectionConfig],
    pub(crate) selected: &'a [CollectionConfig],
    pub(crate) db: &'a Database,
    pub(crate) ctx: &'a HttpContext,
    pub(crate) mode: Mode,
    pub(crate) window: usize,
    pub(crate) fresh: bool,
}

/// The selected collections as a tree: `top` makes a top-level collection.
pub(crate) fn tree(w: &Wiring<'_>, top: impl Fn(&CollectionConfig) -> Collection) -> CollectionTree {
    let mut tree = CollectionTree::new().window(w.window);
    for c in w.selected {
        let Some(parent) = &c.parent else {
            tree = tree.collection(top(c));
            continue;
        };
        let columns = match w
            .all
            .iter()
            .find(|p| &p.name == parent)
            .and_then(|p| p.http.scrape.as_ref())
        {
            Some(scrape) => {
                let mut names = vec!["url".to_owned()];
                names.extend(scrape.fields.keys().cloned());
                ParentColumns::Text(names)
            }
            None => ParentColumns::Document,
        };
        let factory = child_factory(Arc::new(c.clone()), w.db.clone(), w.ctx.clone(), w.mode, w.fresh);
        tree = tree.child(&c.name, parent, columns, factory);
    }
    tree
}
