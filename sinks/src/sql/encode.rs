//! Turning items into rows: a key and one bound value per column.

use std::collections::HashSet;

use crawlpipe_core::RawItem;
use serde::Serialize;
use serde_json::Value;

use super::key::{KeySpec, KeyTexts, describe, pointer_in, position_key};

/// The SQL type of a typed-row column.
///
/// | variant | SQLite | PostgreSQL |
/// |---|---|---|
/// | `Text` | `TEXT` | `TEXT` |
/// | `Integer` | `INTEGER` | `BIGINT` |
/// | `Real` | `REAL` | `DOUBLE PRECISION` |
/// | `Boolean` | `INTEGER` | `BOOLEAN` |
/// | `Json` | `TEXT` (JSON text) | `JSONB` |
///
/// A `Text` column accepts any field: numbers and booleans are written as
/// their JSON text, arrays and objects as JSON. The others accept only their
/// own kind (or null).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ColumnType {
    /// Text.
    Text,
    /// A 64-bit signed integer.
    Integer,
    /// A 64-bit float.
    Real,
    /// A boolean.
    Boolean,
    /// A JSON value.
    Json,
}

/// One bound value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SqlValue {
    Null(ColumnType),
    Text(String),
    Int(i64),
    Real(f64),
    Bool(bool),
    Json(Value),
    /// JSON text kept as received (the raw-JSON path), for a `Json` column.
    RawJson(RawItem),
}

impl SqlValue {
    /// Converts a serialized field to `ty`, or says why it cannot be.
    fn coerce(value: Option<Value>, ty: ColumnType) -> Result<Self, String> {
        let value = match value {
            None | Some(Value::Null) => return Ok(Self::Null(ty)),
            Some(v) => v,
        };
        Ok(match (ty, value) {
            (ColumnType::Json, v) => Self::Json(v),
            (ColumnType::Text, Value::String(s)) => Self::Text(s),
            (ColumnType::Text, v) => Self::Text(v.to_string()),
            (ColumnType::Integer, Value::Number(n)) if n.is_i64() => {
                Self::Int(n.as_i64().unwrap_or_default())
            }
            (ColumnType::Real, Value::Number(n)) => Self::Real(n.as_f64().unwrap_or(f64::NAN)),
            (ColumnType::Boolean, Value::Bool(b)) => Self::Bool(b),
            (ty, v) => return Err(format!("expected {ty:?}, got {}", describe(&v))),
        })
    }
}

/// Encoded rows: `keys[i]` with `values[i * width .. (i + 1) * width]`.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub(crate) keys: Vec<String>,
    pub(crate) values: Vec<SqlValue>,
    pub(crate) width: usize,
    /// A keyless collection's position of the batch's first item in the run.
    pub(crate) first_position: u64,
}

/// The key of item `i` of a batch under `spec` (not for closures, which
/// each encoder calls on its own item type), or why it is rejected;
/// `lookup` reads a field of the item.
fn key_of<T>(
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
fn push_position<T>(spec: &KeySpec<T>, position: u64, values: &mut Vec<SqlValue>) {
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
        let mut seen = HashSet::with_capacity(end);
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
                KeySpec::Pointer(p) => self.texts.text(p, item.pointer(p).as_ref()),
                KeySpec::Fn(f) => item
                    .to_value()
                    .ok()
                    .and_then(|v| f(&v))
                    .ok_or_else(|| "the key closure gave no key".to_owned()),
                spec => key_of(spec, &mut self.texts, position, |p| item.pointer(p)),
            }
            .map_err(|why| reject(i, why))?;
            out.keys.push(key);
            out.values.push(SqlValue::RawJson(item));
            push_position(&self.key, position, &mut out.values);
        }
        Ok(())
    }
}

/// Typed rows: serialized to a JSON object, one field per column.
#[derive(Debug)]
pub(crate) struct Rows<T> {
    pub(crate) key: KeySpec<T>,
    pub(crate) texts: KeyTexts,
    pub(crate) columns: Vec<(String, ColumnType)>,
}

