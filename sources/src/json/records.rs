//! Where a page's records are: the `items` path, its `*` segments, the
//! member name a record taken from an object keeps, and what a page
//! without records means.
//!
//! The rules, the same on the `Value` path and the raw-JSON fast path:
//! - the path is a JSON pointer (RFC 6901) whose segment `*` takes every
//!   element of an array or every value of an object, in document order;
//! - where the path ends, an array is a list of records (each element is
//!   one), an object is one record, null or nothing is "missing", and any
//!   other value fails the page;
//! - except that in a paginated collection a plain path (no `*`) must lead
//!   to an array: a page is a list there, and an object in its place is
//!   far more often a proxy's or server's error object (`{"error": …}`)
//!   than a record, so it fails the page and is retried like any glitch
//!   instead of being stored (single objects are single-page: `/me`, a
//!   child's `/things/{id}`);
//! - a missing node (anywhere on the path, under any `*`) fails the page,
//!   or, with [`ItemsMissing::Empty`], gives no records there;
//! - with `items_map_key`, a record reached through a `*` over an object
//!   gets that member's name as a field (it must be an object then).

use serde::Deserialize;
use serde_json::Value;

use crate::config::{HttpSourceConfig, Pagination};
use crate::error::SourceError;
use crate::paging::kind_of;

/// What a page without records at the items path means (`items_missing`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ItemsMissing {
    /// The page is malformed: retried like a glitch, then the collection
    /// fails naming the page (default).
    #[default]
    Fail,
    /// The page has no records (an API that leaves out an empty list); a
    /// GraphQL answer with errors and no data still fails.
    Empty,
}

/// One segment of the items path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// An object member or an array index.
    Key(String),
    /// Every element or value.
    Any,
}

/// Why a page has no records where its path says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    /// Nothing (or null) where the path leads, and that is a failure.
    Missing,
    /// Something that is neither records nor a record (its kind).
    NotRecords(&'static str),
    /// A record that cannot take the member name (its kind).
    NotAnObject(&'static str),
}

/// The records of one page.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Selected {
    pub(crate) records: Vec<Value>,
    /// Some part of the path led nowhere (only with [`ItemsMissing::Empty`]).
    pub(crate) missed: bool,
}

/// The configured `items`, parsed.
#[derive(Debug, Clone)]
pub(crate) struct RecordPath {
    pointer: String,
    segments: Vec<Segment>,
    wildcard: bool,
    /// Whether an object where the path ends is one record.
    objects: bool,
    map_key: Option<String>,
    missing: ItemsMissing,
}

impl RecordPath {
    /// Parses `items`, `items_missing` and `items_map_key`.
    ///
    /// # Errors
    ///
    /// [`SourceError::Config`] naming the key that is wrong.
    pub(crate) fn new(config: &HttpSourceConfig) -> Result<Self, SourceError> {
        let pointer = config.items.clone();
        let segments: Vec<Segment> = match pointer.strip_prefix('/') {
            Some(rest) => rest
                .split('/')
                .map(|s| match s {
                    "*" => Segment::Any,
                    s => Segment::Key(s.replace("~1", "/").replace("~0", "~")),
                })
                .collect(),
            None if pointer.is_empty() => Vec::new(),
            None => {
                return Err(SourceError::config(format!(
                    "items {pointer:?} is not a JSON pointer (it must be empty or start with '/')"
                )));
            }
        };
        let wildcard = segments.contains(&Segment::Any);
        if let Some(field) = &config.items_map_key {
            if field.is_empty() {
                return Err(SourceError::config("items_map_key must name a field"));
            }
            if !wildcard {
                return Err(SourceError::config(format!(
                    "items_map_key {field:?} needs a `*` in items (e.g. \"/rates/*\"): only a record \
                     taken from an object by `*` has a member name"
                )));
            }
        }
        Ok(Self {
            pointer,
            segments,
            wildcard,
            objects: wildcard || config.pagination == Pagination::None,
            map_key: config.items_map_key.clone(),
            missing: config.items_missing,
        })
    }

