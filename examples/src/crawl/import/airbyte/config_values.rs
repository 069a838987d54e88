//! The connector config (`--config CONFIG.json`) and which of its values
//! are secrets (`airbyte_secret` in the manifest's spec).

use std::collections::BTreeSet;

use serde_json::Value;

use super::jinja::Var;

/// The connector config as templates see it.
#[derive(Debug, Clone, Default)]
pub(super) struct ConfigValues {
    given: Option<Value>,
    secrets: BTreeSet<String>,
}

impl ConfigValues {
    /// The config given (None: every value becomes `${NAME}`) and the spec
    /// (the manifest's `spec`), whose `airbyte_secret` properties are secrets
    /// wherever they are nested (`oneOf` branches included).
    pub(super) fn new(given: Option<Value>, spec: &Value) -> Self {
        let mut secrets = BTreeSet::new();
        let mut stack = vec![spec];
        while let Some(node) = stack.pop() {
            match node {
                Value::Object(map) => {
                    if let Some(Value::Object(props)) = map.get("properties") {
                        for (name, prop) in props {
                            if prop.get("airbyte_secret").and_then(Value::as_bool) == Some(true) {
                                secrets.insert(name.clone());
                            }
                        }
                    }
                    stack.extend(map.values());
                }
                Value::Array(items) => stack.extend(items),
                _ => {}
            }
        }
        Self { given, secrets }
    }

    /// The config given, if any.
    pub(super) fn given(&self) -> Option<&Value> {
        self.given.as_ref()
    }

    /// Whether a property of this name is a secret.
    pub(super) fn is_secret(&self, name: &str) -> bool {
        self.secrets.contains(name)
    }

    /// The variable standing for the value at `path`.
    pub(super) fn var(&self, path: &[String]) -> Var {
        let last = path.last().map(String::as_str).unwrap_or("config");
        Var {
            name: env_name(last),
            key: format!(
                "config{}",
                path.iter().map(|p| format!("[{p:?}]")).collect::<String>()
            ),
            secret: self.is_secret(last),
        }
    }
}

/// A property name as an environment variable: upper-cased,
/// non-alphanumerics as `_`.
pub fn env_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}
/// Whether the spec declares a property `name` (anywhere, `oneOf` branches
/// included) as an array, and never as anything else.
pub(super) fn declared_array(spec: &Value, name: &str) -> bool {
    let mut stack = vec![spec];
    let mut seen = false;
    while let Some(node) = stack.pop() {
        match node {
            Value::Object(map) => {
                if let Some(prop) = map.get("properties").and_then(|p| p.get(name)) {
                    if prop.get("type").and_then(Value::as_str) != Some("array") {
                        return false;
                    }
                    seen = true;
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    seen
}
