//! One JSON item kept as its text: the raw-JSON fast path's item type.
//!
//! Building a `serde_json::Value` tree for every item and serialising it
//! back for a database column is most of an end-to-end crawl's CPU. A
//! [`RawItem`] keeps the item's JSON text exactly as the server sent it;
//! the few fields anything needs (a key, a pagination pointer) are read
//! from the text on demand, and a sink writes the text as it is.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

/// One JSON value kept as its text (whitespace included), valid by
/// construction.
///
/// Sources that split a page into items without parsing them yield
/// `RawItem`s (see `crawlpipe_sources::RawJsonSource`), and the SQL sinks write them to
/// their `data` column without re-serialising
/// (`crawlpipe_sinks::DocumentSinkBuilder::build_raw`). A field is read from the text
/// with [`pointer`](Self::pointer); a transform that needs the whole tree
/// parses it with [`to_value`](Self::to_value) or [`parse`](Self::parse).
///
/// Serializing a `RawItem` (serde) writes its text verbatim, so the JSON
/// Lines and stdout sinks take it too. Two items are equal when their texts
/// are.
///
/// # Examples
///
/// ```
/// use crawlpipe_core::RawItem;
/// use serde_json::json;
///
/// let item = RawItem::new(r#"{"id": 7, "user": {"login": "ana"}, "body": "…"}"#)?;
/// assert_eq!(item.pointer("/id"), Some(json!(7)));
/// assert_eq!(item.pointer("/user/login"), Some(json!("ana")));
/// assert_eq!(item.pointer("/missing"), None);
/// assert_eq!(item.to_value()?["user"]["login"], "ana");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone)]
pub struct RawItem(Box<RawValue>);

impl RawItem {
    /// Checks that `json` is one JSON value and keeps it as it is.
    ///
    /// # Errors
    ///
    /// serde_json's error for text that is not exactly one JSON value.
    pub fn new(json: impl Into<String>) -> Result<Self, serde_json::Error> {
        RawValue::from_string(json.into()).map(Self)
    }

    /// Wraps text that serde_json has already checked.
    pub fn from_raw(raw: Box<RawValue>) -> Self {
        Self(raw)
    }

    /// The compact text of `value`.
    pub fn from_value(value: &Value) -> Self {
        // A `Value` always serializes; the default (`null`) only satisfies the type.
        Self(serde_json::value::to_raw_value(value).unwrap_or_default())
    }

    /// The item's JSON text, exactly as received.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// The text as serde_json's [`RawValue`].
    pub fn as_raw(&self) -> &RawValue {
        &self.0
    }

    /// The value at a JSON pointer (RFC 6901, e.g. `/id` or `/meta/0/uuid`),
    /// read from the text without building the rest of the tree; `None` when
    /// nothing is there. Same answers as [`Value::pointer`] on the parsed
    /// item, duplicate object keys included (the last one wins); `""` is the
    /// whole item.
    ///
    /// A value there that cannot be read as a [`Value`] answers `None` too;
    /// [`try_pointer`](Self::try_pointer) tells the two apart.
    pub fn pointer(&self, pointer: &str) -> Option<Value> {
        self.try_pointer(pointer).ok().flatten()
    }

    /// As [`pointer`](Self::pointer), telling a value that is there but
    /// cannot be read as a [`Value`] from one that is not there.
    ///
    /// # Errors
    ///
    /// serde_json's error when the value at the pointer is valid JSON a
    /// [`Value`] cannot hold: a number beyond `f64`'s range (`1e400`), or
    /// arrays and objects nested more than 128 deep.
    ///
    /// ```
    /// use crawlpipe_core::RawItem;
    ///
    /// let item = RawItem::new(r#"{"id": 7, "size": 1e400}"#).unwrap();
    /// assert_eq!(item.try_pointer("/id").unwrap(), Some(serde_json::json!(7)));
    /// assert_eq!(item.try_pointer("/name").unwrap(), None);
    /// assert!(item.try_pointer("/size").is_err());
    /// ```
    pub fn try_pointer(&self, pointer: &str) -> Result<Option<Value>, serde_json::Error> {
        if pointer.is_empty() {
            return self.to_value().map(Some);
        }
        if !pointer.starts_with('/') {
            return Ok(None);
        }
        let mut de = serde_json::Deserializer::from_str(self.as_str());
        // The text was checked when the item was made, so a walk fails only
        // on the value it is after (see the errors above). The pointer's
        // segments are read as the walk goes down, unescaped only when they
        // hold a `~`: a key lookup allocates nothing but its answer.
        At(pointer).deserialize(&mut de)
    }

