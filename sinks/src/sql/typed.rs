//! Typed document rows: `data` (the item as it came) plus one value per
//! declared or inferred column, read at its pointer and checked against
//! its type (`coerce.rs`); an item that does not fit follows
//! [`OnMismatch`]; unnested arrays become child rows.

use std::borrow::Cow;

use crawlpipe_core::RawItem;
use serde_json::Value;

use super::coerce::{coerce, coerce_cow};
use super::columns::{DocColumn, OnMismatch, UnnestSpec};
use super::doc_item::{DocItem, FieldPlan, Fields};
use super::encode::{
    Batch, ChildRows, EncodeBatch, RejectedItem, Rejection, SqlValue, key_of, push_position, unreadable_key,
};
use super::infer::Inference;
use super::key::{KeySpec, KeyTexts};

/// Typed document rows; see the module docs.
#[derive(Debug)]
pub(crate) struct TypedDocuments {
    pub(crate) key: KeySpec<Value>,
    pub(crate) texts: KeyTexts,
    pub(crate) columns: Vec<DocColumn>,
    pub(crate) on_mismatch: OnMismatch,
    pub(crate) unnest: Vec<UnnestSpec>,
    /// `columns = "infer"`: new top-level scalar fields become columns.
    pub(crate) infer: Option<Inference>,
    /// A child collection's sink: its parent's key, the column `parent` of
    /// every row (see `shape_of`).
    pub(crate) parent: Option<String>,
}

/// Why an item does not fit: the column and the reason.
struct Mismatch {
    column: String,
    error: String,
}

