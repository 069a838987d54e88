//! Composite keys: one text key made from several fields (and, for a
//! child, its parent's key).
//!
//! # Encoding
//!
//! A composite key is stored as the compact JSON array of its parts, in
//! the order given: a string part as a JSON string (escaped as JSON
//! escapes it), an integer part as its digits, the parent's key as a
//! string. `["/project_id", "/id"]` over `{"project_id": 7, "id": "a-1"}`
//! is stored as `[7,"a-1"]`. JSON text parses one way only, so two
//! different tuples never share a key, whatever their parts hold (commas,
//! quotes, brackets), and a part that is `7` never meets one that is
//! `"7"`. Each part follows the single key's rules: a string or an integer,
//! its type fixed by its first value (see `key.rs`).

use serde_json::Value;

use super::key::KeyTexts;
use crate::Error;

/// One part of a composite key: see
/// [`DocumentSinkBuilder::key_parts`](crate::DocumentSinkBuilder::key_parts).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyPart {
    /// The value at this JSON pointer into the item (a string or an integer).
    Pointer(String),
    /// The parent's key of a child sink (see `child_of`), as a string: rows
    /// of different parents never share a key.
    Parent,
}

impl KeyPart {
    /// The value at `pointer` (`/id`, `/meta/uuid`).
    pub fn pointer(pointer: impl Into<String>) -> Self {
        Self::Pointer(pointer.into())
    }
}

/// A composite key's parts, ready to encode items.
#[derive(Debug)]
pub(crate) struct CompositeKey {
    parts: Vec<Part>,
}

#[derive(Debug)]
enum Part {
    Pointer(String, KeyTexts),
    /// The parent's key, encoded once.
    Fixed(String),
}

impl CompositeKey {
    /// Checks `parts`; `parent` is the child sink's parent key, if any.
    ///
    /// # Errors
    ///
    /// [`Error::Setting`] for no parts, a pointer not starting with `/`, or
    /// [`KeyPart::Parent`] in a sink that is no child.
    pub(crate) fn new(parts: Vec<KeyPart>, parent: Option<&str>) -> Result<Self, Error> {
        let setting = |reason: String| Error::Setting {
            setting: "key parts",
            reason,
        };
        if parts.is_empty() {
            return Err(setting("a composite key needs at least one part".to_owned()));
        }
        let parts = parts
            .into_iter()
            .map(|part| match part {
                KeyPart::Pointer(p) if p.starts_with('/') => Ok(Part::Pointer(p, KeyTexts::default())),
                KeyPart::Pointer(p) => Err(setting(format!("{p:?} must start with '/' (e.g. \"/id\")"))),
                KeyPart::Parent => parent
                    .map(|key| Part::Fixed(Value::String(key.to_owned()).to_string()))
                    .ok_or_else(|| {
                        setting("the parent's key is a part only of a child sink (child_of)".into())
                    }),
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { parts })
    }

    /// The pointers of its parts, in order (the parent's key has none).
    pub(crate) fn pointers(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::Pointer(p, _) => Some(p.as_str()),
            Part::Fixed(_) => None,
        })
    }

    /// The stored key of an item whose fields `lookup` reads, or why the
    /// item is rejected.
    pub(crate) fn key(&mut self, lookup: impl Fn(&str) -> Option<Value>) -> Result<String, String> {
        let mut out = String::from("[");
        for (i, part) in self.parts.iter_mut().enumerate() {
            if i > 0 {
                out.push(',');
            }
            match part {
                Part::Fixed(text) => out.push_str(text),
                Part::Pointer(pointer, texts) => {
                    let value = lookup(pointer);
                    let text = texts.text(pointer, value.as_ref())?;
                    match value {
                        Some(Value::String(_)) => out.push_str(&Value::String(text).to_string()),
                        _ => out.push_str(&text),
                    }
                }
            }
        }
        out.push(']');
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn key(parts: Vec<KeyPart>, parent: Option<&str>, item: &Value) -> Result<String, String> {
        CompositeKey::new(parts, parent)
            .unwrap()
            .key(|p| item.pointer(p).cloned())
    }

    #[test]
    fn parts_are_a_json_array_in_order() {
        let parts = vec![KeyPart::pointer("/project_id"), KeyPart::pointer("/id")];
        let item = json!({"project_id": 7, "id": "a-1"});
        assert_eq!(key(parts.clone(), None, &item).unwrap(), r#"[7,"a-1"]"#);
        let tricky = json!({"project_id": 7, "id": "a\",\"b"});
        assert_eq!(key(parts, None, &tricky).unwrap(), r#"[7,"a\",\"b"]"#);
    }

    #[test]
    fn the_parent_is_a_string_part() {
        let parts = vec![KeyPart::Parent, KeyPart::pointer("/email")];
        let item = json!({"email": "a@x"});
        assert_eq!(key(parts, Some("12"), &item).unwrap(), r#"["12","a@x"]"#);
    }

    #[test]
    fn each_part_keeps_the_single_key_rules() {
        let mut k = CompositeKey::new(vec![KeyPart::pointer("/a"), KeyPart::pointer("/b")], None).unwrap();
        let item = json!({"a": 1, "b": 2});
        k.key(|p| item.pointer(p).cloned()).unwrap();
        let other = json!({"a": 1, "b": "2"});
        let err = k.key(|p| other.pointer(p).cloned()).unwrap_err();
        assert!(err.contains("key \"/b\" is a string"), "{err}");
        let missing = json!({"a": 1});
        assert!(
            k.key(|p| missing.pointer(p).cloned())
                .unwrap_err()
                .contains("missing")
        );
    }

    #[test]
    fn bad_parts_are_refused() {
        assert!(CompositeKey::new(Vec::new(), None).is_err());
        assert!(CompositeKey::new(vec![KeyPart::pointer("id")], None).is_err());
        let err = CompositeKey::new(vec![KeyPart::Parent], None).unwrap_err();
        assert!(err.to_string().contains("child_of"), "{err}");
    }
}
