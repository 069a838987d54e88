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

/// The values of `names` in the JSON object `text`, or `None` when `text`
/// is not an object.
pub(crate) fn pick(text: &str, names: &[String]) -> Option<Picks> {
    let read = |careful| {
        let mut de = serde_json::Deserializer::from_str(text);
        Pick { names, careful }.deserialize(&mut de).ok()
    };
    // A value a `Value` cannot hold stops the fast pass; the careful one
    // (each value's text checked, then read) tells which.
    read(false).or_else(|| read(true))
}

/// What [`pick`] found: a value per name (`None`: not there, or not
/// readable), and the names' positions whose value is there but cannot be
/// read as a `Value` (a number beyond `f64`'s range, nesting deeper than
/// 128), with serde_json's reason.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Picks {
    pub(crate) values: Vec<Option<Value>>,
    pub(crate) unreadable: Vec<(usize, String)>,
}

impl Picks {
    /// No value for any of `len` names.
    pub(crate) fn new(len: usize) -> Self {
        Self {
            values: vec![None; len],
            unreadable: Vec::new(),
        }
    }

    /// Puts `value`, the value of field `key` found first asked for at
    /// `at`, at every position whose name is `key`. A repeated key replaces
    /// the earlier value, as in a `Value` and `RawItem::pointer`; a name
    /// asked for twice (two columns, one field) gets it twice.
    fn put(&mut self, names: &[String], at: usize, key: &str, value: Result<Value, String>) {
        if !self.unreadable.is_empty() {
            self.unreadable.retain(|(j, _)| names[*j] != key);
        }
        let value = match value {
            Ok(value) => value,
            Err(why) => {
                for (j, n) in names.iter().enumerate().skip(at) {
                    if n == key {
                        self.values[j] = None;
                        self.unreadable.push((j, why.clone()));
                    }
                }
                return;
            }
        };
        for (j, n) in names.iter().enumerate().skip(at + 1) {
            if n == key {
                self.values[j] = Some(value.clone());
            }
        }
        self.values[at] = Some(value);
    }
}

/// The next value of `map` as a `Value`: parsed directly, or, `careful`,
/// its text checked first so a value a `Value` cannot hold is an `Err`
/// with the reason instead of an error that ends the pass.
fn next_value<'de, A: MapAccess<'de>>(map: &mut A, careful: bool) -> Result<Result<Value, String>, A::Error> {
    if !careful {
        return map.next_value::<Value>().map(Ok);
    }
    let raw = map.next_value::<&'de serde_json::value::RawValue>()?;
    Ok(serde_json::from_str(raw.get()).map_err(|e| e.to_string()))
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
    /// A scalar a `Value` cannot hold (`1e400`), and why.
    Unreadable(String),
}

impl NewField<'_> {
    /// The value when it is a scalar: what inference types a column from.
    pub(crate) fn scalar(&self) -> Option<&Value> {
        match self {
            Self::Parsed(v) if !v.is_object() && !v.is_array() => Some(v),
            _ => None,
        }
    }

    /// The value, parsed; `Err` with the reason when a `Value` cannot hold it.
    pub(crate) fn to_value(&self) -> Result<Value, String> {
        match self {
            Self::Parsed(v) => Ok(v.clone()),
            Self::Nested(raw) => serde_json::from_str(raw.get()).map_err(|e| e.to_string()),
            Self::Unreadable(why) => Err(why.clone()),
        }
    }
}

/// The fields of `text` [`pick`] reads and those not in `known` (every
/// occurrence, in order), in one pass over the text: what a batch of raw
/// items with inferred columns needs. `None` when `text` is not an object.
pub(crate) fn pick_and_scan<'t>(text: &'t str, names: &[String], known: &Names) -> Option<Picked<'t>> {
    let read = |careful| {
        let mut de = serde_json::Deserializer::from_str(text);
        PickAndScan {
            names,
            known,
            careful,
        }
        .deserialize(&mut de)
        .ok()
    };
    // As in `pick`: the careful pass only after the fast one failed.
    read(false).or_else(|| read(true))
}

