//! URL templates of child collections: `{/pointer}` is replaced by that
//! field of the parent item, percent-encoded.
//!
//! `https://api.example.com/repos/acme/{/name}/issues` with the parent item
//! `{"name": "a b"}` gives `https://api.example.com/repos/acme/a%20b/issues`.
//! A placeholder is a JSON pointer (RFC 6901); `{field}` without the slash
//! means `{/field}` (a scraped item's field). Strings are used as they are,
//! numbers and booleans as their JSON text; a missing field, `null`, an
//! array or an object is an error naming the pointer. `{page}`,
//! `{offset}`, `{limit}` and `{now…}` are left for the source to fill.
//!
//! A value stays a value: every byte but the unreserved ones is encoded, so
//! `/`, `?`, `#`, `%`, CR LF or NUL cannot add a segment, a query or a host;
//! and in the path (before any `?` or `#` of the template) a value that is
//! `.`, `..` or empty is refused, since it would remove or merge a segment
//! (`/repos/../issues` is `/issues`).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

/// Every byte but the unreserved ones (RFC 3986: letters, digits, `-._~`).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Placeholders the source fills, not the parent: `{page}`, `{offset}`,
/// `{limit}` (templated page values) and `{now…}` (the run's time); a
/// parent's field of one of these names is written `{/page}`.
fn is_reserved(field: &str) -> bool {
    matches!(field, "page" | "offset" | "limit") || crate::dates::is_now_placeholder(field)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Field(String),
}

/// A parsed URL template of a child collection: `{/pointer}` is replaced by
/// that field of the parent item, percent-encoded (`{field}` means `{/field}`).
///
/// `https://api.example.com/repos/acme/{/name}/issues` with the parent item
/// `{"name": "a b"}` gives `https://api.example.com/repos/acme/a%20b/issues`.
/// Strings are used as they are, numbers and booleans as their JSON text; a
/// missing field, `null`, an array or an object is an error naming the pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlTemplate {
    parts: Vec<Part>,
}

/// Why a template cannot be parsed or rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// A `{` without its `}`, or an empty `{}`.
    #[error("URL template {template:?}: {reason}")]
    Syntax {
        /// The template.
        template: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The parent item's value at the pointer would change the URL's path:
    /// `.`, `..` or empty in a path segment.
    #[error("the parent item's value at {pointer} is {value:?}, which cannot be a path segment")]
    PathSegment {
        /// The placeholder's JSON pointer.
        pointer: String,
        /// The value (`.`, `..` or empty).
        value: &'static str,
    },
    /// The parent item has no usable value at the pointer.
    #[error("the parent item has no string or number at {pointer}")]
    Missing {
        /// The placeholder's JSON pointer.
        pointer: String,
    },
}

