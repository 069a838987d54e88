//! `columns = "infer"`: top-level scalar fields become columns, typed from
//! the values of the batch that first shows them.
//!
//! A field's type is the widest of its non-null values in that batch:
//! integers widen to real, anything mixed to text; booleans stay boolean and
//! strings that are all RFC 3339 instants become timestamp. A field that is
//! null in every item of the batch waits for a batch with a value. Nested
//! objects and arrays stay in `data`. Fields whose names are not valid
//! column names (or are `key`, `data`, `fetched_at`, `pipeline_…`) stay in
//! `data` only. Once a column exists its type is fixed: a later value that
//! does not fit follows `on_mismatch`, like a declared column's.

use std::collections::HashMap;

use serde_json::Value;

use super::coerce::coerce;
use super::columns::DocColumn;
use super::encode::ColumnType;

/// The columns an inferred table may grow to: a guard against items whose
/// field names are data (one column per user id).
pub(crate) const MAX_INFERRED: usize = 500;

/// The names a document table has of its own.
pub(crate) const DOC_OWN: &[&str] = &["key", "data", "fetched_at"];

/// The names a keyless document table has of its own (see `append.rs`).
pub(crate) const DOC_OWN_KEYLESS: &[&str] = &["key", "data", "fetched_at", "position"];

/// The names a child collection's document table has of its own (`parent`:
/// the parent's key; see docs/configuration.md, "Child collections").
const DOC_OWN_CHILD: &[&str] = &["key", "data", "fetched_at", "parent"];

/// The names a keyless child collection's document table has of its own.
const DOC_OWN_KEYLESS_CHILD: &[&str] = &["key", "data", "fetched_at", "position", "parent"];

/// The names a document table has of its own, keyless or not, a child
/// collection's or not.
pub(crate) fn doc_own(keyless: bool, child: bool) -> &'static [&'static str] {
    match (keyless, child) {
        (false, false) => DOC_OWN,
        (true, false) => DOC_OWN_KEYLESS,
        (false, true) => DOC_OWN_CHILD,
        (true, true) => DOC_OWN_KEYLESS_CHILD,
    }
}

/// Inference state: the limit and the table's own names (the columns live
/// in the encoder).
#[derive(Debug, Default)]
pub(crate) struct Inference {
    /// Fields skipped because the table has [`MAX_INFERRED`] columns.
    pub(crate) skipped: u64,
    /// The table is keyless: `position` is its own, never a field's column.
    pub(crate) keyless: bool,
    /// The table is a child collection's: `parent` is its own.
    pub(crate) child: bool,
}

impl Inference {
    /// The new columns `items` (each an item's top-level fields) show, in
    /// the order first seen; `known` are the table's columns already.
    pub(crate) fn scan(
        &mut self,
        items: impl Iterator<Item = Vec<(String, Value)>>,
        known: &[DocColumn],
    ) -> Vec<DocColumn> {
        let taken: std::collections::HashSet<String> = known
            .iter()
            .map(|c| c.name.as_str().to_ascii_lowercase())
            .collect();
        let mut order: Vec<String> = Vec::new();
        let mut kinds: HashMap<String, Option<ColumnType>> = HashMap::new();
        for fields in items {
            for (name, value) in fields {
                let lower = name.to_ascii_lowercase();
                if taken.contains(&lower) {
                    continue;
                }
                let kind = kind_of(&value);
                match kinds.get_mut(&name) {
                    Some(k) => *k = widen(*k, kind),
                    None => {
                        order.push(name.clone());
                        kinds.insert(name, kind);
                    }
                }
            }
        }
        let mut found = Vec::new();
        let mut lowered = std::collections::HashSet::new();
        for name in order {
            let Some(ty) = kinds[&name] else { continue };
            if known.len() + found.len() >= MAX_INFERRED {
                self.skipped += 1;
                continue;
            }
            let pointer = format!("/{}", name.replace('~', "~0").replace('/', "~1"));
            // A name that cannot be a column stays in `data`.
            let Ok(column) = DocColumn::new(&name, &pointer, ty, doc_own(self.keyless, self.child)) else {
                continue;
            };
            if lowered.insert(name.to_ascii_lowercase()) {
                found.push(column);
            }
        }
        found
    }
}

/// A value's column type; `None` for null (no evidence yet).
fn kind_of(value: &Value) -> Option<ColumnType> {
    Some(match value {
        Value::Null => return None,
        Value::Bool(_) => ColumnType::Boolean,
        Value::Number(n) if n.is_i64() => ColumnType::Integer,
        Value::Number(_) => ColumnType::Real,
        Value::String(_) if coerce(Some(value), ColumnType::Timestamp).is_ok() => ColumnType::Timestamp,
        _ => ColumnType::Text,
    })
}

/// The narrowest type holding both.
fn widen(a: Option<ColumnType>, b: Option<ColumnType>) -> Option<ColumnType> {
    use ColumnType::{Integer, Real, Text};
    match (a, b) {
        (None, x) | (x, None) => x,
        (Some(a), Some(b)) if a == b => Some(a),
        (Some(Integer | Real), Some(Integer | Real)) => Some(Real),
        _ => Some(Text),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields(v: Value) -> Vec<(String, Value)> {
        v.as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    #[test]
    fn types_widen_over_the_batch() {
        let items = vec![
            fields(json!({"n": 1, "x": 1, "t": "2024-01-01T00:00:00Z", "b": true, "z": null, "bad name": 1})),
            fields(json!({"n": 2, "x": 1.5, "t": "2024-01-02T00:00:00Z", "b": false, "m": "s", "key": 3})),
            fields(json!({"x": "s"})),
        ];
        let found = Inference::default().scan(items.into_iter(), &[]);
        let got: Vec<(&str, ColumnType)> = found.iter().map(|c| (c.name.as_str(), c.ty)).collect();
        assert!(got.contains(&("n", ColumnType::Integer)), "{got:?}");
        assert!(got.contains(&("x", ColumnType::Text)), "{got:?}");
        assert!(got.contains(&("t", ColumnType::Timestamp)), "{got:?}");
        assert!(got.contains(&("b", ColumnType::Boolean)), "{got:?}");
        assert!(got.contains(&("m", ColumnType::Text)), "{got:?}");
        assert!(
            !got.iter().any(|(n, _)| ["z", "bad name", "key"].contains(n)),
            "{got:?}"
        );
    }

    #[test]
    fn known_columns_are_not_found_again() {
        let known = [DocColumn::new("n", "/n", ColumnType::Integer, &[]).unwrap()];
        let found = Inference::default().scan(vec![fields(json!({"N": 1.5, "o": 2}))].into_iter(), &known);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].name.as_str(), "o");
    }
}
