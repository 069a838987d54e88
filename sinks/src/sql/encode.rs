//! Turning items into rows: a key and one bound value per column.

use std::collections::HashSet;

use serde::Serialize;
use serde_json::Value;

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
            (ty, v) => return Err(format!("expected {ty:?}, got {}", kind(&v))),
        })
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Encoded rows: `keys[i]` with `values[i * width .. (i + 1) * width]`.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub(crate) keys: Vec<String>,
    pub(crate) values: Vec<SqlValue>,
    pub(crate) width: usize,
}

impl Batch {
    pub(crate) fn row(&self, i: usize) -> (&str, &[SqlValue]) {
        (&self.keys[i], &self.values[i * self.width..(i + 1) * self.width])
    }

    /// The rows to write: the last occurrence of each key, in batch order.
    /// PostgreSQL rejects an `ON CONFLICT` statement touching a key twice,
    /// and "last one wins" is what sequential upserts would have done.
    pub(crate) fn dedup(&self) -> Vec<usize> {
        let mut seen = HashSet::with_capacity(self.keys.len());
        let mut keep: Vec<usize> = (0..self.keys.len())
            .rev()
            .filter(|&i| seen.insert(self.keys[i].as_str()))
            .collect();
        keep.reverse();
        keep
    }
}

/// A closure giving an item's key.
pub(crate) type KeyFn<T> = Box<dyn Fn(&T) -> Option<String> + Send + Sync>;

/// How an item's key is found.
pub(crate) enum KeySpec<T> {
    /// A JSON pointer into the (serialized) item.
    Pointer(String),
    /// A closure over the item.
    Fn(KeyFn<T>),
}

impl<T> std::fmt::Debug for KeySpec<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Pointer(p) => write!(f, "Pointer({p:?})"),
            Self::Fn(_) => f.write_str("Fn(..)"),
        }
    }
}

/// A scalar JSON value as a key; objects, arrays and null are refused.
fn scalar_key(v: Option<&Value>) -> Result<String, &'static str> {
    match v {
        None | Some(Value::Null) => Err("is missing"),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(Value::Bool(b)) => Ok(b.to_string()),
        Some(Value::Array(_)) => Err("is an array, not a scalar"),
        Some(Value::Object(_)) => Err("is an object, not a scalar"),
    }
}

/// Resolves a JSON pointer inside an object without rebuilding a `Value`.
fn pointer_in<'a>(fields: &'a serde_json::Map<String, Value>, pointer: &str) -> Option<&'a Value> {
    let rest = pointer.strip_prefix('/')?;
    let (first, tail) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, ""),
    };
    let first = first.replace("~1", "/").replace("~0", "~");
    let value = fields.get(&first)?;
    if tail.is_empty() {
        Some(value)
    } else {
        value.pointer(tail)
    }
}

/// Encodes a whole batch (called per batch: the per-item loop is monomorphic).
pub(crate) trait EncodeBatch<T>: Send + Sync {
    fn encode(&self, items: Vec<T>, out: &mut Batch) -> Result<(), String>;
}

/// JSON documents: `key` and `data`.
#[derive(Debug)]
pub(crate) struct Documents {
    pub(crate) key: KeySpec<Value>,
}

impl EncodeBatch<Value> for Documents {
    fn encode(&self, items: Vec<Value>, out: &mut Batch) -> Result<(), String> {
        out.width = 1;
        out.keys.reserve(items.len());
        out.values.reserve(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let key = match &self.key {
                KeySpec::Pointer(p) => scalar_key(item.pointer(p))
                    .map_err(|why| format!("item {i} of the batch: key {p:?} {why}"))?,
                KeySpec::Fn(f) => {
                    f(&item).ok_or_else(|| format!("item {i} of the batch: the key closure gave no key"))?
                }
            };
            out.keys.push(key);
            out.values.push(SqlValue::Json(item));
        }
        Ok(())
    }
}

/// Typed rows: serialized to a JSON object, one field per column.
#[derive(Debug)]
pub(crate) struct Rows<T> {
    pub(crate) key: KeySpec<T>,
    pub(crate) columns: Vec<(String, ColumnType)>,
}

impl<T: Serialize + Send + 'static> EncodeBatch<T> for Rows<T> {
    fn encode(&self, items: Vec<T>, out: &mut Batch) -> Result<(), String> {
        out.width = self.columns.len();
        out.keys.reserve(items.len());
        out.values.reserve(items.len() * self.columns.len());
        for (i, item) in items.into_iter().enumerate() {
            let closure_key = match &self.key {
                KeySpec::Fn(f) => Some(
                    f(&item).ok_or_else(|| format!("item {i} of the batch: the key closure gave no key"))?,
                ),
                KeySpec::Pointer(_) => None,
            };
            let value = serde_json::to_value(&item)
                .map_err(|e| format!("item {i} of the batch could not be serialized: {e}"))?;
            let Value::Object(mut fields) = value else {
                return Err(format!(
                    "item {i} of the batch serialized to {}, not an object",
                    kind(&value)
                ));
            };
            let key = match (&self.key, closure_key) {
                (_, Some(k)) => k,
                (KeySpec::Pointer(p), None) => scalar_key(pointer_in(&fields, p))
                    .map_err(|why| format!("item {i} of the batch: key {p:?} {why}"))?,
                (KeySpec::Fn(_), None) => {
                    return Err(format!("item {i} of the batch: the key closure gave no key"));
                }
            };
            out.keys.push(key);
            for (name, ty) in &self.columns {
                let v = SqlValue::coerce(fields.remove(name), *ty)
                    .map_err(|why| format!("item {i} of the batch, column {name}: {why}"))?;
                out.values.push(v);
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
    fn documents_take_scalar_keys_and_refuse_others() {
        let enc = Documents {
            key: KeySpec::Pointer("/id".into()),
        };
        let mut batch = Batch::default();
        enc.encode(vec![json!({"id": 7}), json!({"id": "x"})], &mut batch)
            .unwrap();
        assert_eq!(batch.keys, ["7", "x"]);
        for bad in [
            json!({}),
            json!({"id": null}),
            json!({"id": [1]}),
            json!({"id": {}}),
        ] {
            let err = enc.encode(vec![bad], &mut Batch::default()).unwrap_err();
            assert!(err.contains("key \"/id\""), "{err}");
        }
    }

    #[test]
    fn dedup_keeps_the_last_occurrence() {
        let batch = Batch {
            keys: ["a", "b", "a", "c", "b"].map(String::from).to_vec(),
            values: Vec::new(),
            width: 0,
        };
        assert_eq!(batch.dedup(), [2, 3, 4]);
    }

    #[derive(Serialize)]
    struct Item {
        key: String,
        n: i64,
        tags: Vec<String>,
    }

    #[test]
    fn rows_map_fields_to_columns() {
        let enc = Rows::<Item> {
            key: KeySpec::Pointer("/key".into()),
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
        let enc = Rows::<Item> {
            key: KeySpec::Pointer("/key".into()),
            columns: vec![("tags".into(), ColumnType::Integer)],
        };
        let item = Item {
            key: "k".into(),
            n: 3,
            tags: vec![],
        };
        let err = enc.encode(vec![item], &mut Batch::default()).unwrap_err();
        assert!(
            err.contains("column tags: expected Integer, got an array"),
            "{err}"
        );
    }
}