impl UrlTemplate {
    /// Parses `template`.
    ///
    /// # Errors
    ///
    /// [`TemplateError::Syntax`] for an unclosed or empty placeholder.
    ///
    /// # Examples
    ///
    /// ```
    /// use crawlpipe_sources::UrlTemplate;
    /// let t = UrlTemplate::parse("http://h/repos/{/owner/login}/{/name}/issues")?;
    /// let item = serde_json::json!({"owner": {"login": "acme"}, "name": "a b"});
    /// assert_eq!(t.render(&item)?, "http://h/repos/acme/a%20b/issues");
    /// # Ok::<(), crawlpipe_sources::TemplateError>(())
    /// ```
    pub fn parse(template: &str) -> Result<Self, TemplateError> {
        let syntax = |reason| TemplateError::Syntax {
            template: template.to_owned(),
            reason,
        };
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(start) = rest.find('{') {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_owned()));
            }
            let after = &rest[start + 1..];
            let end = after.find('}').ok_or_else(|| syntax("a '{' has no '}'"))?;
            let field = &after[..end];
            if is_reserved(field) {
                // Filled by the source itself, page by page or run by run.
                parts.push(Part::Text(rest[start..start + end + 2].to_owned()));
                rest = &after[end + 1..];
                continue;
            }
            if field.is_empty() || field == "/" {
                return Err(syntax("a placeholder is empty; write {/field}"));
            }
            let pointer = if field.starts_with('/') {
                field.to_owned()
            } else {
                format!("/{field}")
            };
            parts.push(Part::Field(pointer));
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Self { parts })
    }

    /// Whether the template has any placeholder.
    pub fn has_fields(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Field(_)))
    }

    /// The template with every placeholder replaced by `value` (to check
    /// the URL's shape before any parent item exists).
    pub fn sample(&self, value: &str) -> String {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.as_str(),
                Part::Field(_) => value,
            })
            .collect()
    }

    /// The URL for one parent item.
    ///
    /// # Errors
    ///
    /// [`TemplateError::Missing`] naming the first pointer with no string,
    /// number or boolean in `item`; [`TemplateError::PathSegment`] for a
    /// value `.`, `..` or empty in the path.
    pub fn render(&self, item: &Value) -> Result<String, TemplateError> {
        let mut out = String::new();
        // Before the template's own `?` or `#`, a value is (part of) a path segment.
        let mut in_path = true;
        for part in &self.parts {
            match part {
                Part::Text(t) => {
                    out.push_str(t);
                    in_path &= !t.contains(['?', '#']);
                }
                Part::Field(pointer) => {
                    let text = match item.pointer(pointer) {
                        Some(Value::String(s)) => s.clone(),
                        Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
                        _ => {
                            return Err(TemplateError::Missing {
                                pointer: pointer.clone(),
                            });
                        }
                    };
                    if in_path && let Some(value) = ["", ".", ".."].into_iter().find(|v| *v == text) {
                        return Err(TemplateError::PathSegment {
                            pointer: pointer.clone(),
                            value,
                        });
                    }
                    out.extend(utf8_percent_encode(&text, COMPONENT));
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn fields_are_percent_encoded_and_numbers_written_as_text() {
        let t = UrlTemplate::parse("http://h/{/id}/c?q={name}").unwrap();
        assert_eq!(
            t.render(&json!({"id": 7, "name": "a/b?&"})).unwrap(),
            "http://h/7/c?q=a%2Fb%3F%26"
        );
    }

    #[test]
    fn dot_segments_from_items_stay_values() {
        let t = UrlTemplate::parse("http://h/repos/{/name}/issues").unwrap();
        for name in [".", ".."] {
            let err = t.render(&json!({ "name": name })).unwrap_err();
            assert!(matches!(err, TemplateError::PathSegment { .. }), "{err}");
        }
        assert_eq!(
            t.render(&json!({"name": "..."})).unwrap(),
            "http://h/repos/.../issues"
        );
    }

    #[test]
    fn a_missing_or_null_field_names_its_pointer() {
        let t = UrlTemplate::parse("http://h/{/name}").unwrap();
        let err = t.render(&json!({"name": null})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the parent item has no string or number at /name"
        );
        assert!(t.render(&json!({})).is_err());
    }

    #[test]
    fn hostile_values_stay_in_their_segment() {
        let t = UrlTemplate::parse("http://h/items/{/v}/c?q={/v}").unwrap();
        let render = |v: &str| t.render(&json!({ "v": v }));
        for refused in ["..", ".", ""] {
            assert!(
                matches!(render(refused), Err(TemplateError::PathSegment { .. })),
                "{refused:?}"
            );
        }
        let long = "x".repeat(10_000);
        let cases: [(&str, &str); 10] = [
            ("%2e%2e", "%252e%252e"),
            ("/", "%2F"),
            ("?", "%3F"),
            ("#", "%23"),
            ("//evil", "%2F%2Fevil"),
            ("http://evil.example/x", "http%3A%2F%2Fevil.example%2Fx"),
            ("a\r\nb", "a%0D%0Ab"),
            ("a\0b", "a%00b"),
            ("...", "..."),
            (&long, &long),
        ];
        for (value, encoded) in cases {
            assert_eq!(
                render(value).unwrap(),
                format!("http://h/items/{encoded}/c?q={encoded}"),
                "{value:?}"
            );
        }
        // In the query a dot is only text.
        let q = UrlTemplate::parse("http://h/items?q={/v}").unwrap();
        assert_eq!(q.render(&json!({"v": ".."})).unwrap(), "http://h/items?q=..");
    }

    #[test]
    fn bad_templates_are_refused() {
        assert!(UrlTemplate::parse("http://h/{/name").is_err());
        assert!(UrlTemplate::parse("http://h/{}").is_err());
        assert!(!UrlTemplate::parse("http://h/x").unwrap().has_fields());
        let t = UrlTemplate::parse("http://h/{/id}/{page}?since={now-1d|date}&o={offset}").unwrap();
        assert_eq!(
            t.render(&json!({"id": 1})).unwrap(),
            "http://h/1/{page}?since={now-1d|date}&o={offset}"
        );
    }
}
