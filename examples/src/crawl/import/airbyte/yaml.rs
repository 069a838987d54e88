//! Reading a manifest's YAML into a JSON tree, within fixed bounds.
//!
//! The parser is `saphyr-parser`'s event stream (pure Rust, no `unsafe`,
//! an explicit state stack rather than recursion), and the tree is built
//! here, also without recursion, so every bound is ours and checked as the
//! events arrive: the input's size, the nesting depth, and the number of
//! nodes the tree would hold *after* aliases are expanded. An alias costs
//! the size of what it copies, so "billion laughs" input stops at the node
//! budget after a few thousand events instead of expanding. YAML 1.1 merge
//! keys (`<<: *base`) are honoured, as PyYAML (Airbyte's loader) does.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_json::{Map, Number, Value};

use super::error::ImportError;

/// The bounds a manifest is read within.
#[derive(Debug, Clone, Copy)]
pub struct YamlLimits {
    /// Bytes of input (default 8 MiB; the largest public manifest is under 1 MiB).
    pub max_bytes: usize,
    /// Nesting of sequences and mappings (default 128).
    pub max_depth: usize,
    /// Nodes in the tree, aliases expanded (default 2,000,000).
    pub max_nodes: usize,
}

impl Default for YamlLimits {
    fn default() -> Self {
        Self {
            max_bytes: 8 * 1024 * 1024,
            max_depth: 128,
            max_nodes: 2_000_000,
        }
    }
}

/// A collection being built: its value, its node count, and its anchor.
enum Open {
    Seq(Vec<Value>, usize, usize),
    Map(Map<String, Value>, Option<String>, usize, usize),
}

/// Reads one YAML document as JSON values (`null`, booleans, numbers, strings,
/// arrays, objects; mapping keys must be scalars).
///
/// # Errors
///
/// [`ImportError::Yaml`] with the line and column, for broken YAML, a bound
/// passed, a non-scalar key, an unknown alias or a second document.
pub fn load(text: &str, limits: YamlLimits) -> Result<Value, ImportError> {
    let err = |line: usize, column: usize, reason: String| ImportError::Yaml { line, column, reason };
    if text.len() > limits.max_bytes {
        return Err(err(
            0,
            0,
            format!(
                "the manifest has {} bytes, more than the {} allowed",
                text.len(),
                limits.max_bytes
            ),
        ));
    }
    let mut stack: Vec<Open> = Vec::new();
    // Each anchored node with its size in nodes (what an alias to it costs).
    let mut anchors: HashMap<usize, (Value, usize)> = HashMap::new();
    let mut nodes = 0usize;
    let mut root: Option<Value> = None;
    let mut documents = 0;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| {
            err(
                e.marker().line(),
                e.marker().col() + 1,
                super::refusal::escape(e.info()),
            )
        })?;
        let (line, column) = (span.start.line(), span.start.col() + 1);
        let (value, size, anchor) = match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(err(
                        line,
                        column,
                        "a manifest is one YAML document; found a second".into(),
                    ));
                }
                continue;
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if stack.len() >= limits.max_depth {
                    return Err(err(
                        line,
                        column,
                        format!("nested deeper than {} levels", limits.max_depth),
                    ));
                }
                nodes += 1;
                if nodes > limits.max_nodes {
                    return Err(err(line, column, format!("more than {} nodes", limits.max_nodes)));
                }
                stack.push(match event {
                    Event::SequenceStart(..) => Open::Seq(Vec::new(), 1, anchor),
                    _ => Open::Map(Map::new(), None, 1, anchor),
                });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Open::Seq(items, size, anchor)) => (Value::Array(items), size, anchor),
                Some(Open::Map(map, _, size, anchor)) => (Value::Object(map), size, anchor),
                None => return Err(err(line, column, "unbalanced collection end".into())),
            },
            Event::Scalar(text, style, anchor, tag) => {
                nodes += 1;
                if nodes > limits.max_nodes {
                    return Err(err(line, column, format!("more than {} nodes", limits.max_nodes)));
                }
                let tagged_str = tag.as_ref().is_some_and(|t| t.suffix == "str");
                (scalar(&text, style, tagged_str), 1, anchor)
            }
            Event::Alias(id) => {
                let Some((value, size)) = anchors.get(&id) else {
                    return Err(err(line, column, "an alias to an unknown anchor".into()));
                };
                nodes = nodes.saturating_add(*size);
                if nodes > limits.max_nodes {
                    return Err(err(
                        line,
                        column,
                        format!("aliases expand to more than {} nodes", limits.max_nodes),
                    ));
                }
                (value.clone(), *size, 0)
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => continue,
        };
        if anchor > 0 {
            anchors.insert(anchor, (value.clone(), size));
        }
        match stack.last_mut() {
            None => root = Some(value),
            Some(Open::Seq(items, total, _)) => {
                items.push(value);
                *total = total.saturating_add(size);
            }
            Some(Open::Map(map, pending, total, _)) => {
                *total = total.saturating_add(size);
                match pending.take() {
                    None => match value {
                        Value::String(k) => *pending = Some(k),
                        Value::Null => *pending = Some("null".into()),
                        Value::Bool(b) => *pending = Some(b.to_string()),
                        Value::Number(n) => *pending = Some(n.to_string()),
                        _ => return Err(err(line, column, "a mapping key must be a scalar".into())),
                    },
                    Some(key) if key == "<<" => merge_into(map, value),
                    Some(key) => {
                        map.insert(key, value);
                    }
                }
            }
        }
    }
    Ok(root.unwrap_or(Value::Null))
}

