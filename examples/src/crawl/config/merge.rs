//! `[defaults]` merged under each `[[collection]]`, deserialized with spans.
//!
//! The merge works on the parsed TOML tables, before any type is involved,
//! so every key of the source's config type is a default automatically:
//! a collection's key replaces the default's whole value (a `retry` or
//! `breaker` table too, so a collection never gets half of each), except
//! `headers`, which merge by header name. Values keep the span they had in
//! the file, so an error in a value that came from `[defaults]` names the
//! line in `[defaults]`.

use std::ops::Range;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// Keys whose tables merge entry by entry instead of being replaced.
const MERGED_BY_NAME: &[&str] = &["headers"];

/// `defaults` with every key of `collection` laid over it.
pub(super) fn merge<'i>(defaults: &DeTable<'i>, collection: &DeTable<'i>) -> DeTable<'i> {
    let mut out = defaults.clone();
    for (key, value) in collection {
        let name: &str = key.get_ref();
        let merged = match (out.remove(name), value.get_ref()) {
            (Some(base), DeValue::Table(over)) if MERGED_BY_NAME.contains(&name) => match base.into_inner() {
                DeValue::Table(mut table) => {
                    for (k, v) in over {
                        table.remove(&**k.get_ref());
                        table.insert(k.clone(), v.clone());
                    }
                    Spanned::new(value.span(), DeValue::Table(table))
                }
                _ => value.clone(),
            },
            _ => value.clone(),
        };
        out.insert(key.clone(), merged);
    }
    out
}

/// Moves the entries named in `keys` out of `table` into a table of their own.
pub(super) fn split_off<'i>(table: &mut DeTable<'i>, keys: &[&str]) -> DeTable<'i> {
    let mut taken = DeTable::new();
    for key in keys {
        if let Some((k, v)) = table.remove_entry(*key) {
            taken.insert(k, v);
        }
    }
    taken
}

/// Deserializes a table, keeping toml's errors with their line, column and
/// the offending text (`text` is the whole file the spans point into).
pub(super) fn deserialize<T: DeserializeOwned>(
    table: DeTable<'_>,
    span: Range<usize>,
    text: &str,
) -> Result<T, toml::de::Error> {
    let de = toml::de::Deserializer::from(Spanned::new(span, table));
    T::deserialize(de).map_err(|mut e| {
        e.set_input(Some(text));
        e
    })
}

/// The 1-based line of byte `offset` in `text`.
pub(super) fn line_at(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(0, |before| before.matches('\n').count())
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> DeTable<'_> {
        DeTable::parse(text).unwrap().into_inner()
    }

    #[test]
    fn collection_keys_win_whole_and_headers_merge_by_name() {
        let defaults = table(
            "retry = { max_attempts = 3, initial_backoff_ms = 7 }\nmin_delay_ms = 5\nheaders = { A = \"1\", B = \"2\" }\n",
        );
        let collection = table("retry = { max_attempts = 9 }\nheaders = { B = \"3\" }\n");
        let merged = merge(&defaults, &collection);
        let retry = merged.get("retry").unwrap().get_ref().as_table().unwrap();
        assert_eq!(
            retry.len(),
            1,
            "the collection's retry replaces the default's whole"
        );
        assert!(merged.get("min_delay_ms").is_some());
        let headers = merged.get("headers").unwrap().get_ref().as_table().unwrap();
        assert_eq!(headers.get("A").unwrap().get_ref().as_str(), Some("1"));
        assert_eq!(headers.get("B").unwrap().get_ref().as_str(), Some("3"));
    }

    #[test]
    fn lines_count_from_one() {
        assert_eq!(line_at("a\nb\nc", 0), 1);
        assert_eq!(line_at("a\nb\nc", 2), 2);
        assert_eq!(line_at("a\nb\nc", 4), 3);
    }
}
