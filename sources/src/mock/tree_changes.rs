//! Changes to the mock tree's items: each item's `updated_at`, which
//! [`MockServer::touch_tree`](super::MockServer::touch_tree) moves on, and
//! the `since` filter of the tree's routes.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;

use super::tree::feed_time;

/// An item of the mock tree, by its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TreeItem {
    /// Repository `r` (its id).
    Repo(usize),
    /// The issue of this id (see [`tree_issue`](super::tree_issue)).
    Issue(usize),
    /// The comment of this id (see [`tree_comment`](super::tree_comment)).
    Comment(usize),
}

/// The clock tick of each touched item's last update; the others were
/// updated at tick 0.
#[derive(Debug, Default)]
pub(super) struct TreeChanges {
    touched: Mutex<(HashMap<TreeItem, u64>, u64)>,
}

impl TreeChanges {
    /// Updates `items`: each gets a later `updated_at`, in the order given.
    pub(super) fn touch(&self, items: &[TreeItem]) {
        let mut guard = self.touched.lock().unwrap_or_else(|e| e.into_inner());
        let (touched, clock) = &mut *guard;
        for item in items {
            *clock += 1;
            touched.insert(*item, *clock);
        }
    }

    /// `items` (all of one kind: `kind` makes each one's [`TreeItem`] from
    /// its id) with their `updated_at`, and only those updated after
    /// `since` when it is given.
    pub(super) fn stamp(
        &self,
        items: Vec<Value>,
        kind: fn(usize) -> TreeItem,
        since: Option<&str>,
    ) -> Vec<Value> {
        let guard = self.touched.lock().unwrap_or_else(|e| e.into_inner());
        items
            .into_iter()
            .filter_map(|mut item| {
                let id = item["id"].as_u64().map_or(0, |id| id as usize);
                let at = feed_time(guard.0.get(&kind(id)).copied().unwrap_or(0));
                if since.is_some_and(|since| at.as_str() <= since) {
                    return None;
                }
                if let Value::Object(fields) = &mut item {
                    fields.insert("updated_at".to_owned(), Value::String(at));
                }
                Some(item)
            })
            .collect()
    }
}
