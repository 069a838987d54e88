//! Typed rows (`db.rows::<T>()`): each item serialized to a JSON object,
//! one field per column.

use serde::Serialize;
use serde_json::Value;

use super::{Batch, ColumnType, EncodeBatch, Rejection, SqlValue, key_of, push_position, reject};
use crate::sql::coerce::coerce;
use crate::sql::key::{KeySpec, KeyTexts, describe, pointer_in};

/// Typed rows: serialized to a JSON object, one field per column.
#[derive(Debug)]
pub(crate) struct Rows<T> {
    pub(crate) key: KeySpec<T>,
    pub(crate) texts: KeyTexts,
    pub(crate) columns: Vec<(String, ColumnType)>,
    /// Whether a non-empty batch was checked: each column must match a
    /// field of at least one of its items, or the column is misnamed.
    pub(crate) checked: bool,
}

impl<T: Serialize + Send + 'static> Rows<T> {
    /// One item's key and values, or why it is rejected; marks in `seen`
    /// the columns whose field the item has.
    fn row(
        &mut self,
        item: &T,
        position: u64,
        values: &mut Vec<SqlValue>,
        seen: &mut [bool],
    ) -> Result<String, String> {
        let closure_key = match &self.key {
            KeySpec::Fn(f) => Some(f(item).ok_or_else(|| "the key closure gave no key".to_owned())?),
            _ => None,
        };
        let value = serde_json::to_value(item).map_err(|e| format!("it could not be serialized: {e}"))?;
        let Value::Object(fields) = value else {
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
        for ((name, ty), seen) in self.columns.iter().zip(seen.iter_mut()) {
            let field = fields.get(name);
            *seen |= field.is_some();
            let v = coerce(field, *ty).map_err(|why| format!("column {name}: {why}"))?;
            values.push(v);
        }
        push_position(&self.key, position, values);
        Ok(key)
    }

    /// The first non-empty batch's check: a column that no item has a field
    /// for is misnamed (it would be a column of NULLs). A field present as
    /// null counts as present.
    fn check_first(&mut self, seen: &[bool], items: &[T]) -> Result<(), Rejection> {
        if self.checked || items.is_empty() {
            return Ok(());
        }
        self.checked = true;
        let Some((name, _)) = self.columns.iter().zip(seen).find(|(_, s)| !**s).map(|(c, _)| c) else {
            return Ok(());
        };
        let fields = match serde_json::to_value(&items[0]) {
            Ok(Value::Object(f)) => f.keys().cloned().collect::<Vec<_>>().join(", "),
            _ => String::new(),
        };
        Err(reject(
            0,
            format!(
                "column {name} matches no field of the first batch's {} item(s) (the first has: {fields}); \
                 a column is filled from the serialized field of the same name",
                items.len()
            ),
        ))
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
        let mut seen = vec![false; self.columns.len()];
        for (i, item) in items.iter().enumerate() {
            let before = out.values.len();
            let position = out.first_position + i as u64;
            match self.row(item, position, &mut out.values, &mut seen) {
                Ok(key) => out.keys.push(key),
                Err(why) => {
                    // Keep exactly the rows before the rejected item.
                    out.values.truncate(before);
                    return Err(reject(i, why));
                }
            }
        }
        if let Err(r) = self.check_first(&seen, &items) {
            out.keys.clear();
            out.values.clear();
            return Err(r);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            checked: true,
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
    fn a_column_matching_no_field_of_the_first_batch_is_refused() {
        let mut enc = Rows::<Item> {
            key: KeySpec::Pointer("/key".into()),
            texts: KeyTexts::default(),
            columns: vec![
                ("n".into(), ColumnType::Integer),
                ("nn".into(), ColumnType::Integer),
            ],
            checked: false,
        };
        let item = |k: &str| Item {
            key: k.into(),
            n: 3,
            tags: vec![],
        };
        let mut batch = Batch::default();
        let err = enc.encode(vec![item("a"), item("b")], &mut batch).unwrap_err();
        assert_eq!(err.index, 0);
        assert!(
            err.reason.contains(
                "column nn matches no field of the first batch's 2 item(s) (the first has: key, n, tags)"
            ),
            "{}",
            err.reason
        );
        assert!(batch.keys.is_empty() && batch.values.is_empty());
    }

    #[test]
    fn rows_refuse_a_wrong_type() {
        let mut enc = Rows::<Item> {
            key: KeySpec::Pointer("/key".into()),
            texts: KeyTexts::default(),
            columns: vec![("tags".into(), ColumnType::Integer)],
            checked: false,
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
            err.reason
                .contains("column tags: expected an integer, got an array"),
            "{}",
            err.reason
        );
        assert!(batch.keys.is_empty() && batch.values.is_empty());
    }
}
