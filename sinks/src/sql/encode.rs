//! Turning items into rows: a key and one bound value per column.

use std::collections::HashSet;

use crawlpipe_core::RawItem;
use serde_json::Value;

pub use super::column_type::ColumnType;
use super::columns::DocColumn;
use super::key::{KeySpec, KeyTexts, position_key};

mod rows;

pub(crate) use self::rows::Rows;

/// One bound value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SqlValue {
    Null(ColumnType),
    Text(String),
    Int(i64),
    Real(f64),
    Bool(bool),
    /// Normalised RFC 3339 text (SQLite) and microseconds since 2000-01-01 (PostgreSQL).
    Timestamp {
        text: String,
        pg_micros: i64,
    },
    /// `YYYY-MM-DD` (SQLite) and days since 2000-01-01 (PostgreSQL).
    Date {
        text: String,
        pg_days: i32,
    },
    Json(Value),
    /// JSON text kept as received (the raw-JSON path), for a `Json` column.
    RawJson(RawItem),
}

/// Encoded rows: `keys[i]` with `values[i * width .. (i + 1) * width]`.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub(crate) keys: Vec<String>,
    pub(crate) values: Vec<SqlValue>,
    pub(crate) width: usize,
    /// A keyless collection's position of the batch's first item in the run.
    pub(crate) first_position: u64,
    /// Items that go to `pipeline_rejected` instead (`on_mismatch = reject`).
    pub(crate) rejected: Vec<RejectedItem>,
    /// Rows of unnested arrays, one batch per child table.
    pub(crate) children: Vec<ChildRows>,
    /// Columns inferred from this batch, added to the table in its transaction.
    pub(crate) new_columns: Vec<DocColumn>,
}

/// An item whose value did not fit its column, kept whole.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RejectedItem {
    pub(crate) key: String,
    pub(crate) column: String,
    pub(crate) error: String,
    /// The item's JSON text.
    pub(crate) data: String,
}

/// The rows of one child table of a batch: `keys` are the parents' keys,
/// each row's values `idx`, `data`, then the child's columns; `parents[i]`
/// is the parent's row index in the batch.
#[derive(Debug, Default)]
pub(crate) struct ChildRows {
    pub(crate) rows: Batch,
    pub(crate) parents: Vec<usize>,
}

/// The key of item `i` of a batch under `spec` (not for closures, which
/// each encoder calls on its own item type), or why it is rejected;
/// `lookup` reads a field of the item.
pub(crate) fn key_of<T>(
    spec: &mut KeySpec<T>,
    texts: &mut KeyTexts,
    position: u64,
    lookup: impl Fn(&str) -> Option<Value>,
) -> Result<String, String> {
    match spec {
        KeySpec::Pointer(p) => texts.text(p, lookup(p).as_ref()),
        KeySpec::Composite(c) => c.key(lookup),
        KeySpec::Position(parent) => Ok(position_key(parent.as_deref(), position)),
        KeySpec::Fn(_) | KeySpec::Parts(_) => Err("the sink's key was not set up".to_owned()),
    }
}

/// The position column's value, for a keyless collection.
pub(crate) fn push_position<T>(spec: &KeySpec<T>, position: u64, values: &mut Vec<SqlValue>) {
    if spec.is_position() {
        values.push(SqlValue::Int(i64::try_from(position).unwrap_or(i64::MAX)));
    }
}

impl Batch {
    pub(crate) fn row(&self, i: usize) -> (&str, &[SqlValue]) {
        (&self.keys[i], &self.values[i * self.width..(i + 1) * self.width])
    }

    /// The rows to write of the items before `end`: the last occurrence of
    /// each key, in batch order. PostgreSQL rejects an `ON CONFLICT`
    /// statement touching a key twice, and "last one wins" is what
    /// sequential upserts would have done.
    pub(crate) fn dedup_before(&self, end: usize) -> Vec<usize> {
        let end = end.min(self.keys.len());
        // The batch's keys are bounded in number: a fast hash, not SipHash.
        let mut seen = HashSet::with_capacity_and_hasher(end, foldhash::fast::RandomState::default());
        let mut keep: Vec<usize> = (0..end)
            .rev()
            .filter(|&i| seen.insert(self.keys[i].as_str()))
            .collect();
        keep.reverse();
        keep
    }
}

/// An item that can never be written: its index in the batch and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejection {
    pub(crate) index: usize,
    pub(crate) reason: String,
}

/// Encodes a whole batch (called per batch: the per-item loop is monomorphic).
///
/// On a rejection, `out` holds exactly the items before the rejected one.
pub(crate) trait EncodeBatch<T>: Send + Sync {
    fn encode(&mut self, items: Vec<T>, out: &mut Batch) -> Result<(), Rejection>;

    /// The key texts holding the table's key type (none for closure keys,
    /// which are strings only).
    fn key_texts(&mut self) -> Option<&mut KeyTexts> {
        None
    }

    /// The table's columns after `data`, as stored (called when the sink
    /// opens; only typed documents have columns that can change).
    fn set_columns(&mut self, columns: Vec<DocColumn>) {
        let _ = columns;
    }