    /// The whole item as a `Value`.
    ///
    /// # Errors
    ///
    /// serde_json's error when the item holds valid JSON a [`Value`] cannot
    /// hold (see [`try_pointer`](Self::try_pointer)).
    pub fn to_value(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_str(self.as_str())
    }

    /// The whole item as a `Value`, leaving out what a `Value` cannot hold
    /// (see [`try_pointer`](Self::try_pointer)): such a member is left out
    /// of its object, such an element becomes `null` (the later elements
    /// keep their indexes). What a reader of some fields (a child's
    /// request, a cursor) can still use. Below 16 levels of containers one
    /// that cannot be read is left out whole (each level reads its text
    /// again: the bound keeps the work within a few dozen parses of the
    /// item whatever its depth); `Value::Null` when nothing is left.
    ///
    /// ```
    /// use crawlpipe_core::RawItem;
    /// use serde_json::json;
    ///
    /// let item = RawItem::new(r#"{"id": 7, "size": 1e400, "meta": {"n": [1, -1e999]}}"#).unwrap();
    /// assert!(item.to_value().is_err());
    /// assert_eq!(item.to_value_lossy(), json!({"id": 7, "meta": {"n": [1, null]}}));
    /// ```
    pub fn to_value_lossy(&self) -> Value {
        lossy(&self.0, LOSSY_DEPTH).unwrap_or(Value::Null)
    }

    /// The item deserialized as `T`.
    ///
    /// # Errors
    ///
    /// serde_json's error when the item does not fit `T`.
    pub fn parse<'a, T: Deserialize<'a>>(&'a self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.as_str())
    }

    /// The text as serde_json's boxed [`RawValue`].
    pub fn into_raw(self) -> Box<RawValue> {
        self.0
    }
}

impl fmt::Debug for RawItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RawItem").field(&self.as_str()).finish()
    }
}

impl fmt::Display for RawItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq for RawItem {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for RawItem {}

impl From<&Value> for RawItem {
    fn from(value: &Value) -> Self {
        Self::from_value(value)
    }
}

impl Serialize for RawItem {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RawItem {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(deserializer).map(Self)
    }
}

/// Levels [`RawItem::to_value_lossy`] goes down into containers a `Value`
/// cannot hold. Each level parses its container's text again, so the work
/// is at most about twice this many parses of the item, and the recursion
/// is bounded whatever the input's depth.
const LOSSY_DEPTH: usize = 16;

/// `raw` as a `Value`, or, when a `Value` cannot hold it, its members and
/// elements that can be held, `depth` levels down; `None`: nothing.
fn lossy(raw: &RawValue, depth: usize) -> Option<Value> {
    if let Ok(value) = serde_json::from_str(raw.get()) {
        return Some(value);
    }
    let depth = depth.checked_sub(1)?;
    match raw.get().as_bytes().first() {
        Some(b'{') => {
            // A repeated name keeps its last value, as in a `Value`.
            let members: std::collections::BTreeMap<String, &RawValue> =
                serde_json::from_str(raw.get()).ok()?;
            let kept = members
                .into_iter()
                .filter_map(|(name, v)| Some((name, lossy(v, depth)?)));
            Some(Value::Object(kept.collect()))
        }
        Some(b'[') => {
            let elements: Vec<&RawValue> = serde_json::from_str(raw.get()).ok()?;
            let kept = elements
                .into_iter()
                .map(|v| lossy(v, depth).unwrap_or(Value::Null));
            Some(Value::Array(kept.collect()))
        }
        _ => None,
    }
}

/// Finds the value under the rest of a pointer: `""` (this value) or
/// `/segment…`.
struct At<'p>(&'p str);

