//! Splitting a JSON page into raw items in one pass: the items array at a
//! pointer becomes one [`RawItem`] per element (its text copied, never
//! parsed into a tree), and the rest of the body becomes a `Value` for the
//! paginator and the GraphQL check.
//!
//! An object at the pointer is one record: the first pass only notes it
//! (skipping it unparsed), and [`capture`] takes its text in a second pass,
//! so the array case, the hot one, pays nothing for it.

use std::fmt;

use crawlpipe_core::RawItem;
use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// What a page holds at its items pointer.
#[derive(Debug, PartialEq)]
pub(crate) enum Node {
    /// An array: its elements' texts (or, from [`capture`], the object's).
    Items(Vec<RawItem>),
    /// An object, one record: its text is taken by [`capture`].
    Object,
    /// Anything else.
    Other(Value),
}

/// A page split at its items pointer.
#[derive(Debug)]
pub(crate) struct RawPage {
    /// The body with the items node replaced by `null`.
    pub(crate) body: Value,
    /// What was at the pointer; `None`: nothing was there.
    pub(crate) items: Option<Node>,
}

/// Splits `body` at the JSON pointer `items` (`""`: the body is the array).
///
/// Valid JSON a `Value` cannot hold (a number beyond `f64`'s range,
/// nesting deeper than 128) outside the items is left out of the body's
/// `Value` (an array's element becomes `null`), so it fails no page whose
/// paginator does not read it; the items keep their text as it is.
pub(crate) fn split(body: &[u8], items: &str) -> Result<RawPage, serde_json::Error> {
    // The careful pass (each value's text checked, then parsed) only after
    // the fast one failed: the error of a body that is not JSON is its own.
    split_with(body, items, false, false).or_else(|e| split_with(body, items, false, true).map_err(|_| e))
}

/// Splits `body` as [`split`], taking the node at `items` whole as one
/// record's text: the second pass for a page whose node is an object.
pub(crate) fn capture(body: &[u8], items: &str) -> Result<RawPage, serde_json::Error> {
    split_with(body, items, true, false).or_else(|e| split_with(body, items, true, true).map_err(|_| e))
}

fn split_with(body: &[u8], items: &str, whole: bool, careful: bool) -> Result<RawPage, serde_json::Error> {
    let segments: Vec<String> = match items.strip_prefix('/') {
        Some(rest) => rest
            .split('/')
            .map(|s| s.replace("~1", "/").replace("~0", "~"))
            .collect(),
        None => Vec::new(),
    };
    let mut found = None;
    let mut de = serde_json::Deserializer::from_slice(body);
    let body = Split {
        segments: &segments,
        items: &mut found,
        whole,
        careful,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(RawPage { body, items: found })
}

/// Builds the `Value` of a node on the items' path.
struct Split<'p> {
    segments: &'p [String],
    items: &'p mut Option<Node>,
    /// Take the items node as one record's text.
    whole: bool,
    /// Read each value off the items' path as text first, leaving out what
    /// a `Value` cannot hold instead of failing.
    careful: bool,
}

