//! What a typed document table declares: its columns (name, JSON pointer,
//! type), what happens to an item that does not fit them, and the arrays
//! unnested into child tables.

use super::encode::ColumnType;
use super::ident::Ident;
use crate::Error;

/// What happens to an item whose value does not fit its column's type
/// (see [`ColumnType`] for what fits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum OnMismatch {
    /// The items before it are written, then the pipeline fails naming the
    /// cursor, the item's key, the column and the value's type.
    Fail,
    /// The column is NULL for this item; the item is written.
    Null,
    /// The item goes to `pipeline_rejected` (collection, key, cursor,
    /// column, error, data) instead of the table, in the batch's transaction.
    #[default]
    Reject,
}

impl OnMismatch {
    /// The mode named `fail`, `null` or `reject`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "fail" => Some(Self::Fail),
            "null" => Some(Self::Null),
            "reject" => Some(Self::Reject),
            _ => None,
        }
    }
}

/// One declared column: filled from the value at `pointer` in each item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DocColumn {
    pub(crate) name: Ident,
    pub(crate) pointer: String,
    pub(crate) ty: ColumnType,
}

impl DocColumn {
    /// Checks the name (a valid identifier, not one the table has already)
    /// and the pointer.
    pub(crate) fn new(name: &str, pointer: &str, ty: ColumnType, taken: &[&str]) -> Result<Self, Error> {
        let ident = Ident::new("column", name)?;
        let lower = name.to_ascii_lowercase();
        let problem = if taken.contains(&lower.as_str()) {
            Some(format!(
                "it is reserved ({} are the table's own)",
                taken.join(", ")
            ))
        } else if lower.starts_with("pipeline_") {
            Some("names starting with pipeline_ are reserved".to_owned())
        } else {
            None
        };
        if let Some(reason) = problem {
            return Err(Error::Identifier {
                kind: "column",
                name: name.to_owned(),
                reason,
            });
        }
        if !pointer.is_empty() && !pointer.starts_with('/') {
            return Err(Error::Setting {
                setting: "column pointer",
                reason: format!("column {name}: {pointer:?} must start with '/' (e.g. \"/title\")"),
            });
        }
        Ok(Self {
            name: ident,
            pointer: pointer.to_owned(),
            ty,
        })
    }
}

/// Checks that no two columns share a name (case-insensitively).
pub(crate) fn check_unique(columns: &[DocColumn]) -> Result<(), Error> {
    let mut seen = std::collections::HashSet::new();
    for c in columns {
        if !seen.insert(c.name.as_str().to_ascii_lowercase()) {
            return Err(Error::Identifier {
                kind: "column",
                name: c.name.as_str().to_owned(),
                reason: "it is given twice".to_owned(),
            });
        }
    }
    Ok(())
}

/// An array unnested into a child table `<table>__<name>`: one row per
/// element with `parent_key`, `idx` (from 0), `data` (the element) and the
/// columns declared for it, read from the element.
///
/// The rows are written in the parent row's transaction and replace the
/// parent's previous elements, so a repeated or resumed crawl never
/// duplicates them. A missing or null array leaves the parent without
/// children; anything else that is not an array is a mismatch of the
/// column `<name>` and follows [`OnMismatch`].
///
/// # Examples
///
/// ```
/// use crawlpipe_sinks::{ColumnType, Unnest};
/// let labels = Unnest::new("labels", "/labels").column("name", "/name", ColumnType::Text);
/// # let _ = labels;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "an Unnest does nothing until given to DocumentSinkBuilder::unnest"]
pub struct Unnest {
    pub(crate) name: String,
    pub(crate) pointer: String,
    pub(crate) columns: Vec<(String, String, ColumnType)>,
}

impl Unnest {
    /// The array at `pointer` becomes the child table `<table>__<name>`.
    pub fn new(name: impl Into<String>, pointer: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            pointer: pointer.into(),
            columns: Vec::new(),
        }
    }

    /// Adds a column filled from the value at `pointer` in each element
    /// (an element that is not an object has only `data`).
    pub fn column(mut self, name: impl Into<String>, pointer: impl Into<String>, ty: ColumnType) -> Self {
        self.columns.push((name.into(), pointer.into(), ty));
        self
    }
}

/// A checked [`Unnest`].
#[derive(Debug, Clone)]
pub(crate) struct UnnestSpec {
    pub(crate) name: String,
    pub(crate) pointer: String,
    pub(crate) columns: Vec<DocColumn>,
}

/// The column names a child table has of its own.
pub(crate) const CHILD_OWN: &[&str] = &["parent_key", "idx", "data"];

impl UnnestSpec {
    pub(crate) fn new(u: Unnest) -> Result<Self, Error> {
        Ident::new("unnest", &u.name)?;
        if !u.pointer.starts_with('/') {
            return Err(Error::Setting {
                setting: "unnest pointer",
                reason: format!(
                    "unnest {}: {:?} must start with '/' (e.g. \"/labels\")",
                    u.name, u.pointer
                ),
            });
        }
        let columns = u
            .columns
            .iter()
            .map(|(n, p, t)| DocColumn::new(n, p, *t, CHILD_OWN))
            .collect::<Result<Vec<_>, _>>()?;
        check_unique(&columns)?;
        Ok(Self {
            name: u.name,
            pointer: u.pointer,
            columns,
        })
    }
}
