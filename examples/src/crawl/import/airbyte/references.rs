//! `$ref` and `"#/…"` references, resolved as Airbyte's
//! `ManifestReferenceResolver` does, before anything else reads the manifest.
//!
//! A string `"#/a/b"` is replaced by the value at that path; a mapping with a
//! `$ref` key is the referenced mapping with the mapping's own keys laid over
//! it. A path segment is first tried whole (`#/a/b` may name a key `"a/b"`),
//! then split at its first `/`, as Airbyte does. Cycles, undefined targets and
//! expansions past the node budget are errors naming the pointer.

use serde_json::{Map, Value};

use super::error::ImportError;

/// Recursion depth of the resolution (nesting plus reference chains).
const MAX_DEPTH: usize = 512;

struct Resolver<'a> {
    manifest: &'a Value,
    visiting: Vec<String>,
    nodes: usize,
    max_nodes: usize,
}

/// The manifest with every reference replaced by what it names.
///
/// # Errors
///
/// [`ImportError::Reference`] naming the pointer of the reference.
pub fn resolve(manifest: &Value, max_nodes: usize) -> Result<Value, ImportError> {
    let mut r = Resolver {
        manifest,
        visiting: Vec::new(),
        nodes: 0,
        max_nodes,
    };
    r.node(manifest, "", 0)
}

impl Resolver<'_> {
    fn fail(&self, pointer: &str, reference: &str, reason: &str) -> ImportError {
        ImportError::Reference {
            pointer: if pointer.is_empty() {
                "/".into()
            } else {
                pointer.to_owned()
            },
            reference: reference.to_owned(),
            reason: reason.to_owned(),
        }
    }

    fn node(&mut self, node: &Value, pointer: &str, depth: usize) -> Result<Value, ImportError> {
        if depth > MAX_DEPTH {
            return Err(self.fail(pointer, "", "references nest too deeply"));
        }
        self.nodes += 1;
        if self.nodes > self.max_nodes {
            return Err(self.fail(pointer, "", "references expand to too many nodes"));
        }
        match node {
            Value::Object(map) => {
                let mut own = Map::new();
                for (k, v) in map {
                    if k != "$ref" {
                        let child = format!("{pointer}/{}", escape(k));
                        own.insert(k.clone(), self.node(v, &child, depth + 1)?);
                    }
                }
                let Some(target) = map.get("$ref") else {
                    return Ok(Value::Object(own));
                };
                match self.node(target, &format!("{pointer}/$ref"), depth + 1)? {
                    Value::Object(mut base) => {
                        base.extend(own);
                        Ok(Value::Object(base))
                    }
                    other => Ok(other),
                }
            }
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| self.node(v, &format!("{pointer}/{i}"), depth + 1))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            Value::String(s) if s.starts_with("#/") => {
                if self.visiting.iter().any(|v| v == s) {
                    return Err(self.fail(pointer, s, "circular reference"));
                }
                let target = lookup(self.manifest, &s[2..])
                    .ok_or_else(|| self.fail(pointer, s, "names nothing in the manifest"))?;
                self.visiting.push(s.clone());
                let out = self.node(target, pointer, depth + 1);
                self.visiting.pop();
                out
            }
            other => Ok(other.clone()),
        }
    }
}

/// The value at an Airbyte reference path: the rest of the path whole
/// first, then its first segment (an index in an array).
fn lookup<'a>(mut node: &'a Value, mut path: &str) -> Option<&'a Value> {
    while !path.is_empty() {
        if let Some(v) = node.as_object().and_then(|m| m.get(path)) {
            return Some(v);
        }
        let (head, rest) = path.split_once('/').unwrap_or((path, ""));
        node = match node {
            Value::Object(m) => m.get(head)?,
            Value::Array(a) => a.get(head.parse::<usize>().ok()?)?,
            _ => return None,
        };
        path = rest;
    }
    Some(node)
}

/// A key as a JSON pointer segment.
pub(super) fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ref_keys_lay_own_keys_over_the_target() {
        let m = json!({"definitions": {"r": {"a": 1, "b": 2}}, "x": {"$ref": "#/definitions/r", "b": 3}, "y": "#/definitions/r/a"});
        let out = resolve(&m, 1000).unwrap();
        assert_eq!(out["x"], json!({"a": 1, "b": 3}));
        assert_eq!(out["y"], json!(1));
    }

    #[test]
    fn cycles_and_undefined_names_are_errors_naming_the_pointer() {
        let m = json!({"a": {"$ref": "#/b"}, "b": {"$ref": "#/a"}});
        let e = resolve(&m, 1000).unwrap_err().to_string();
        assert!(e.contains("circular"), "{e}");
        let m = json!({"streams": [{"$ref": "#/nope"}]});
        let e = resolve(&m, 1000).unwrap_err().to_string();
        assert!(
            e.contains("/streams/0/$ref") && e.contains("names nothing"),
            "{e}"
        );
    }

    #[test]
    fn exponential_references_stop_at_the_budget() {
        let mut m = serde_json::Map::new();
        m.insert("d0".into(), json!([1, 2, 3, 4, 5, 6, 7, 8]));
        for i in 1..30 {
            let r = format!("#/d{}", i - 1);
            m.insert(format!("d{i}"), json!([r, r, r, r]));
        }
        let e = resolve(&Value::Object(m), 100_000).unwrap_err().to_string();
        assert!(e.contains("too many nodes"), "{e}");
    }
}
