//! Item keys: where they come from and what makes two keys the same.
//!
//! A key is stored as text. A string key is stored as it is and an integer
//! key as its decimal text, so `7` and `"7"` would both become `7`. To keep
//! them apart, the first key a sink sees fixes the table's key type
//! (string or integer), which is stored with that batch (`key_type_row.rs`)
//! so later runs keep it, and an item whose key has the other type is
//! rejected, naming both types (unless the sink compares keys as text,
//! `text_keys`: then `7` and `"7"` are one key). Any other JSON type (a
//! float such as `7.0`, a boolean, null, an array, an object) or a missing
//! key is rejected too: none of them has one obvious text.

use serde_json::Value;

use super::composite_key::{CompositeKey, KeyPart};
use crate::Error;

/// A closure giving an item's key.
pub(crate) type KeyFn<T> = Box<dyn Fn(&T) -> Option<String> + Send + Sync>;

/// How an item's key is found.
pub(crate) enum KeySpec<T> {
    /// A JSON pointer into the (serialized) item.
    Pointer(String),
    /// A closure over the item; its keys are strings.
    Fn(KeyFn<T>),
    /// Several parts, as configured (resolved by [`KeySpec::resolve`]).
    Parts(Vec<KeyPart>),
    /// Several parts, ready (see `composite_key.rs`).
    Composite(CompositeKey),
    /// No key: the item's position in the run (see `append.rs`), after
    /// the parent's key in a child sink.
    Position(Option<String>),
}

impl<T> KeySpec<T> {
    /// The spec a built sink uses: parts checked and the parent's key
    /// (of a child sink) put in place.
    ///
    /// # Errors
    ///
    /// [`Error::Setting`] for a pointer not starting with `/` or bad parts.
    pub(crate) fn resolve(self, parent: Option<&str>) -> Result<Self, Error> {
        match self {
            Self::Pointer(p) if !p.starts_with('/') => Err(Error::Setting {
                setting: "key pointer",
                reason: format!("{p:?} must start with '/' (e.g. \"/id\")"),
            }),
            Self::Parts(parts) => CompositeKey::new(parts, parent).map(Self::Composite),
            Self::Position(_) => Ok(Self::Position(parent.map(str::to_owned))),
            other => Ok(other),
        }
    }

    /// The pointers the key reads from an item (none for a closure or a
    /// position), so an encoder can read them with the item's other fields.
    pub(crate) fn pointers(&self) -> Vec<String> {
        match self {
            Self::Pointer(p) => vec![p.clone()],
            Self::Composite(c) => c.pointers().map(str::to_owned).collect(),
            Self::Parts(parts) => parts
                .iter()
                .filter_map(|part| match part {
                    KeyPart::Pointer(p) => Some(p.clone()),
                    KeyPart::Parent => None,
                })
                .collect(),
            Self::Fn(_) | Self::Position(_) => Vec::new(),
        }
    }

    /// Whether items are keyless (appended at their position).
    pub(crate) fn is_position(&self) -> bool {
        matches!(self, Self::Position(_))
    }
}

/// The stored key of the item at `position` of a keyless run: the
/// position's digits, or in a child sink `["<parent key>",<position>]`
/// (the composite encoding), so children of different parents never meet.
pub(crate) fn position_key(parent: Option<&str>, position: u64) -> String {
    match parent {
        None => position.to_string(),
        Some(parent) => format!("[{},{position}]", Value::String(parent.to_owned())),
    }
}

impl<T> std::fmt::Debug for KeySpec<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Pointer(p) => write!(f, "Pointer({p:?})"),
            Self::Fn(_) => f.write_str("Fn(..)"),
            Self::Parts(parts) => write!(f, "Parts({parts:?})"),
            Self::Composite(c) => write!(f, "Composite({c:?})"),
            Self::Position(_) => f.write_str("Position"),
        }
    }
}

/// The JSON type of a collection's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyType {
    String,
    Integer,
}

impl KeyType {
    /// As stored: `string` or `integer`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
        }
    }

    /// The stored text's type.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        match text {
            "string" => Some(Self::String),
            "integer" => Some(Self::Integer),
            _ => None,
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Self::String => "strings",
            Self::Integer => "integers",
        }
    }

    fn article(self) -> &'static str {
        match self {
            Self::String => "a string",
            Self::Integer => "an integer",
        }
    }
}