impl<T: Serialize + Send + 'static> Rows<T> {
    /// One item's key and values, or why it is rejected.
    fn row(&mut self, item: &T, position: u64, values: &mut Vec<SqlValue>) -> Result<String, String> {
        let closure_key = match &self.key {
            KeySpec::Fn(f) => Some(f(item).ok_or_else(|| "the key closure gave no key".to_owned())?),
            _ => None,
        };
        let value = serde_json::to_value(item).map_err(|e| format!("it could not be serialized: {e}"))?;
        let Value::Object(mut fields) = value else {
            return Err(format!("it serialized to {}, not an object", describe(&value)));
        };
        let key = match (&mut self.key, closure_key) {
            (_, Some(k)) => k,
            (KeySpec::Pointer(p), None) => self.texts.text(p, pointer_in(&fields, p))?,
            (KeySpec::Fn(_), None) => return Err("the key closure gave no key".to_owned()),
            (spec, None) => key_of(spec, &mut self.texts, position, |p| {
                pointer_in(&fields, p).cloned()
            })?,
        };
        for (name, ty) in &self.columns {
            let v =
                SqlValue::coerce(fields.remove(name), *ty).map_err(|why| format!("column {name}: {why}"))?;
            values.push(v);
        }
        push_position(&self.key, position, values);
        Ok(key)
    }
}

impl<T: Serialize + Send + 'static> EncodeBatch<T> for Rows<T> {
    fn key_texts(&mut self) -> Option<&mut KeyTexts> {
        matches!(self.key, KeySpec::Pointer(_)).then_some(&mut self.texts)
    }

    fn encode(&mut self, items: Vec<T>, out: &mut Batch) -> Result<(), Rejection> {
        out.width = self.columns.len() + usize::from(self.key.is_position());
        out.keys.reserve(items.len());
        out.values.reserve(items.len() * out.width);
        for (i, item) in items.iter().enumerate() {
            let before = out.values.len();
            let position = out.first_position + i as u64;
            match self.row(item, position, &mut out.values) {
                Ok(key) => out.keys.push(key),
                Err(why) => {
                    // Keep exactly the rows before the rejected item.
                    out.values.truncate(before);
                    return Err(reject(i, why));
                }
            }
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
            first_position: 0,
        };
        assert_eq!(batch.dedup_before(usize::MAX), [2, 3, 4]);
        assert_eq!(batch.dedup_before(3), [1, 2]);
    }

    #[derive(Serialize)]
    struct Item {
        key: String,
        n: i64,
        tags: Vec<String>,
    }

    #[test]
    fn rows_map_fields_to_columns() {
        let mut enc = Rows::<Item> {
            key: KeySpec::Pointer("/key".into()),
            texts: KeyTexts::default(),
            columns: vec![
                ("n".into(), ColumnType::Integer),
                ("tags".into(), ColumnType::Text),
                ("missing".into(), ColumnType::Real),
            ],
        };
        let mut batch = Batch::default();
        let item = Item {
            key: "k".into(),
            n: 3,
            tags: vec!["a".into()],
        };
        enc.encode(vec![item], &mut batch).unwrap();
        assert_eq!(batch.keys, ["k"]);
        assert_eq!(
            batch.values,
            [
                SqlValue::Int(3),
                SqlValue::Text("[\"a\"]".into()),
                SqlValue::Null(ColumnType::Real)
            ]
        );
    }

    #[test]
    fn rows_refuse_a_wrong_type() {
        let mut enc = Rows::<Item> {
            key: KeySpec::Pointer("/key".into()),
            texts: KeyTexts::default(),
            columns: vec![("tags".into(), ColumnType::Integer)],
        };
        let item = Item {
            key: "k".into(),
            n: 3,
            tags: vec![],
        };
        let mut batch = Batch::default();
        let err = enc.encode(vec![item], &mut batch).unwrap_err();
        assert_eq!(err.index, 0);
        assert!(
            err.reason.contains("column tags: expected Integer, got an array"),
            "{}",
            err.reason
        );
        assert!(batch.keys.is_empty() && batch.values.is_empty());
    }
}
