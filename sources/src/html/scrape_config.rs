//! What to scrape from HTML pages, as data.

use std::collections::BTreeMap;

use serde::Deserialize;

/// What to scrape from HTML pages:
/// `{ item = "section", next = "link[rel=next] @href", fields = { title = "h1, h2", anchor = "@id" } }`.
///
/// A field is a CSS selector (text of its first match inside the item), a
/// selector and an attribute (`"a.title @href"`), or `"@attr"` for an
/// attribute of the item itself. Attribute values are returned as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeConfig {
    /// Selector of one item.
    pub item: String,
    /// Selector of the next-page link, with an attribute (default `@href`).
    #[serde(default)]
    pub next: Option<String>,
    /// Field name → selector spec.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// Start the next page (download, parse) while this page's items are
    /// extracted (default true).
    #[serde(default = "yes")]
    pub overlap: bool,
    /// Pages worked on ahead with `overlap`: at most 4 × `workers` + 1 hold
    /// their body in memory, parsed at most one per core at once (default:
    /// the number of cores).
    #[serde(default)]
    pub workers: Option<usize>,
    /// Deepest element nesting accepted (default 512).
    #[serde(default = "default_depth")]
    pub max_depth: usize,
}

fn yes() -> bool {
    true
}
fn default_depth() -> usize {
    512
}

impl ScrapeConfig {
    /// Items matching `item`, with no fields and no next link yet.
    pub fn new(item: impl Into<String>) -> Self {
        Self {
            item: item.into(),
            next: None,
            fields: BTreeMap::new(),
            overlap: true,
            workers: None,
            max_depth: default_depth(),
        }
    }

    /// Sets the next-link selector.
    #[must_use]
    pub fn next(mut self, spec: impl Into<String>) -> Self {
        self.next = Some(spec.into());
        self
    }

    /// Adds a field.
    #[must_use]
    pub fn field(mut self, name: impl Into<String>, spec: impl Into<String>) -> Self {
        self.fields.insert(name.into(), spec.into());
        self
    }

    /// Sets how many pages are worked on ahead at once (see [`workers`](Self::workers)).
    #[must_use]
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = Some(n);
        self
    }

    /// Turns the fetch/extract overlap on or off.
    #[must_use]
    pub fn overlap(mut self, on: bool) -> Self {
        self.overlap = on;
        self
    }
}