    /// The types other sinks of the table inferred (called when an
    /// inferred table's sink opens; see `InferredTypes`).
    fn share_inferred(&mut self, shared: super::database::InferredTypes) {
        let _ = shared;
    }
}

/// Why an item is rejected whose key field at `pointer` is there but cannot
/// be read (see `RawItem::try_pointer`).
pub(crate) fn unreadable_key(pointer: &str, e: &dyn std::fmt::Display) -> String {
    format!("key {pointer:?} cannot be read: {e}")
}

fn reject(index: usize, reason: String) -> Rejection {
    Rejection { index, reason }
}

/// JSON documents: `key` and `data`.
#[derive(Debug)]
pub(crate) struct Documents {
    pub(crate) key: KeySpec<Value>,
    pub(crate) texts: KeyTexts,
}

impl EncodeBatch<Value> for Documents {
    fn key_texts(&mut self) -> Option<&mut KeyTexts> {
        matches!(self.key, KeySpec::Pointer(_)).then_some(&mut self.texts)
    }

    fn encode(&mut self, items: Vec<Value>, out: &mut Batch) -> Result<(), Rejection> {
        out.width = 1 + usize::from(self.key.is_position());
        out.keys.reserve(items.len());
        out.values.reserve(items.len() * out.width);
        for (i, item) in items.into_iter().enumerate() {
            let position = out.first_position + i as u64;
            let key = match &mut self.key {
                KeySpec::Pointer(p) => self.texts.text(p, item.pointer(p)),
                KeySpec::Fn(f) => f(&item).ok_or_else(|| "the key closure gave no key".to_owned()),
                spec => key_of(spec, &mut self.texts, position, |p| item.pointer(p).cloned()),
            }
            .map_err(|why| reject(i, why))?;
            out.keys.push(key);
            out.values.push(SqlValue::Json(item));
            push_position(&self.key, position, &mut out.values);
        }
        Ok(())
    }
}

/// JSON documents kept as text: the key is read from the text, which is
/// written as it is. A key closure gets the item parsed.
#[derive(Debug)]
pub(crate) struct RawDocuments {
    pub(crate) key: KeySpec<Value>,
    pub(crate) texts: KeyTexts,
}

impl EncodeBatch<RawItem> for RawDocuments {
    fn key_texts(&mut self) -> Option<&mut KeyTexts> {
        matches!(self.key, KeySpec::Pointer(_)).then_some(&mut self.texts)
    }

    fn encode(&mut self, items: Vec<RawItem>, out: &mut Batch) -> Result<(), Rejection> {
        out.width = 1 + usize::from(self.key.is_position());
        out.keys.reserve(items.len());
        out.values.reserve(items.len() * out.width);
        for (i, item) in items.into_iter().enumerate() {
            let position = out.first_position + i as u64;
            let key = match &mut self.key {
                KeySpec::Pointer(p) => match item.try_pointer(p) {
                    Ok(value) => self.texts.text(p, value.as_ref()),
                    Err(e) => Err(unreadable_key(p, &e)),
                },
                KeySpec::Fn(f) => match item.to_value() {
                    Ok(value) => f(&value).ok_or_else(|| "the key closure gave no key".to_owned()),
                    Err(e) => Err(format!("the item cannot be read for the key closure: {e}")),
                },
                spec => {
                    // A part that is there but unreadable says so, not "missing".
                    let unreadable = std::cell::RefCell::new(None);
                    let key = key_of(spec, &mut self.texts, position, |p| {
                        item.try_pointer(p).unwrap_or_else(|e| {
                            unreadable
                                .borrow_mut()
                                .get_or_insert_with(|| unreadable_key(p, &e));
                            None
                        })
                    });
                    unreadable.into_inner().map_or(key, Err)
                }
            }
            .map_err(|why| reject(i, why))?;
            out.keys.push(key);
            out.values.push(SqlValue::RawJson(item));
            push_position(&self.key, position, &mut out.values);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn documents_keep_the_items_before_a_rejected_one() {
        let mut enc = Documents {
            key: KeySpec::Pointer("/id".into()),
            texts: KeyTexts::default(),
        };
        let mut batch = Batch::default();
        let items = vec![
            json!({"id": 7}),
            json!({"id": 8}),
            json!({"id": 7.5}),
            json!({"id": 9}),
        ];
        let err = enc.encode(items, &mut batch).unwrap_err();
        assert_eq!(err.index, 2);
        assert!(err.reason.contains("key \"/id\" is a float"), "{}", err.reason);
        assert_eq!(batch.keys, ["7", "8"]);
        assert_eq!(batch.values.len(), 2);
    }

    #[test]
    fn dedup_keeps_the_last_occurrence() {
        let batch = Batch {
            keys: ["a", "b", "a", "c", "b"].map(String::from).to_vec(),
            values: Vec::new(),
            width: 0,
            ..Batch::default()
        };
        assert_eq!(batch.dedup_before(usize::MAX), [2, 3, 4]);
        assert_eq!(batch.dedup_before(3), [1, 2]);
    }
}