/// [`pick_and_scan`]'s values: `names`' values, then the fields not known.
pub(crate) type Picked<'t> = (Picks, Vec<(Cow<'t, str>, NewField<'t>)>);

struct PickAndScan<'a> {
    names: &'a [String],
    known: &'a Names,
    careful: bool,
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
        let mut out = Picks::new(self.names.len());
        let mut new = Vec::new();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let is_new = !self.known.contains(key.as_ref());
            match self.names.iter().position(|n| *n == key) {
                Some(at) => {
                    // As in `Pick`: the last of a repeated key, every name asking for it.
                    let value = next_value(&mut map, self.careful)?;
                    let parsed = value.as_ref().ok().filter(|_| is_new).cloned();
                    out.put(self.names, at, &key, value);
                    if let Some(value) = parsed {
                        new.push((key, NewField::Parsed(value)));
                    }
                }
                None if is_new => {
                    let raw = map.next_value::<&'de serde_json::value::RawValue>()?;
                    let field = match raw.get().as_bytes().first() {
                        Some(b'{' | b'[') => NewField::Nested(raw),
                        // No evidence for inference; a mismatch if it has a column.
                        _ => match serde_json::from_str(raw.get()) {
                            Ok(value) => NewField::Parsed(value),
                            Err(e) => NewField::Unreadable(e.to_string()),
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
    careful: bool,
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
    type Value = Picks;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Pick<'_> {
    type Value = Picks;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Picks::new(self.names.len());
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            match self.names.iter().position(|n| *n == key) {
                Some(at) => {
                    let value = next_value(&mut map, self.careful)?;
                    out.put(self.names, at, &key, value);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(out)
    }
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
            got.values,
            [Some(json!([1, 2])), Some(json!("s")), None, Some(json!([1, 2]))]
        );
        assert!(got.unreadable.is_empty());
        assert_eq!(pick("[1]", &names), None);
        let last = pick(r#"{"b": 1, "b": 2}"#, &names).unwrap();
        assert_eq!(
            last.values[0],
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
        assert_eq!(picked.values, [Some(json!(7)), Some(json!(1))]);
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
        assert_eq!(new[1].1.to_value(), Ok(json!({"d": 1})));
        assert!(pick_and_scan("[1]", &[], &known).is_none());
        assert_eq!(top_level_name("/a/b"), None);
    }

    #[test]
    fn a_value_no_value_can_hold_is_unreadable_not_the_end_of_the_item() {
        // Valid JSON that serde_json's `Value` refuses: a number beyond f64, deep nesting.
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let text = format!(r#"{{"id": 1, "big": 1e400, "deep": {deep}, "b": 2, "big": 3, "n": -1e999}}"#);
        let names: Vec<String> = ["id", "deep", "n", "big", "n"].map(String::from).to_vec();
        let got = pick(&text, &names).unwrap();
        assert_eq!(got.values, [Some(json!(1)), None, None, Some(json!(3)), None]);
        let why: Vec<usize> = got.unreadable.iter().map(|(at, _)| *at).collect();
        assert_eq!(why, [1, 2, 4], "the repeated `big` is readable the second time");
        assert!(
            got.unreadable[0].1.contains("recursion limit"),
            "{:?}",
            got.unreadable
        );
        assert!(
            got.unreadable[1].1.contains("out of range"),
            "{:?}",
            got.unreadable
        );
        let known = ["id".to_owned()].into_iter().collect();
        let (picked, new) = pick_and_scan(&text, &names, &known).unwrap();
        assert_eq!(picked, got);
        let found: Vec<&str> = new.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(found, ["b", "big"], "unreadable picked fields are not new fields");
        let (_, new) = pick_and_scan(r#"{"x": 1e400}"#, &[], &known).unwrap();
        assert_eq!(new[0].1.scalar(), None, "no evidence for inference");
        assert!(new[0].1.to_value().unwrap_err().contains("out of range"));
        let nested = format!(r#"{{"x": {deep}}}"#);
        let (_, new) = pick_and_scan(&nested, &[], &known).unwrap();
        assert!(
            new[0].1.to_value().is_err(),
            "a nested new field is read only when asked"
        );
    }
}