impl<'de> DeserializeSeed<'de> for Split<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        if self.segments.is_empty() {
            *self.items = Some(match self.whole {
                true => Node::Items(vec![RawItem::from_raw(Box::<RawValue>::deserialize(d)?)]),
                false => d.deserialize_any(Items)?,
            });
            return Ok(Value::Null);
        }
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Split<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let (head, rest) = (&self.segments[0], &self.segments[1..]);
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = if key == *head {
                // A repeated key replaces the earlier value, as in a `Value`.
                *self.items = None;
                map.next_value_seed(Split {
                    segments: rest,
                    items: &mut *self.items,
                    whole: self.whole,
                    careful: self.careful,
                })?
            } else if self.careful {
                let Some(value) = lossy(map.next_value::<&'de RawValue>()?) else {
                    // Left out, replacing an earlier value of the same name.
                    out.remove(&key);
                    continue;
                };
                value
            } else {
                map.next_value()?
            };
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let (head, rest) = (&self.segments[0], &self.segments[1..]);
        let wanted = array_index(head);
        let mut out = Vec::new();
        loop {
            let next = if Some(out.len()) == wanted {
                seq.next_element_seed(Split {
                    segments: rest,
                    items: &mut *self.items,
                    whole: self.whole,
                    careful: self.careful,
                })?
            } else if self.careful {
                // `null` in its place keeps the later elements' indexes.
                (seq.next_element::<&'de RawValue>()?).map(|raw| lossy(raw).unwrap_or(Value::Null))
            } else {
                seq.next_element()?
            };
            match next {
                Some(v) => out.push(v),
                None => return Ok(Value::Array(out)),
            }
        }
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

use crate::json::records::array_index;

/// `raw` as a `Value`, leaving out what a `Value` cannot hold (see
/// `RawItem::to_value_lossy`); `None` when that is all of it.
fn lossy(raw: &RawValue) -> Option<Value> {
    // A readable value (`null` included) as it is, without a copy.
    if let Ok(value) = serde_json::from_str(raw.get()) {
        return Some(value);
    }
    match RawItem::from_raw(raw.to_owned()).to_value_lossy() {
        Value::Null => None,
        value => Some(value),
    }
}

/// The items node: each element's text, an object noted, or the value found instead.
struct Items;

impl<'de> Visitor<'de> for Items {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of items")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(128));
        while let Some(raw) = seq.next_element::<Box<RawValue>>()? {
            items.push(RawItem::from_raw(raw));
        }
        Ok(Node::Items(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        IgnoredAny::deserialize(MapAccessDeserializer::new(map)).map(|_| Node::Object)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Node::Other(Value::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Node::Other(Value::from(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Node::Other(Value::from(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Node::Other(Value::from(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Node::Other(Value::String(v.to_owned())))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Node::Other(Value::Null))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn texts(page: &RawPage) -> Vec<&str> {
        match &page.items {
            Some(Node::Items(items)) => items.iter().map(RawItem::as_str).collect(),
            other => panic!("no items: {other:?}"),
        }
    }

    #[test]
    fn items_keep_their_text_and_the_rest_is_a_value() {
        let body = br#"{"data": {"items": [ {"id": 1,  "x": [1, 2]}, {"id":"b"} ], "next": "c2"},
            "total": 2}"#;
        let page = split(body, "/data/items").unwrap();
        assert_eq!(texts(&page), [r#"{"id": 1,  "x": [1, 2]}"#, r#"{"id":"b"}"#]);
        assert_eq!(
            page.body,
            json!({"data": {"items": null, "next": "c2"}, "total": 2})
        );
    }

    #[test]
    fn a_root_array_and_array_indexes_work() {
        let page = split(b" [1, {\"a\": 2}] ", "").unwrap();
        assert_eq!(texts(&page), ["1", "{\"a\": 2}"]);
        assert_eq!(page.body, Value::Null);
        let page = split(br#"{"pages": [{"items": []}, {"items": [3]}]}"#, "/pages/1/items").unwrap();
        assert_eq!(texts(&page), ["3"]);
        assert_eq!(page.body, json!({"pages": [{"items": []}, {"items": null}]}));
    }

    #[test]
    fn a_missing_or_wrong_node_is_reported() {
        let page = split(br#"{"items": {"a": 1}}"#, "/items").unwrap();
        assert_eq!(page.items, Some(Node::Object));
        let page = split(br#"{"items": null}"#, "/items").unwrap();
        assert_eq!(page.items, Some(Node::Other(Value::Null)));
        let page = split(br#"{"items": "x"}"#, "/items").unwrap();
        assert_eq!(page.items, Some(Node::Other(json!("x"))));
        let page = split(br#"{"errors": [{"message": "no"}]}"#, "/data/items").unwrap();
        assert!(page.items.is_none());
        assert_eq!(page.body, json!({"errors": [{"message": "no"}]}));
        let page = split(br#"{"data": 1}"#, "/data/items").unwrap();
        assert!(page.items.is_none());
    }

    #[test]
    fn the_last_duplicate_key_wins() {
        let page = split(br#"{"items": [1], "items": {"x": 1}}"#, "/items").unwrap();
        assert_eq!(page.items, Some(Node::Object));
        let page = split(br#"{"d": {"items": [1]}, "d": 2}"#, "/d/items").unwrap();
        assert!(page.items.is_none());
    }

    #[test]
    fn an_object_is_captured_whole_with_its_text() {
        let body = br#"{"me": {"id": 7,  "name": "ana"}, "meta": 1}"#;
        let page = capture(body, "/me").unwrap();
        assert_eq!(texts(&page), [r#"{"id": 7,  "name": "ana"}"#]);
        assert_eq!(page.body, json!({"me": null, "meta": 1}));
        let page = capture(br#" {"id": 1} "#, "").unwrap();
        assert_eq!(texts(&page), [r#"{"id": 1}"#]);
    }

    #[test]
    fn valid_json_a_value_cannot_hold_is_left_out_of_the_body() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let body = format!(
            r#"{{"meta": {{"x": 1e400, "y": 2}}, "n": 1, "n": {deep}, "d": {{"items": [{{"v": 1e400}}]}},
                "list": [1e400, 3], "next": "c", "z": [{deep}], "gone": 1e400, "kept": null}}"#
        );
        let page = split(body.as_bytes(), "/d/items").unwrap();
        assert_eq!(texts(&page), [r#"{"v": 1e400}"#], "items keep their text");
        let body = &page.body;
        assert!(body.get("gone").is_none());
        assert_eq!(body.get("kept"), Some(&Value::Null), "a null is kept");
        assert_eq!(body["meta"], json!({"y": 2}));
        assert_eq!(body["d"], json!({"items": null}));
        assert_eq!(body["list"], json!([null, 3]));
        assert_eq!(body["next"], json!("c"));
        // Deep nesting is kept as far as it can be read (the last `n` replaced the first).
        assert!(
            body["n"].is_array() && body["z"].is_array(),
            "{:.200}",
            body.to_string()
        );
        let page = capture(br#"{"me": {"id": 1}, "x": -1e999}"#, "/me").unwrap();
        assert_eq!(texts(&page), [r#"{"id": 1}"#]);
        assert_eq!(page.body, json!({"me": null}));
        let err = split(br#"{"items": [1], "x": 1e400"#, "/items").unwrap_err();
        assert!(
            err.to_string().contains("out of range"),
            "the fast pass's error: {err}"
        );
    }

    #[test]
    fn bad_json_is_an_error() {
        assert!(split(b"<html>", "/items").is_err());
        assert!(split(br#"{"items": [1, 2"#, "/items").is_err());
        assert!(split(br#"{"items": [1]} trailing"#, "/items").is_err());
        assert!(split(b"{\"items\": [\"\xff\"]}", "/items").is_err());
    }
}
