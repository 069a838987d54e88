//! Reading several top-level fields of a raw JSON object in one pass: what
//! a typed table's columns need from each `RawItem` when their pointers are
//! all `/name`, instead of one scan of the text per column.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

/// A set of field names read once per field of every item: hashed with
/// foldhash, not SipHash (the names are a table's columns, bounded).
pub(crate) type Names = std::collections::HashSet<String, foldhash::fast::RandomState>;

/// The field a one-segment pointer (`/name`, with `~0` and `~1` escapes)
/// names; `None` for a deeper or empty pointer.
pub(crate) fn top_level_name(pointer: &str) -> Option<String> {
    let name = pointer.strip_prefix('/')?;
    (!name.contains('/')).then(|| name.replace("~1", "/").replace("~0", "~"))
}

/// The values of `names` in the JSON object `text` (the first occurrence of
/// each), or `None` when `text` is not an object.
pub(crate) fn pick(text: &str, names: &[String]) -> Option<Vec<Option<Value>>> {
    let mut de = serde_json::Deserializer::from_str(text);
    Pick { names }.deserialize(&mut de).ok()
}

/// The top-level scalar fields of the JSON object `text` whose names are
/// not in `known` (inference's new fields), or `None` when `text` is not an
/// object; known fields and nested values are skipped unparsed.
pub(crate) fn unknown_scalars(text: &str, known: &Names) -> Option<Vec<(String, Value)>> {
    let mut de = serde_json::Deserializer::from_str(text);
    Unknown { known }.deserialize(&mut de).ok()
}

/// A field [`pick_and_scan`] found that is not a known column: a scalar
/// (or a value picked anyway) parsed, a nested value as its text.
#[derive(Debug)]
pub(crate) enum NewField<'t> {
    Parsed(Value),
    Nested(&'t serde_json::value::RawValue),
}

impl NewField<'_> {
    /// The value when it is a scalar: what inference types a column from.
    pub(crate) fn scalar(&self) -> Option<&Value> {
        match self {
            Self::Parsed(v) if !v.is_object() && !v.is_array() => Some(v),
            _ => None,
        }
    }

    /// The value, parsed.
    pub(crate) fn to_value(&self) -> Value {
        match self {
            Self::Parsed(v) => v.clone(),
            Self::Nested(raw) => serde_json::from_str(raw.get()).unwrap_or(Value::Null),
        }
    }
}

/// The fields of `text` [`pick`] reads and those not in `known` (every
/// occurrence, in order), in one pass over the text: what a batch of raw
/// items with inferred columns needs. `None` when `text` is not an object.
pub(crate) fn pick_and_scan<'t>(text: &'t str, names: &[String], known: &Names) -> Option<Picked<'t>> {
    let mut de = serde_json::Deserializer::from_str(text);
    PickAndScan { names, known }.deserialize(&mut de).ok()
}

/// [`pick_and_scan`]'s values: `names`' values, then the fields not known.
pub(crate) type Picked<'t> = (Vec<Option<Value>>, Vec<(Cow<'t, str>, NewField<'t>)>);

struct PickAndScan<'a> {
    names: &'a [String],
    known: &'a Names,
}

impl<'de> DeserializeSeed<'de> for PickAndScan<'_> {
    type Value = Picked<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PickAndScan<'_> {
    type Value = Picked<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out: Vec<Option<Value>> = vec![None; self.names.len()];
        let mut new = Vec::new();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let is_new = !self.known.contains(key.as_ref());
            match self.names.iter().position(|n| *n == key) {
                Some(at) => {
                    // As in `Pick`: the last of a repeated key, every name asking for it.
                    let value = map.next_value::<Value>()?;
                    let parsed = is_new.then(|| value.clone());
                    put(self.names, &mut out, at, &key, value);
                    if let Some(value) = parsed {
                        new.push((key, NewField::Parsed(value)));
                    }
                }
                None if is_new => {
                    let raw = map.next_value::<&'de serde_json::value::RawValue>()?;
                    let field = match raw.get().as_bytes().first() {
                        Some(b'{' | b'[') => NewField::Nested(raw),
                        _ => match serde_json::from_str(raw.get()) {
                            Ok(value) => NewField::Parsed(value),
                            Err(_) => continue,
                        },
                    };
                    new.push((key, field));
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok((out, new))
    }
}

