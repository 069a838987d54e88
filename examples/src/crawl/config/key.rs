//! A collection's `key`: one JSON pointer, a composite of several parts
//! (`"parent"` being a child's parent key), or `false` for a keyless
//! collection; and its mapping onto the sink builders.

use std::fmt;

use crawlpipe_sinks::{DocumentSinkBuilder, KeyPart, RowSinkBuilder};
use serde::de::{self, Deserialize, Deserializer, SeqAccess, Visitor};
use serde_json::Value;

/// The part of a composite key naming the parent's key.
const PARENT_PART: &str = "parent";

/// `key = "/id"`, `key = ["/project_id", "/id"]` or `key = false`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyConfig {
    /// JSON: a pointer to each item's key. Scraping: a field name.
    Pointer(String),
    /// A composite key: pointers, and `"parent"` for a child's parent key.
    Parts(Vec<String>),
    /// `false`: no key; items are appended at their position in the run.
    Keyless,
}

impl KeyConfig {
    /// The scraped collection's key field, when the key is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Pointer(f) => Some(f),
            _ => None,
        }
    }

    /// Checks the key for a collection (`scraped`, a child when `child`);
    /// `Err` is the reason, as a sentence.
    pub(super) fn check(&self, scraped: bool, child: bool) -> Result<(), String> {
        match self {
            Self::Pointer(_) if scraped => Ok(()),
            Self::Pointer(p) if p.is_empty() || p.starts_with('/') => Ok(()),
            Self::Pointer(_) => Err("a JSON pointer starts with '/', e.g. \"/id\"".to_owned()),
            _ if scraped => Err("for a scraped collection, key must name one of scrape.fields".to_owned()),
            Self::Keyless => Ok(()),
            Self::Parts(parts) if parts.is_empty() => {
                Err("a composite key needs at least one part, e.g. [\"/project_id\", \"/id\"]".to_owned())
            }
            Self::Parts(parts) => parts.iter().try_for_each(|part| match part.as_str() {
                PARENT_PART if child => Ok(()),
                PARENT_PART => Err(
                    "the part \"parent\" is the parent's key: only a child collection \
                                    (with `parent`) has one"
                        .to_owned(),
                ),
                p if p.starts_with('/') => Ok(()),
                p => Err(format!(
                    "part {p:?} is neither a JSON pointer (starting with '/') nor \"parent\""
                )),
            }),
        }
    }

    /// The library's parts, each pointer under `prefix` (a child row's
    /// item is at `/data`).
    fn parts(parts: &[String], prefix: &str) -> Vec<KeyPart> {
        parts
            .iter()
            .map(|p| match p.as_str() {
                PARENT_PART => KeyPart::Parent,
                p => KeyPart::pointer(format!("{prefix}{p}")),
            })
            .collect()
    }

    /// `builder` keyed by this key (`None`: the default `/id`).
    pub fn documents(key: Option<&Self>, builder: DocumentSinkBuilder) -> DocumentSinkBuilder {
        match key {
            None => builder.key_pointer("/id"),
            Some(Self::Pointer(p)) => builder.key_pointer(p.clone()),
            Some(Self::Parts(parts)) => builder.key_parts(Self::parts(parts, "")),
            Some(Self::Keyless) => builder.keyless(),
        }
    }

    /// A child's rows builder (the item at `/data`) keyed by this key.
    pub fn child_rows(key: Option<&Self>, builder: RowSinkBuilder<Value>) -> RowSinkBuilder<Value> {
        match key {
            None => builder.key_pointer("/data/id"),
            Some(Self::Pointer(p)) => builder.key_pointer(format!("/data{p}")),
            Some(Self::Parts(parts)) => builder.key_parts(Self::parts(parts, "/data")),
            Some(Self::Keyless) => builder.keyless(),
        }
    }
}

impl<'de> Deserialize<'de> for KeyConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = KeyConfig;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a JSON pointer (\"/id\"), a list of parts ([\"/project_id\", \"/id\"], \"parent\" for a \
             child's parent key) or false (no key: items are appended)",
        )
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyConfig, E> {
        Ok(KeyConfig::Pointer(v.to_owned()))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<KeyConfig, E> {
        match v {
            false => Ok(KeyConfig::Keyless),
            true => Err(E::invalid_value(de::Unexpected::Bool(true), &self)),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<KeyConfig, A::Error> {
        let mut parts = Vec::new();
        while let Some(part) = seq.next_element::<String>()? {
            parts.push(part);
        }
        Ok(KeyConfig::Parts(parts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct T {
        key: KeyConfig,
    }

    fn key(toml: &str) -> Result<KeyConfig, String> {
        toml::from_str::<T>(toml)
            .map(|t| t.key)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn every_form_reads() {
        assert_eq!(key("key = \"/id\"").unwrap(), KeyConfig::Pointer("/id".into()));
        assert_eq!(
            key("key = [\"parent\", \"/email\"]").unwrap(),
            KeyConfig::Parts(vec!["parent".into(), "/email".into()])
        );
        assert_eq!(key("key = false").unwrap(), KeyConfig::Keyless);
        assert!(key("key = true").unwrap_err().contains("or false"));
        assert!(key("key = 3").is_err());
    }

    #[test]
    fn checks_name_what_is_wrong() {
        let parts = |p: &[&str]| KeyConfig::Parts(p.iter().map(|s| (*s).to_owned()).collect());
        assert!(parts(&["parent", "/email"]).check(false, true).is_ok());
        assert!(
            parts(&["parent"])
                .check(false, false)
                .unwrap_err()
                .contains("child collection")
        );
        assert!(
            parts(&["email"])
                .check(false, false)
                .unwrap_err()
                .contains("\"email\"")
        );
        assert!(parts(&[]).check(false, false).is_err());
        assert!(KeyConfig::Keyless.check(true, false).is_err());
        assert!(KeyConfig::Pointer("title".into()).check(true, false).is_ok());
        assert!(KeyConfig::Pointer("id".into()).check(false, false).is_err());
    }
}