impl<'de> DeserializeSeed<'de> for At<'_> {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        let Some(tail) = self.0.strip_prefix('/') else {
            return Value::deserialize(d).map(Some);
        };
        let (head, rest) = tail.find('/').map_or((tail, ""), |i| tail.split_at(i));
        let head = match head.contains('~') {
            true => Cow::Owned(head.replace("~1", "/").replace("~0", "~")),
            false => Cow::Borrowed(head),
        };
        d.deserialize_any(Walk { head: &head, rest })
    }
}

/// Looks for `head` in an object or array, skipping everything else
/// unparsed; `rest` is the pointer below it.
struct Walk<'p> {
    head: &'p str,
    rest: &'p str,
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(hit) = map.next_key_seed(KeyIs(self.head))? {
            if hit {
                // A repeated key replaces the earlier value, as in a `Value`.
                found = map.next_value_seed(At(self.rest))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let wanted = array_index(self.head);
        let mut found = None;
        let mut i = 0;
        loop {
            if Some(i) == wanted {
                match seq.next_element_seed(At(self.rest))? {
                    Some(v) => found = v,
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            i += 1;
        }
        Ok(found)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// An array index as RFC 6901 spells it: digits, no sign, no leading zero.
fn array_index(segment: &str) -> Option<usize> {
    if segment.starts_with('+') || (segment.starts_with('0') && segment.len() != 1) {
        return None;
    }
    segment.parse().ok()
}

/// Whether an object key equals the wanted segment (escapes decoded).
struct KeyIs<'p>(&'p str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_lossy_value_of_hostile_depth_is_bounded() {
        let n = 100_000;
        let item = RawItem::new(format!("{}1e400{}", "[".repeat(n), "]".repeat(n))).unwrap();
        assert!(item.try_pointer("/0").is_err());
        let mut value = &item.to_value_lossy();
        let mut depth = 0;
        while let Value::Array(inner) = value {
            value = &inner[0];
            depth += 1;
        }
        assert_eq!((depth, value), (LOSSY_DEPTH, &Value::Null));
    }

    #[test]
    fn pointers_answer_as_value_pointer_does() {
        let text = r#" {"id": 7, "s": "x\"y", "a": [1, {"b~/c": true}, [null]],
            "big": 18446744073709551615, "f": 7.5, "e": "\u00e9", "id": 8,
            "nested": {"deep": {"x": [0, 1, 2]}}, "": {"": 3}} "#;
        let item = RawItem::new(text).unwrap();
        let value: Value = serde_json::from_str(text).unwrap();
        for p in [
            "",
            "/id",
            "/s",
            "/a",
            "/a/0",
            "/a/1/b~0~1c",
            "/a/2/0",
            "/a/3",
            "/a/01",
            "/a/+1",
            "/big",
            "/f",
            "/e",
            "/nested/deep/x/2",
            "/nested/deep/x/-",
            "/missing",
            "/id/x",
            "/s/0",
            "/",
            "//",
            "/a/1/b~0~1c/x",
            "id",
        ] {
            assert_eq!(item.pointer(p), value.pointer(p).cloned(), "pointer {p:?}");
        }
        assert_eq!(item.pointer("/id"), Some(json!(8)), "the last duplicate wins");
    }

    #[test]
    fn text_is_kept_and_serialized_verbatim() {
        let text = "{ \"b\": 1,  \"a\": [1.50, 2e3] }";
        let item = RawItem::new(text).unwrap();
        assert_eq!(item.as_str(), text);
        assert_eq!(serde_json::to_string(&item).unwrap(), text);
        assert_eq!(serde_json::to_string(&[&item]).unwrap(), format!("[{text}]"));
        assert_eq!(item.to_value().unwrap(), json!({"a": [1.5, 2000.0], "b": 1}));
        assert!(RawItem::new("{\"a\": 1} x").is_err());
        assert!(RawItem::new("").is_err());
        let back: RawItem = serde_json::from_str(&format!("  {text}")).unwrap();
        assert_eq!(back, item);
        assert_eq!(RawItem::from_value(&json!({"k": [1]})).as_str(), r#"{"k":[1]}"#);
    }
}