struct Unknown<'a> {
    known: &'a Names,
}

impl<'de> DeserializeSeed<'de> for Unknown<'_> {
    type Value = Vec<(String, Value)>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Unknown<'_> {
    type Value = Vec<(String, Value)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if self.known.contains(key.as_ref()) {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let raw = map.next_value::<&'de serde_json::value::RawValue>()?;
            if matches!(raw.get().as_bytes().first(), Some(b'{' | b'[')) {
                continue;
            }
            if let Ok(value) = serde_json::from_str(raw.get()) {
                out.push((key.into_owned(), value));
            }
        }
        Ok(out)
    }
}

struct Pick<'a> {
    names: &'a [String],
}

/// A map key, borrowed from the text when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> DeserializeSeed<'de> for Pick<'_> {
    type Value = Vec<Option<Value>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Pick<'_> {
    type Value = Vec<Option<Value>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out: Vec<Option<Value>> = vec![None; self.names.len()];
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            match self.names.iter().position(|n| *n == key) {
                Some(at) => {
                    let value = map.next_value::<Value>()?;
                    put(self.names, &mut out, at, &key, value);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(out)
    }
}

/// Puts `value`, the value of field `key` found first asked for at `at`, in
/// `out` at every position whose name is `key`. A repeated key replaces the
/// earlier value, as in a `Value` and `RawItem::pointer`; a name asked for
/// twice (two columns, one field) gets it twice.
fn put(names: &[String], out: &mut [Option<Value>], at: usize, key: &str, value: Value) {
    for (j, n) in names.iter().enumerate().skip(at + 1) {
        if n == key {
            out[j] = Some(value.clone());
        }
    }
    out[at] = Some(value);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn picks_named_fields_in_one_pass() {
        let names: Vec<String> = ["b", "a/x", "missing", "b"].map(String::from).to_vec();
        let got = pick(r#"{"a": {"n": 1}, "b": [1, 2], "a/x": "s", "c": 3}"#, &names).unwrap();
        assert_eq!(
            got,
            [Some(json!([1, 2])), Some(json!("s")), None, Some(json!([1, 2]))]
        );
        assert_eq!(pick("[1]", &names), None);
        let last = pick(r#"{"b": 1, "b": 2}"#, &names).unwrap();
        assert_eq!(
            last[0],
            Some(json!(2)),
            "the last of a repeated key, as RawItem::pointer"
        );
        assert_eq!(top_level_name("/a~1x").as_deref(), Some("a/x"));
        let known = ["a".to_owned()].into_iter().collect();
        let new = unknown_scalars(
            r#"{"a": 1, "b": "x", "c": {"d": 1}, "e": [1], "f": null}"#,
            &known,
        )
        .unwrap();
        assert_eq!(new, [("b".to_owned(), json!("x")), ("f".to_owned(), json!(null))]);
        let text = r#"{"a": 1, "b": "x", "c": {"d": 1}, "id": 7, "b": "y", "f": null}"#;
        let (picked, new) = pick_and_scan(text, &["id".to_owned(), "a".to_owned()], &known).unwrap();
        assert_eq!(picked, [Some(json!(7)), Some(json!(1))]);
        let scalars: Vec<(&str, Option<&Value>)> =
            new.iter().map(|(k, v)| (k.as_ref(), v.scalar())).collect();
        assert_eq!(
            scalars,
            [
                ("b", Some(&json!("x"))),
                ("c", None),
                ("id", Some(&json!(7))),
                ("b", Some(&json!("y"))),
                ("f", Some(&json!(null)))
            ]
        );
        assert_eq!(new[1].1.to_value(), json!({"d": 1}));
        assert!(pick_and_scan("[1]", &[], &known).is_none());
        assert_eq!(top_level_name("/a/b"), None);
    }
}
