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
use super::doc_item::DocItem;
use super::encode::{Batch, ColumnType};
use super::pick::{Picked, Picks, top_level_name};
use super::typed::TypedDocuments;

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
    /// The types the table's other sinks of this process found.
    pub(crate) shared: Option<super::database::InferredTypes>,
}

impl Inference {
    /// The new columns `items` (each an item's top-level fields) show, in
    /// the order first seen; `known` are the table's columns already.
    pub(crate) fn scan<'v, F>(
        &mut self,
        items: impl Iterator<Item = F>,
        known: &[DocColumn],
    ) -> Vec<DocColumn>
    where
        F: Iterator<Item = (&'v str, &'v Value)>,
    {
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
                let kind = kind_of(value);
                match kinds.get_mut(name) {
                    Some(k) => *k = widen(*k, kind),
                    None => {
                        order.push(name.to_owned());
                        kinds.insert(name.to_owned(), kind);
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
        self.agree(&mut found);
        found
    }

    /// Gives each of `found` the type another sink of the table gave it
    /// first, and records the others' for the sinks after this one.
    fn agree(&self, found: &mut [DocColumn]) {
        let Some(shared) = &self.shared else { return };
        let mut types = shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for column in found {
            let first = *types
                .entry(column.name.as_str().to_ascii_lowercase())
                .or_insert(column.ty);
            if first != column.ty {
                tracing::debug!(column = %column.name, ours = %column.ty, first = %first,
                    "an inferred column takes the type another sink of its table gave it");
                column.ty = first;
            }
        }
    }
}

impl TypedDocuments {
    /// Inference over `items`: the new columns, added to the encoder's and
    /// to `out`'s. Raw items are read once for this and their values, which
    /// are returned (in the order of the plan with the new columns).
    pub(crate) fn infer<T: DocItem>(&mut self, items: &[T], out: &mut Batch) -> Option<Vec<Picks>> {
        self.infer.as_ref()?;
        let known: super::pick::Names = self
            .columns
            .iter()
            .filter_map(|c| top_level_name(&c.pointer))
            .collect();
        let plan = self.plan();
        let picked: Option<Vec<Picked<'_>>> = items.iter().map(|i| i.pick_and_scan(&plan, &known)).collect();
        let Some(picked) = picked else {
            let lists: Vec<Vec<(String, Value)>> =
                items.iter().filter_map(|i| i.new_fields(&known)).collect();
            let found = self.infer.as_mut()?.scan(
                lists.iter().map(|l| l.iter().map(|(k, v)| (k.as_str(), v))),
                &self.columns,
            );
            self.columns.extend(found.iter().cloned());
            out.new_columns = found;
            return None;
        };
        let found = self.infer.as_mut()?.scan(
            picked
                .iter()
                .map(|(_, new)| new.iter().filter_map(|(k, v)| Some((k.as_ref(), v.scalar()?)))),
            &self.columns,
        );
        // The new columns' values go after the known columns', before the arrays'.
        let at = self.key.pointers().len() + self.columns.len();
        let names: Vec<Option<String>> = found.iter().map(|c| top_level_name(&c.pointer)).collect();
        let values = picked
            .into_iter()
            .map(|(mut fields, new)| {
                // Positions after the new columns' move along.
                for (j, _) in &mut fields.unreadable {
                    if *j >= at {
                        *j += names.len();
                    }
                }
                let added: Vec<Option<Value>> = (names.iter().enumerate())
                    .map(|(n, name)| {
                        let name = name.as_deref()?;
                        let (_, field) = new.iter().rev().find(|(k, _)| k == name)?;
                        field
                            .to_value()
                            .map_err(|why| fields.unreadable.push((at + n, why)))
                            .ok()
                    })
                    .collect();
                fields.values.splice(at..at, added);
                fields
            })
            .collect();
        self.columns.extend(found.iter().cloned());
        out.new_columns = found;
        Some(values)
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

    use super::super::encode::SqlValue;
    use super::*;

    fn fields(v: Value) -> Vec<(String, Value)> {
        v.as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    fn refs(fields: &[(String, Value)]) -> impl Iterator<Item = (&str, &Value)> {
        fields.iter().map(|(k, v)| (k.as_str(), v))
    }

    #[test]
    fn types_widen_over_the_batch() {
        let items = [
            fields(json!({"n": 1, "x": 1, "t": "2024-01-01T00:00:00Z", "b": true, "z": null, "bad name": 1})),
            fields(json!({"n": 2, "x": 1.5, "t": "2024-01-02T00:00:00Z", "b": false, "m": "s", "key": 3})),
            fields(json!({"x": "s"})),
        ];
        let found = Inference::default().scan(items.iter().map(|f| refs(f)), &[]);
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

    /// Raw items are read once for inference and values; parsed items
    /// twice: both must give the same rows, rejections and columns.
    #[test]
    fn raw_items_infer_as_parsed_ones_do() {
        use crawlpipe_core::RawItem;

        use super::super::columns::OnMismatch;
        use super::super::encode::EncodeBatch;
        use super::super::key::{KeySpec, KeyTexts};

        let encoder = |mode| TypedDocuments {
            key: KeySpec::Pointer("/id".into()),
            texts: KeyTexts::default(),
            columns: vec![DocColumn::new("n", "/n", ColumnType::Integer, DOC_OWN).unwrap()],
            on_mismatch: mode,
            unnest: Vec::new(),
            infer: Some(Inference::default()),
            parent: None,
        };
        // Keys in order: a parsed item's fields are sorted, a raw one's as written.
        let batches = [
            vec![
                r#"{"id": 1, "n": 1, "o": {"a": 1}, "t": "2024-01-01T00:00:00Z", "x": 1}"#,
                r#"{"id": 2, "n": 2, "t": "2024-01-02T00:00:00+01:00", "x": {"nested": true}, "y": null}"#,
                r#"{"data": 1, "id": 3, "x": 3, "x": 4, "z": "s"}"#,
                r#"[1, 2]"#,
            ],
            vec![
                r#"{"id": 4, "w": true, "x": "text", "y": 2.5}"#,
                r#"{"id": 5, "n": "7", "w": false, "y": 1}"#,
            ],
        ];
        for mode in [OnMismatch::Reject, OnMismatch::Null] {
            let (mut raw, mut parsed) = (encoder(mode), encoder(mode));
            for batch in &batches {
                let raws: Vec<RawItem> = batch.iter().map(|t| RawItem::new(*t).unwrap()).collect();
                let values: Vec<Value> = raws.iter().map(|r| r.to_value().unwrap()).collect();
                let (mut a, mut b) = (Batch::default(), Batch::default());
                let ra = EncodeBatch::<RawItem>::encode(&mut raw, raws, &mut a).map_err(|r| r.reason);
                let rb = EncodeBatch::<Value>::encode(&mut parsed, values, &mut b).map_err(|r| r.reason);
                assert_eq!(ra, rb, "{mode:?}");
                assert_eq!(a.keys, b.keys, "{mode:?}");
                assert_eq!(a.new_columns, b.new_columns, "{mode:?}");
                let rejected = |batch: &Batch| -> Vec<(String, String, String, Value)> {
                    let data = |t: &str| serde_json::from_str(t).unwrap();
                    batch
                        .rejected
                        .iter()
                        .map(|r| (r.key.clone(), r.column.clone(), r.error.clone(), data(&r.data)))
                        .collect()
                };
                assert_eq!(rejected(&a), rejected(&b), "{mode:?}");
                let columns = |batch: &Batch| -> Vec<SqlValue> {
                    // `data` differs in kind (raw text, parsed value): compare the columns.
                    (0..batch.keys.len())
                        .flat_map(|i| batch.row(i).1[1..].to_vec())
                        .collect()
                };
                assert_eq!(columns(&a), columns(&b), "{mode:?}");
            }
            let names: Vec<&str> = raw.columns.iter().map(|c| c.name.as_str()).collect();
            assert_eq!(names, ["n", "id", "t", "x", "z", "w", "y"], "{mode:?}");
        }
    }

    #[test]
    fn known_columns_are_not_found_again() {
        let known = [DocColumn::new("n", "/n", ColumnType::Integer, &[]).unwrap()];
        let items = [fields(json!({"N": 1.5, "o": 2}))];
        let found = Inference::default().scan(items.iter().map(|f| refs(f)), &known);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].name.as_str(), "o");
    }
}