    /// The configured path.
    pub(crate) fn pointer(&self) -> &str {
        &self.pointer
    }

    /// Whether the path is a plain JSON pointer (no `*`).
    pub(crate) fn is_plain(&self) -> bool {
        !self.wildcard
    }

    /// Whether an object where the path ends is one record (else it
    /// fails the page).
    pub(crate) fn objects_are_records(&self) -> bool {
        self.objects
    }

    /// Whether a missing node means no records.
    pub(crate) fn missing_is_empty(&self) -> bool {
        self.missing == ItemsMissing::Empty
    }

    /// Takes the records out of `body` (what is left is for the paginator).
    pub(crate) fn select(&self, body: &mut Value) -> Result<Selected, Problem> {
        let mut out = Selected::default();
        self.walk(body, &self.segments, None, &mut out)?;
        Ok(out)
    }

    fn walk(
        &self,
        node: &mut Value,
        segments: &[Segment],
        name: Option<&str>,
        out: &mut Selected,
    ) -> Result<(), Problem> {
        let next = match segments.split_first() {
            None => return self.terminal(node.take(), name, out),
            Some((Segment::Key(key), rest)) => {
                let child = match node {
                    Value::Object(map) => map.get_mut(key),
                    Value::Array(items) => array_index(key).and_then(|i| items.get_mut(i)),
                    _ => None,
                };
                child.map(|c| (c, rest))
            }
            Some((Segment::Any, rest)) => {
                return match node {
                    Value::Array(items) => items
                        .iter_mut()
                        .try_for_each(|item| self.walk(item, rest, name, out)),
                    Value::Object(map) => map
                        .iter_mut()
                        .try_for_each(|(key, value)| self.walk(value, rest, Some(key), out)),
                    _ => self.missed(out),
                };
            }
        };
        match next {
            Some((child, rest)) => self.walk(child, rest, name, out),
            None => self.missed(out),
        }
    }

    fn missed(&self, out: &mut Selected) -> Result<(), Problem> {
        match self.missing {
            ItemsMissing::Empty => {
                out.missed = true;
                Ok(())
            }
            ItemsMissing::Fail => Err(Problem::Missing),
        }
    }

    fn terminal(&self, node: Value, name: Option<&str>, out: &mut Selected) -> Result<(), Problem> {
        match node {
            Value::Array(items) => {
                for item in items {
                    out.records.push(self.named(item, name)?);
                }
                Ok(())
            }
            Value::Object(_) if self.objects => {
                out.records.push(self.named(node, name)?);
                Ok(())
            }
            Value::Object(_) => Err(Problem::NotRecords("an object")),
            Value::Null => self.missed(out),
            other => Err(Problem::NotRecords(kind_of(&other))),
        }
    }

    /// `record` with the member name it was taken under, when it is kept.
    fn named(&self, record: Value, name: Option<&str>) -> Result<Value, Problem> {
        let (Some(field), Some(name)) = (&self.map_key, name) else {
            return Ok(record);
        };
        match record {
            Value::Object(mut map) => {
                map.insert(field.clone(), Value::String(name.to_owned()));
                Ok(Value::Object(map))
            }
            other => Err(Problem::NotAnObject(kind_of(&other))),
        }
    }
}