/// Turns key values into stored text, holding the collection's key type.
#[derive(Debug, Default, Clone)]
pub(crate) struct KeyTexts {
    fixed: Option<KeyType>,
    /// Whether `fixed` is stored in the database (read at open, or committed).
    stored: bool,
    /// Keys compare as text: any string or integer, no type fixed.
    text_mode: bool,
}

impl KeyTexts {
    /// Starts from the type an earlier run stored.
    pub(crate) fn set_stored(&mut self, ty: KeyType) {
        self.fixed = Some(ty);
        self.stored = true;
    }

    /// Keys compare as text from now on (the sink's `text_keys`).
    pub(crate) fn set_text_mode(&mut self) {
        self.text_mode = true;
        self.fixed = None;
    }

    /// The type fixed by this run's keys and not stored yet.
    pub(crate) fn unstored(&self) -> Option<KeyType> {
        self.fixed.filter(|_| !self.stored && !self.text_mode)
    }

    /// The fixed type has been committed.
    pub(crate) fn mark_stored(&mut self) {
        self.stored = self.fixed.is_some();
    }

    /// The stored text of the key found at `pointer`, or why the item is rejected.
    pub(crate) fn text(&mut self, pointer: &str, value: Option<&Value>) -> Result<String, String> {
        let (text, ty) = match value {
            None => return Err(format!("key {pointer:?} is missing")),
            Some(Value::String(s)) => (s.clone(), KeyType::String),
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => (n.to_string(), KeyType::Integer),
            Some(other) => {
                return Err(format!(
                    "key {pointer:?} is {}; keys must be strings or integers",
                    describe(other)
                ));
            }
        };
        match self.fixed {
            _ if self.text_mode => {}
            None => self.fixed = Some(ty),
            Some(fixed) if fixed != ty => {
                return Err(format!(
                    "key {pointer:?} is {} ({text:?}) but this table's keys are {} \
                     ({}), and both would be stored as the same text",
                    ty.article(),
                    fixed.plural(),
                    if self.stored {
                        "stored by an earlier run"
                    } else {
                        "fixed by its first key"
                    }
                ));
            }
            Some(_) => {}
        }
        Ok(text)
    }
}

/// The JSON type of `v`, with an article, for messages.
pub(crate) fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a float",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Resolves a JSON pointer inside an object without rebuilding a `Value`.
pub(crate) fn pointer_in<'a>(fields: &'a serde_json::Map<String, Value>, pointer: &str) -> Option<&'a Value> {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn strings_and_integers_are_keys_and_nothing_else_is() {
        let mut keys = KeyTexts::default();
        assert_eq!(keys.text("/id", Some(&json!(7))).unwrap(), "7");
        assert_eq!(
            keys.text("/id", Some(&json!(u64::MAX))).unwrap(),
            u64::MAX.to_string()
        );
        for bad in [json!(7.0), json!(true), json!(null), json!([1]), json!({})] {
            let err = keys.text("/id", Some(&bad)).unwrap_err();
            assert!(err.contains("must be strings or integers"), "{bad}: {err}");
        }
        assert!(keys.text("/id", None).unwrap_err().contains("missing"));
    }

    #[test]
    fn in_text_mode_integers_and_strings_share_one_text() {
        let mut keys = KeyTexts::default();
        keys.set_stored(KeyType::Integer);
        keys.set_text_mode();
        assert_eq!(keys.text("/id", Some(&json!(7))).unwrap(), "7");
        assert_eq!(keys.text("/id", Some(&json!("root"))).unwrap(), "root");
        assert_eq!(keys.text("/id", Some(&json!("7"))).unwrap(), "7");
        assert_eq!(keys.unstored(), None);
        assert!(keys.text("/id", Some(&json!(7.5))).is_err());
    }

    #[test]
    fn the_first_key_fixes_the_type() {
        let mut keys = KeyTexts::default();
        keys.text("/id", Some(&json!(7))).unwrap();
        let err = keys.text("/id", Some(&json!("7"))).unwrap_err();
        assert!(
            err.contains("is a string (\"7\") but this table's keys are integers"),
            "{err}"
        );
        let mut keys = KeyTexts::default();
        keys.text("/id", Some(&json!("true"))).unwrap();
        let err = keys.text("/id", Some(&json!(1))).unwrap_err();
        assert!(err.contains("keys are strings"), "{err}");
    }
}
