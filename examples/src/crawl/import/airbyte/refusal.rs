//! Why a stream was not translated: the stream, the component's place in the
//! resolved manifest, its type, and what is missing.

use std::fmt;

/// One component the crawl config cannot express faithfully.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The stream's name in the manifest.
    pub stream: String,
    /// JSON pointer of the component in the resolved manifest
    /// (`/streams/3/retriever/paginator/pagination_strategy`).
    pub pointer: String,
    /// The component's `type` (or `-` when it has none).
    pub component: String,
    /// What is missing, escaped.
    pub missing: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stream {}: {} ({}): {}",
            escape(&self.stream),
            self.pointer,
            self.component,
            self.missing
        )
    }
}

/// Text from the manifest made safe for a terminal or a TOML comment:
/// control characters (CR, LF, ESC...) are written as escapes.
pub(super) fn escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// An empty `$parameters`.
static EMPTY_OBJECT: std::sync::LazyLock<serde_json::Value> =
    std::sync::LazyLock::new(|| serde_json::Value::Object(serde_json::Map::new()));

/// Where a component is, for refusals.
#[derive(Debug, Clone)]
pub(super) struct At<'a> {
    /// The type of the nearest enclosing component (a plain field or
    /// mapping is named by its component's type).
    pub(super) outer: String,
    /// The `$parameters` of the nearest enclosing component.
    pub(super) params: &'a serde_json::Value,
    /// The stream.
    pub(super) stream: &'a str,
    /// The component's pointer.
    pub(super) pointer: String,
    /// The component.
    pub(super) value: &'a serde_json::Value,
}

impl<'a> At<'a> {
    /// The component at `pointer`.
    pub(super) fn new(stream: &'a str, pointer: String, value: &'a serde_json::Value) -> Self {
        Self {
            outer: "-".into(),
            params: value.get("$parameters").unwrap_or(&EMPTY_OBJECT),
            stream,
            pointer,
            value,
        }
    }

    /// A nested component (`key` is a field name or an index).
    pub(super) fn at(&self, key: &str) -> At<'a> {
        let value = match self.value {
            serde_json::Value::Array(a) => key.parse::<usize>().ok().and_then(|i| a.get(i)),
            v => v.get(key),
        };
        let value = value.unwrap_or(&serde_json::Value::Null);
        At {
            outer: self.kind(),
            params: value.get("$parameters").unwrap_or(self.params),
            stream: self.stream,
            pointer: format!("{}/{}", self.pointer, super::references::escape(key)),
            value,
        }
    }

    /// The component's `type`.
    pub(super) fn kind(&self) -> String {
        self.value
            .get("type")
            .and_then(serde_json::Value::as_str)
            .map(escape)
            .unwrap_or_else(|| self.outer.clone())
    }

    /// A field as a string.
    pub(super) fn str(&self, key: &str) -> Option<&'a str> {
        self.value.get(key).and_then(serde_json::Value::as_str)
    }

    /// A refusal of this component.
    pub(super) fn refuse(&self, missing: impl Into<String>) -> Refusal {
        Refusal {
            stream: self.stream.to_owned(),
            pointer: self.pointer.clone(),
            component: self.kind(),
            missing: escape(&missing.into()),
        }
    }

    /// The component's `$parameters` (or an empty object).
    pub(super) fn parameters(&self) -> &'a serde_json::Value {
        self.params
    }
}
