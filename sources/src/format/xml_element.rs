//! One XML element being mapped to JSON (the mapping is documented on
//! [`XmlConfig`](crate::XmlConfig)): attributes as `@name`, children by
//! name (repeated ones as arrays), text as `#text` or the whole value.

use quick_xml::XmlVersion;
use quick_xml::escape::{resolve_html5_entity, resolve_predefined_entity};
use quick_xml::events::BytesStart;
use serde_json::{Map, Value};

/// The key of an element's text when it also has attributes or children.
pub(crate) const TEXT_KEY: &str = "#text";

/// An element whose start tag was read and whose end is not yet.
#[derive(Debug)]
pub(crate) struct Element {
    /// The qualified name as written.
    pub(crate) name: String,
    fields: Map<String, Value>,
    text: String,
}

/// The text of an entity reference `&name;`: a character reference, an XML
/// entity, else an HTML one (feeds use them undeclared), else as written.
pub(crate) fn entity_text(name: &str) -> String {
    if let Some(number) = name.strip_prefix('#') {
        let parsed = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => number.parse().ok(),
        };
        if let Some(c) = parsed.and_then(char::from_u32).filter(|c| *c != '\0') {
            return c.to_string();
        }
    } else if let Some(text) = resolve_predefined_entity(name).or_else(|| resolve_html5_entity(name)) {
        return text.to_owned();
    }
    format!("&{name};")
}

impl Element {
    /// An element from its start tag; `arrays` are the names that are
    /// always arrays. A malformed attribute list is an error.
    pub(crate) fn start(start: &BytesStart<'_>) -> Result<Self, String> {
        let name = start.name().as_ref().to_owned();
        let mut fields = Map::new();
        for attr in start.attributes() {
            let attr = attr.map_err(|e| format!("<{name}>: {e}"))?;
            let key: &str = attr.key.as_ref();
            // An undeclared entity in a value is kept as written.
            let value = attr
                .normalized_value_with(XmlVersion::Implicit1_0, 1, |e| {
                    resolve_predefined_entity(e).or_else(|| resolve_html5_entity(e))
                })
                .unwrap_or_else(|_| attr.value.clone());
            fields.insert(format!("@{key}"), Value::String(value.into_owned()));
        }
        Ok(Self {
            name,
            fields,
            text: String::new(),
        })
    }

    /// Appends text (entities already decoded).
    pub(crate) fn push_text(&mut self, text: &str) {
        self.text.push_str(text);
    }

    /// Adds a finished child: a name seen before (or listed in `arrays`)
    /// becomes an array.
    pub(crate) fn add_child(&mut self, name: String, value: Value, arrays: &[String]) {
        match self.fields.get_mut(&name) {
            // An element's own value is never an array, so an array here
            // holds this name's earlier siblings.
            Some(Value::Array(siblings)) => siblings.push(value),
            Some(previous) => {
                let first = previous.take();
                *previous = Value::Array(vec![first, value]);
            }
            None if arrays.contains(&name) => {
                self.fields.insert(name, Value::Array(vec![value]));
            }
            None => {
                self.fields.insert(name, value);
            }
        }
    }

    /// The element's JSON value.
    pub(crate) fn finish(self) -> Value {
        let text = trim_xml(&self.text);
        if self.fields.is_empty() {
            return Value::String(text.to_owned());
        }
        let mut fields = self.fields;
        if !text.is_empty() {
            fields.insert(TEXT_KEY.to_owned(), Value::String(text.to_owned()));
        }
        Value::Object(fields)
    }
}

/// `text` without XML whitespace (space, tab, CR, LF) at either end.
fn trim_xml(text: &str) -> &str {
    text.trim_matches([' ', '\t', '\r', '\n'])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entities_decode_or_stay_as_written() {
        assert_eq!(entity_text("amp"), "&");
        assert_eq!(entity_text("#x41"), "A");
        assert_eq!(entity_text("#233"), "é");
        assert_eq!(entity_text("nbsp"), "\u{a0}");
        assert_eq!(entity_text("custom"), "&custom;");
        assert_eq!(entity_text("#0"), "&#0;");
    }

    #[test]
    fn leaves_are_strings_and_the_rest_objects() {
        let start = BytesStart::from_content(r#"guid isPermaLink="false" a="x &amp; y""#, 4);
        let mut guid = Element::start(&start).unwrap();
        guid.push_text("  abc\n");
        assert_eq!(
            guid.finish(),
            json!({"@isPermaLink": "false", "@a": "x & y", "#text": "abc"})
        );
        let mut item = Element::start(&BytesStart::new("item")).unwrap();
        item.add_child("c".into(), json!("1"), &[]);
        item.add_child("c".into(), json!("2"), &[]);
        item.add_child("c".into(), json!("3"), &[]);
        item.add_child("tag".into(), json!("t"), &["tag".to_owned()]);
        item.add_child("e".into(), json!(""), &[]);
        item.push_text(" \n ");
        assert_eq!(
            item.finish(),
            json!({"c": ["1", "2", "3"], "tag": ["t"], "e": ""})
        );
        assert_eq!(Element::start(&BytesStart::new("x")).unwrap().finish(), json!(""));
    }
}