/// An array index as RFC 6901 spells it: digits, no sign, no leading zero.
pub(crate) fn array_index(segment: &str) -> Option<usize> {
    if segment.starts_with('+') || (segment.starts_with('0') && segment.len() != 1) {
        return None;
    }
    segment.parse().ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(key: &str, value: Value) -> Value {
        let mut map = serde_json::Map::new();
        map.insert(key.to_owned(), value);
        Value::Object(map)
    }

    fn path(items: &str, map_key: Option<&str>, missing: ItemsMissing) -> RecordPath {
        let mut config = HttpSourceConfig::new("http://x.test/").items(items);
        config.items_map_key = map_key.map(str::to_owned);
        config.items_missing = missing;
        RecordPath::new(&config).unwrap()
    }

    fn records(items: &str, body: Value) -> Result<Vec<Value>, Problem> {
        let mut body = body;
        path(items, None, ItemsMissing::Fail)
            .select(&mut body)
            .map(|s| s.records)
    }

    #[test]
    fn arrays_are_lists_and_objects_are_one_record() {
        assert_eq!(records("", json!([1, 2])).unwrap(), [json!(1), json!(2)]);
        assert_eq!(records("", json!({"id": 1})).unwrap(), [json!({"id": 1})]);
        assert_eq!(
            records("/me", json!({"me": {"id": 1}})).unwrap(),
            [json!({"id": 1})]
        );
        assert_eq!(
            records("/x", json!({"x": "s"})),
            Err(Problem::NotRecords("a string"))
        );
        assert_eq!(records("/x", json!({"x": null})), Err(Problem::Missing));
        assert_eq!(records("/x", json!({})), Err(Problem::Missing));
    }

    #[test]
    fn a_wildcard_takes_every_element_then_the_rest_of_the_path() {
        let body = json!({"adaccounts": [{"adaccount": {"id": "a"}}, {"adaccount": {"id": "b"}}]});
        assert_eq!(
            records("/adaccounts/*/adaccount", body).unwrap(),
            [json!({"id": "a"}), json!({"id": "b"})]
        );
        let body = json!({"groups": [{"items": [1, 2]}, {"items": [3]}]});
        assert_eq!(
            records("/groups/*/items", body).unwrap(),
            [json!(1), json!(2), json!(3)]
        );
        let body = json!({"groups": [{"items": [1]}, {"other": 2}]});
        assert_eq!(records("/groups/*/items", body.clone()), Err(Problem::Missing));
        let mut body = body;
        let lenient = path("/groups/*/items", None, ItemsMissing::Empty);
        let got = lenient.select(&mut body).unwrap();
        assert_eq!((got.records, got.missed), (vec![json!(1)], true));
    }

    #[test]
    fn values_of_an_object_keep_their_member_name() {
        let mut body = json!({"rates": {"2024-01-02": {"eur": 1}, "2024-01-03": {"eur": 2}}});
        let p = path("/rates/*", Some("date"), ItemsMissing::Fail);
        let got = p.select(&mut body).unwrap().records;
        assert_eq!(
            got,
            [
                json!({"date": "2024-01-02", "eur": 1}),
                json!({"date": "2024-01-03", "eur": 2})
            ]
        );
        let mut body = object("rates", json!({"d": [5]}));
        assert_eq!(p.select(&mut body), Err(Problem::NotAnObject("a number")));
    }

    #[test]
    fn a_paginated_plain_path_needs_an_array() {
        let config = HttpSourceConfig::new("http://x.test/")
            .items("/data")
            .pagination(Pagination::LinkHeader);
        let p = RecordPath::new(&config).unwrap();
        let mut body = json!({"data": {"error": "busy"}});
        assert_eq!(p.select(&mut body), Err(Problem::NotRecords("an object")));
        let config = config.items("/data/*");
        let mut body = json!({"data": [{"id": 1}]});
        assert_eq!(
            RecordPath::new(&config)
                .unwrap()
                .select(&mut body)
                .unwrap()
                .records
                .len(),
            1
        );
    }

    #[test]
    fn the_body_keeps_everything_but_the_records() {
        let mut body = json!({"data": {"id": 1}, "next": "c"});
        path("/data", None, ItemsMissing::Fail).select(&mut body).unwrap();
        assert_eq!(body, json!({"data": null, "next": "c"}));
    }

    #[test]
    fn bad_settings_are_refused() {
        let config = HttpSourceConfig::new("http://x.test/").items("data");
        assert!(RecordPath::new(&config).is_err());
        let config = HttpSourceConfig::new("http://x.test/")
            .items("/data")
            .items_map_key("date");
        let err = RecordPath::new(&config).unwrap_err().to_string();
        assert!(err.contains("needs a `*`"), "{err}");
    }
}
