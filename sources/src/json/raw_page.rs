//! Splitting a JSON page into raw items in one pass: the items array at a
//! pointer becomes one [`RawItem`] per element (its text copied, never
//! parsed into a tree), and the rest of the body becomes a `Value` for the
//! paginator and the GraphQL check.

use std::fmt;

use pipeline_core::RawItem;
use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// A page split at its items pointer.
#[derive(Debug)]
pub(crate) struct RawPage {
    /// The body with the items array replaced by `null`.
    pub(crate) body: Value,
    /// The items array, or what was there instead; `None`: nothing was there.
    pub(crate) items: Option<Result<Vec<RawItem>, Value>>,
}

/// Splits `body` at the JSON pointer `items` (`""`: the body is the array).
pub(crate) fn split(body: &[u8], items: &str) -> Result<RawPage, serde_json::Error> {
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
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(RawPage { body, items: found })
}

/// Builds the `Value` of a node on the items' path.
struct Split<'p> {
    segments: &'p [String],
    items: &'p mut Option<Result<Vec<RawItem>, Value>>,
}

impl<'de> DeserializeSeed<'de> for Split<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        if self.segments.is_empty() {
            *self.items = Some(d.deserialize_any(Items)?);
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
                })?
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
                })?
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

/// An array index as RFC 6901 spells it: digits, no sign, no leading zero.
fn array_index(segment: &str) -> Option<usize> {
    if segment.starts_with('+') || (segment.starts_with('0') && segment.len() != 1) {
        return None;
    }
    segment.parse().ok()
}

/// The items node: each element's text, or the value found instead of an array.
struct Items;

impl<'de> Visitor<'de> for Items {
    type Value = Result<Vec<RawItem>, Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of items")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(128));
        while let Some(raw) = seq.next_element::<Box<RawValue>>()? {
            items.push(RawItem::from_raw(raw));
        }
        Ok(Ok(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Value::deserialize(MapAccessDeserializer::new(map)).map(Err)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Err(Value::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Err(Value::from(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Err(Value::from(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Err(Value::from(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Err(Value::String(v.to_owned())))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Err(Value::Null))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn texts(page: &RawPage) -> Vec<&str> {
        match &page.items {
            Some(Ok(items)) => items.iter().map(RawItem::as_str).collect(),
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
        assert_eq!(page.items, Some(Err(json!({"a": 1}))));
        let page = split(br#"{"items": null}"#, "/items").unwrap();
        assert_eq!(page.items, Some(Err(Value::Null)));
        let page = split(br#"{"errors": [{"message": "no"}]}"#, "/data/items").unwrap();
        assert!(page.items.is_none());
        assert_eq!(page.body, json!({"errors": [{"message": "no"}]}));
        let page = split(br#"{"data": 1}"#, "/data/items").unwrap();
        assert!(page.items.is_none());
    }

    #[test]
    fn the_last_duplicate_key_wins() {
        let page = split(br#"{"items": [1], "items": {"x": 1}}"#, "/items").unwrap();
        assert_eq!(page.items, Some(Err(json!({"x": 1}))));
        let page = split(br#"{"d": {"items": [1]}, "d": 2}"#, "/d/items").unwrap();
        assert!(page.items.is_none());
    }

    #[test]
    fn bad_json_is_an_error() {
        assert!(split(b"<html>", "/items").is_err());
        assert!(split(br#"{"items": [1, 2"#, "/items").is_err());
        assert!(split(br#"{"items": [1]} trailing"#, "/items").is_err());
        assert!(split(b"{\"items\": [\"\xff\"]}", "/items").is_err());
    }
}