/// YAML 1.1 merge keys: the mapping's own keys win over merged ones.
fn merge_into(map: &mut Map<String, Value>, merged: Value) {
    let sources = match merged {
        Value::Array(items) => items,
        other => vec![other],
    };
    for source in sources {
        if let Value::Object(source) = source {
            for (k, v) in source {
                map.entry(k).or_insert(v);
            }
        }
    }
}

/// A scalar as PyYAML's safe loader reads it (the core types; dates stay text).
fn scalar(text: &str, style: ScalarStyle, tagged_str: bool) -> Value {
    if style != ScalarStyle::Plain || tagged_str {
        return Value::String(text.to_owned());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let plain = text.replace('_', "");
    if let Ok(i) = plain.parse::<i64>()
        && !text.starts_with('_')
    {
        return Value::Number(i.into());
    }
    let is_float = text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit() || c == '-' || c == '+' || c == '.')
        && text.chars().any(|c| c.is_ascii_digit())
        && text.chars().all(|c| c.is_ascii_digit() || "+-.eE_".contains(c));
    if is_float
        && let Ok(f) = plain.parse::<f64>()
        && let Some(n) = Number::from_f64(f)
    {
        return Value::Number(n);
    }
    Value::String(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_default(text: &str) -> Result<Value, ImportError> {
        load(text, YamlLimits::default())
    }

    #[test]
    fn reads_scalars_as_pyyaml_does() {
        let v = load_default("a: 1\nb: 'x'\nc: true\nd: ~\ne: 1.5\nf: 2024-01-01\ng: [1, two]\n").unwrap();
        assert_eq!(
            v,
            serde_json::json!({"a": 1, "b": "x", "c": true, "d": null, "e": 1.5, "f": "2024-01-01", "g": [1, "two"]})
        );
    }

    #[test]
    fn merge_keys_and_aliases_copy_the_anchor() {
        let v = load_default("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\nsame: *b\n").unwrap();
        assert_eq!(v["other"], serde_json::json!({"x": 1, "y": 3}));
        assert_eq!(v["same"], serde_json::json!({"x": 1, "y": 2}));
    }

    #[test]
    fn billion_laughs_stops_at_the_node_budget() {
        let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let e = load_default(&text).unwrap_err().to_string();
        assert!(e.contains("aliases expand to more than"), "{e}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = "[".repeat(100_000);
        // saphyr's scanner bounds flow nesting itself (at 256); block nesting meets ours.
        let e = load_default(&text).unwrap_err().to_string();
        assert!(
            e.contains("nested deeper than 128") || e.contains("recursion limit"),
            "{e}"
        );
        let e = load_default(&"[".repeat(200)).unwrap_err().to_string();
        assert!(e.contains("nested deeper than 128"), "{e}");
        let text = "a:\n".to_owned()
            + &(1..200)
                .map(|i| format!("{}b:\n", " ".repeat(i)))
                .collect::<String>();
        assert!(
            load_default(&text)
                .unwrap_err()
                .to_string()
                .contains("nested deeper")
        );
    }

    #[test]
    fn broken_yaml_names_the_line() {
        let e = load_default("a: 1\nb: [1, 2\nc: 3\n").unwrap_err().to_string();
        assert!(e.contains("line"), "{e}");
        assert!(load_default("a: *nope\n").is_err());
        assert!(load_default("? [1]\n: 2\n").is_err());
        assert!(load_default("a: 1\n---\nb: 2\n").is_err());
    }
}
