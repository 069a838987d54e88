//! The value of an added field: a template over the record, its parent item
//! and the run's time.
//!
//! `{/pointer}` is the record's field (RFC 6901), `{parent/pointer}` the
//! parent item's field (a child collection's), `{now…}` the run's start as
//! in request strings (`{now|date}`, `{now-1d|epoch}`, see
//! [`render_now`](crate::dates::render_now)); `{{` and `}}` are literal
//! braces. A template that is exactly one field placeholder gives that
//! field's value as it is (a number stays a number, an object an object; a
//! missing field gives `null`); any other template gives text, in which a
//! string is written as it is, `null` or a missing field as nothing, and any
//! other value as its JSON text.

use jiff::Timestamp;
use serde_json::Value;

use super::TransformError;
use crate::dates::{is_now_placeholder, render_now};

/// One part of a template.
#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    /// A field of the record.
    Record(String),
    /// A field of the parent item.
    Parent(String),
    /// `{now…}`: the text between the braces.
    Now(String),
    /// A value bound already (a constant, or a parent's field).
    Value(Value),
}

/// A parsed field template (see the module docs for its syntax).
///
/// ```
/// use crawlpipe_sources::FieldTemplate;
/// use serde_json::json;
///
/// let t = FieldTemplate::parse("{parent/login}:{/id}").unwrap();
/// let t = t.for_parent(&json!({"login": "acme"}));
/// assert_eq!(t.render(&json!({"id": 7})), json!("acme:7"));
/// assert_eq!(FieldTemplate::parse("{/id}").unwrap().render(&json!({"id": 7})), json!(7));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct FieldTemplate {
    parts: Vec<Part>,
}

impl FieldTemplate {
    /// Parses a template.
    ///
    /// # Errors
    ///
    /// [`TransformError::Template`] for an unclosed `{`, a lone `}` or a
    /// placeholder that is neither `{/…}`, `{parent/…}` nor `{now…}`.
    pub fn parse(template: &str) -> Result<Self, TransformError> {
        let fail = |reason: String| TransformError::Template {
            template: template.to_owned(),
            reason,
        };
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut chars = template.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '{' if chars.peek().is_some_and(|(_, n)| *n == '{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek().is_some_and(|(_, n)| *n == '}') => {
                    chars.next();
                    text.push('}');
                }
                '}' => return Err(fail(format!("a lone `}}` at byte {i}: write `}}}}` for a brace"))),
                '{' => {
                    let rest = &template[i + 1..];
                    let close = rest
                        .find('}')
                        .ok_or_else(|| fail(format!("the `{{` at byte {i} is not closed")))?;
                    let inner = &rest[..close];
                    let part = if inner.starts_with('/') {
                        Part::Record(inner.to_owned())
                    } else if let Some(p) = inner.strip_prefix("parent")
                        && (p.is_empty() || p.starts_with('/'))
                    {
                        Part::Parent(p.to_owned())
                    } else if is_now_placeholder(inner) {
                        render_now(&format!("{{{inner}}}"), Timestamp::UNIX_EPOCH)
                            .map_err(|e| fail(e.to_string()))?;
                        Part::Now(inner.to_owned())
                    } else {
                        return Err(fail(format!(
                            "`{{{inner}}}` is not a placeholder: write {{/pointer}} (the record's field), \
                             {{parent/pointer}} (the parent item's), {{now…}}, or `{{{{` for a brace"
                        )));
                    };
                    if !text.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text)));
                    }
                    parts.push(part);
                    for _ in 0..inner.chars().count() + 1 {
                        chars.next();
                    }
                }
                c => text.push(c),
            }
        }
        if !text.is_empty() || parts.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Self { parts })
    }

    /// Whether the template reads the parent item (`{parent/…}`).
    pub fn reads_parent(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Parent(_)))
    }

    /// The record's fields the template reads, as pointers.
    pub fn record_pointers(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Record(p) => Some(p.as_str()),
            _ => None,
        })
    }

    /// The template with `{parent/…}` replaced by the parent item's values
    /// (kept typed when the template is that one placeholder).
    #[must_use]
    pub fn for_parent(&self, parent: &Value) -> Self {
        self.bind(|p| match p {
            Part::Parent(ptr) => Some(parent.pointer(ptr).cloned().unwrap_or(Value::Null)),
            _ => None,
        })
    }

    /// The template with `{now…}` rendered for a run started at `now`.
    #[must_use]
    pub fn at(&self, now: Timestamp) -> Self {
        self.bind(|p| match p {
            Part::Now(inner) => render_now(&format!("{{{inner}}}"), now).ok().map(Value::String),
            _ => None,
        })
    }

    /// Replaces the parts `value` gives a value for: a whole-template
    /// placeholder by a constant, otherwise by its text.
    fn bind(&self, value: impl Fn(&Part) -> Option<Value>) -> Self {
        if let [only] = self.parts.as_slice()
            && let Some(v) = value(only)
        {
            return Self::constant(v);
        }
        let mut parts: Vec<Part> = Vec::with_capacity(self.parts.len());
        for part in &self.parts {
            let part = match value(part) {
                Some(v) => Part::Text(as_text(Some(&v))),
                None => part.clone(),
            };
            match (parts.last_mut(), part) {
                (Some(Part::Text(prev)), Part::Text(next)) => prev.push_str(&next),
                (_, part) => parts.push(part),
            }
        }
        Self { parts }
    }

    /// A template whose value is `value`, whatever the record.
    pub fn constant(value: Value) -> Self {
        Self {
            parts: vec![Part::Value(value)],
        }
    }

    /// The value for `record` (an unbound `{parent/…}` reads as missing,
    /// `{now…}` not yet rendered as its text at the Unix epoch).
    pub fn render(&self, record: &Value) -> Value {
        let lookup = |part: &Part| -> Option<Value> {
            match part {
                Part::Record(ptr) => record.pointer(ptr).cloned(),
                Part::Parent(_) => None,
                Part::Now(inner) => render_now(&format!("{{{inner}}}"), Timestamp::UNIX_EPOCH)
                    .ok()
                    .map(Value::String),
                Part::Text(t) => Some(Value::String(t.clone())),
                Part::Value(v) => Some(v.clone()),
            }
        };
        match self.parts.as_slice() {
            [Part::Text(t)] => Value::String(t.clone()),
            [only] => lookup(only).unwrap_or(Value::Null),
            parts => Value::String(parts.iter().map(|p| as_text(lookup(p).as_ref())).collect()),
        }
    }
}

/// A value as template text: a string as it is, `null` or nothing as
/// nothing, anything else as its JSON text.
fn as_text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}