impl TypedDocuments {
    /// The item's column values (after `data`) and child rows, or the first
    /// mismatch; `fields` are the columns' values, then the arrays'.
    /// `unreadable` holds the positions in `fields` whose value is there
    /// but cannot be read: a mismatch of their column.
    fn values<'v>(
        &self,
        mut fields: impl Iterator<Item = Option<Cow<'v, Value>>>,
        unreadable: &[(usize, String)],
        row: &mut Vec<SqlValue>,
        children: &mut [Vec<(i64, Value, Vec<SqlValue>)>],
    ) -> Result<(), Mismatch> {
        let null = self.on_mismatch == OnMismatch::Null;
        let unreadable_at = |at: usize| {
            (unreadable.iter())
                .find(|(j, _)| *j == at)
                .map(|(_, why)| format!("the value cannot be read: {why}"))
        };
        for (at, c) in self.columns.iter().enumerate() {
            let field = fields.next().flatten();
            let coerced = match unreadable_at(at) {
                Some(why) => Err(why),
                None => coerce_cow(field, c.ty),
            };
            match coerced {
                Ok(v) => row.push(v),
                Err(_) if null => row.push(SqlValue::Null(c.ty)),
                Err(error) => {
                    return Err(Mismatch {
                        column: c.name.as_str().to_owned(),
                        error: format!("column {} ({}): {error}", c.name.as_str(), c.pointer),
                    });
                }
            }
        }
        for (k, (u, out)) in self.unnest.iter().zip(children.iter_mut()).enumerate() {
            out.clear();
            let field = fields.next().flatten().map(Cow::into_owned);
            if let Some(why) = unreadable_at(self.columns.len() + k) {
                if null {
                    continue;
                }
                return Err(Mismatch {
                    column: u.name.clone(),
                    error: format!("unnest {} ({}): {why}", u.name, u.pointer),
                });
            }
            let elements = match field {
                None | Some(Value::Null) => continue,
                Some(Value::Array(elements)) => elements,
                Some(_) if null => continue,
                Some(other) => {
                    return Err(Mismatch {
                        column: u.name.clone(),
                        error: format!(
                            "unnest {} ({}): expected an array, got {}",
                            u.name,
                            u.pointer,
                            super::key::describe(&other)
                        ),
                    });
                }
            };
            for (idx, element) in elements.into_iter().enumerate() {
                let mut values = Vec::with_capacity(u.columns.len());
                for c in &u.columns {
                    match coerce(element.pointer(&c.pointer), c.ty) {
                        Ok(v) => values.push(v),
                        Err(_) if null => values.push(SqlValue::Null(c.ty)),
                        Err(error) => {
                            return Err(Mismatch {
                                column: format!("{}.{}", u.name, c.name.as_str()),
                                error: format!(
                                    "unnest {} element {idx}: column {} ({}): {error}",
                                    u.name,
                                    c.name.as_str(),
                                    c.pointer
                                ),
                            });
                        }
                    }
                }
                children_push(out, idx, element, values);
            }
        }
        Ok(())
    }

    /// The pointers a batch reads: the key's, the columns', the arrays'.
    pub(crate) fn plan(&self) -> FieldPlan {
        let mut pointers = self.key.pointers();
        pointers.extend(self.columns.iter().map(|c| c.pointer.clone()));
        pointers.extend(self.unnest.iter().map(|u| u.pointer.clone()));
        FieldPlan::new(pointers)
    }

    fn encode_items<T: DocItem>(&mut self, items: Vec<T>, out: &mut Batch) -> Result<(), Rejection> {
        let mut picked = self.infer(&items, out).map(Vec::into_iter);
        let width =
            1 + usize::from(self.key.is_position()) + usize::from(self.parent.is_some()) + self.columns.len();
        out.width = width;
        out.keys.reserve(items.len());
        out.values.reserve(items.len() * width);
        out.children = self
            .unnest
            .iter()
            .map(|u| ChildRows {
                rows: Batch {
                    width: 2 + u.columns.len(),
                    ..Batch::default()
                },
                parents: Vec::new(),
            })
            .collect();
        let mut row = Vec::with_capacity(width);
        let mut children = vec![Vec::new(); self.unnest.len()];
        // The key's fields are read with the others, in the same pass.
        let key_pointers = self.key.pointers();
        let plan = self.plan();
        let skip = key_pointers.len();
        for (i, item) in items.into_iter().enumerate() {
            let Fields {
                values: mut fields,
                mut unreadable,
            } = match picked.as_mut().and_then(Iterator::next) {
                Some(picks) => picks.into(),
                None => item.fields(&plan),
            };
            // Positions count the rows written: a rejected item takes none.
            let position = out.first_position + out.keys.len() as u64;
            if let Some((at, why)) = unreadable.iter().find(|(at, _)| *at < skip) {
                return Err(Rejection {
                    index: i,
                    reason: unreadable_key(&key_pointers[*at], why),
                });
            }
            let key = match &mut self.key {
                KeySpec::Fn(f) => item.closure_key(f.as_ref()),
                KeySpec::Pointer(p) => self.texts.text(p, fields[0].as_deref()),
                spec => key_of(spec, &mut self.texts, position, |p| {
                    let at = key_pointers.iter().position(|k| k == p)?;
                    fields[at].as_deref().cloned()
                }),
            }
            .map_err(|reason| Rejection { index: i, reason })?;
            row.clear();
            for (at, _) in &mut unreadable {
                *at -= skip;
            }
            let fitted = self.values(fields.drain(skip..), &unreadable, &mut row, &mut children);
            drop(fields);
            if let Err(m) = fitted {
                match self.on_mismatch {
                    OnMismatch::Fail => {
                        return Err(Rejection {
                            index: i,
                            reason: format!("item with key {key:?}: {}", m.error),
                        });
                    }
                    _ => {
                        out.rejected.push(RejectedItem {
                            key,
                            column: m.column,
                            error: m.error,
                            data: item.json_text(),
                        });
                        continue;
                    }
                }
            }
            let at = out.keys.len();
            for (rows, elements) in out.children.iter_mut().zip(children.iter_mut()) {
                for (idx, element, values) in elements.drain(..) {
                    rows.parents.push(at);
                    rows.rows.keys.push(key.clone());
                    rows.rows.values.push(SqlValue::Int(idx));
                    rows.rows.values.push(SqlValue::Json(element));
                    rows.rows.values.extend(values);
                }
            }
            out.keys.push(key);
            out.values.push(item.into_data());
            push_position(&self.key, position, &mut out.values);
            if let Some(parent) = &self.parent {
                out.values.push(SqlValue::Text(parent.clone()));
            }
            out.values.append(&mut row);
        }
        Ok(())
    }
}

fn children_push(
    out: &mut Vec<(i64, Value, Vec<SqlValue>)>,
    idx: usize,
    element: Value,
    values: Vec<SqlValue>,
) {
    out.push((i64::try_from(idx).unwrap_or(i64::MAX), element, values));
}

impl EncodeBatch<Value> for TypedDocuments {
    fn key_texts(&mut self) -> Option<&mut KeyTexts> {
        matches!(self.key, KeySpec::Pointer(_)).then_some(&mut self.texts)
    }

    fn encode(&mut self, items: Vec<Value>, out: &mut Batch) -> Result<(), Rejection> {
        self.encode_items(items, out)
    }

    fn set_columns(&mut self, columns: Vec<DocColumn>) {
        self.columns = columns;
    }

    fn share_inferred(&mut self, shared: crate::sql::database::InferredTypes) {
        if let Some(infer) = self.infer.as_mut() {
            infer.shared = Some(shared);
        }
    }
}

impl EncodeBatch<RawItem> for TypedDocuments {
    fn key_texts(&mut self) -> Option<&mut KeyTexts> {
        matches!(self.key, KeySpec::Pointer(_)).then_some(&mut self.texts)
    }

    fn encode(&mut self, items: Vec<RawItem>, out: &mut Batch) -> Result<(), Rejection> {
        self.encode_items(items, out)
    }

    fn set_columns(&mut self, columns: Vec<DocColumn>) {
        self.columns = columns;
    }

    fn share_inferred(&mut self, shared: crate::sql::database::InferredTypes) {
        if let Some(infer) = self.infer.as_mut() {
            infer.shared = Some(shared);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::encode::ColumnType;

    fn encoder(mode: OnMismatch) -> TypedDocuments {
        TypedDocuments {
            key: KeySpec::Pointer("/id".into()),
            texts: KeyTexts::default(),
            columns: vec![DocColumn::new("n", "/n", ColumnType::Integer, &[]).unwrap()],
            on_mismatch: mode,
            unnest: vec![
                UnnestSpec::new(super::super::columns::Unnest::new("tags", "/tags").column(
                    "name",
                    "/name",
                    ColumnType::Text,
                ))
                .unwrap(),
            ],
            infer: None,
            parent: None,
        }
    }

    fn items() -> Vec<RawItem> {
        [
            r#"{"id": 1, "n": 5, "tags": [{"name": "a"}, {"name": "b"}]}"#,
            r#"{"id": 2, "n": "x"}"#,
            r#"{"id": 3, "n": "7"}"#,
        ]
        .into_iter()
        .map(|s| RawItem::new(s).unwrap())
        .collect()
    }

    #[test]
    fn reject_keeps_the_item_whole_and_writes_the_rest() {
        let mut batch = Batch::default();
        encoder(OnMismatch::Reject).encode(items(), &mut batch).unwrap();
        assert_eq!(batch.keys, ["1", "3"]);
        assert_eq!(batch.values[1], SqlValue::Int(5));
        assert_eq!(batch.values[3], SqlValue::Int(7));
        assert_eq!(batch.rejected.len(), 1);
        let r = &batch.rejected[0];
        assert_eq!((r.key.as_str(), r.column.as_str()), ("2", "n"));
        assert!(
            r.error.contains("expected an integer, got a string"),
            "{}",
            r.error
        );
        assert_eq!(r.data, r#"{"id": 2, "n": "x"}"#);
        let tags = &batch.children[0];
        assert_eq!(tags.parents, [0, 0]);
        assert_eq!(tags.rows.values[2], SqlValue::Text("a".into()));
    }

    #[test]
    fn null_keeps_the_item_and_fail_names_key_and_column() {
        let mut batch = Batch::default();
        encoder(OnMismatch::Null).encode(items(), &mut batch).unwrap();
        assert_eq!(batch.keys, ["1", "2", "3"]);
        assert_eq!(batch.values[3], SqlValue::Null(ColumnType::Integer));
        let mut batch = Batch::default();
        let err = encoder(OnMismatch::Fail).encode(items(), &mut batch).unwrap_err();
        assert_eq!(err.index, 1);
        assert!(
            err.reason
                .contains("item with key \"2\": column n (/n): expected an integer, got a string"),
            "{}",
            err.reason
        );
        assert_eq!(batch.keys, ["1"]);
    }
}
