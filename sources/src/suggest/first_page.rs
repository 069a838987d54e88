//! What a first page's body is: a JSON document with an array of items, a
//! single JSON object (one record), JSON Lines, or XML (an RSS or Atom feed,
//! or any XML whose most repeated element holds the items).

use serde_json::Value;

use super::detect;
use crate::format::ResponseFormat;
use crate::format::xml_items::XmlItems;
use crate::format::xml_path::{ItemPath, local_name};
use crate::http::Fetched;

/// A first page read in its format.
#[derive(Debug)]
pub(super) struct FirstPage {
    pub(super) format: ResponseFormat,
    /// The `items` key for that format.
    pub(super) items: String,
    /// The page's items.
    pub(super) rows: Vec<Value>,
    /// The rest of the body, for the pagination hints (`null` for JSON Lines).
    pub(super) body: Value,
    /// Why, in one line.
    pub(super) evidence: String,
    /// The body is one record: there is no next page to look for.
    pub(super) single: bool,
}

/// Reads `fetched` as XML, JSON, or JSON Lines, or says why it is none of them.
pub(super) fn read(fetched: &Fetched) -> Result<FirstPage, String> {
    let content_type = fetched
        .headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let start = fetched
        .body
        .strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(&fetched.body);
    let start = start.trim_ascii_start();
    if !content_type.contains("html") && (content_type.contains("xml") || start.starts_with(b"<")) {
        return xml(fetched, &content_type);
    }
    let lines_typed = ["ndjson", "jsonl", "json-lines", "jsonlines"]
        .iter()
        .any(|t| content_type.contains(t));
    match serde_json::from_slice::<Value>(&fetched.body) {
        Ok(Value::Object(_)) if lines_typed => lines(fetched),
        Ok(body) => json(body),
        Err(json_error) => lines(fetched).map_err(|_| format!("the first page is not JSON: {json_error}")),
    }
}

fn json(body: Value) -> Result<FirstPage, String> {
    if let Some((items, n)) = detect::items_pointer(&body) {
        let rows = body
            .pointer(&items)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let evidence = match items.as_str() {
            "" => format!("items: the body is an array of {n} objects"),
            p => format!("items: {p} is the largest array of objects ({n})"),
        };
        return Ok(FirstPage {
            format: ResponseFormat::Json,
            items,
            rows,
            body,
            evidence,
            single: false,
        });
    }
    let Value::Object(map) = &body else {
        return Err("the first page holds no array of objects".to_owned());
    };
    // `{"data": {…}}`: the one member is the record; else the body is.
    let (items, record) = match map.iter().next() {
        Some((name, inner @ Value::Object(_))) if map.len() == 1 => {
            (format!("/{}", escape(name)), inner.clone())
        }
        _ => (String::new(), body.clone()),
    };
    let evidence = match items.as_str() {
        "" => "items: the body is one object, so one record (no array of objects in it)".to_owned(),
        p => format!("items: {p} is one object, so one record (the body's only member)"),
    };
    Ok(FirstPage {
        format: ResponseFormat::Json,
        items,
        rows: vec![record],
        body,
        evidence,
        single: true,
    })
}

fn lines(fetched: &Fetched) -> Result<FirstPage, String> {
    let mut rows = Vec::new();
    for line in fetched.body.split(|b| *b == b'\n') {
        if line.trim_ascii().is_empty() {
            continue;
        }
        match serde_json::from_slice::<Value>(line) {
            Ok(v @ Value::Object(_)) => rows.push(v),
            _ => return Err("not JSON Lines of objects".to_owned()),
        }
    }
    if rows.is_empty() {
        return Err("no lines".to_owned());
    }
    Ok(FirstPage {
        format: ResponseFormat::JsonLines,
        items: String::new(),
        evidence: format!(
            "format: JSON Lines, one object a line ({} on the first page)",
            rows.len()
        ),
        rows,
        body: Value::Null,
        single: false,
    })
}

fn xml(fetched: &Fetched, content_type: &str) -> Result<FirstPage, String> {
    let text = crate::format::xml_charset::decode_xml(&fetched.body, Some(content_type));
    let split = |path: ItemPath| -> Result<(Value, Vec<Value>), String> {
        let reader = XmlItems {
            path,
            max_depth: crate::format::XML_MAX_DEPTH,
            arrays: Vec::new(),
        };
        let mut rows = Vec::new();
        let rest = reader
            .split(&text, &mut |v| rows.push(v))
            .map_err(|e| crate::format::printable(&format!("the first page: {e}")))?;
        Ok((rest, rows))
    };
    let root = root_name(&text).ok_or("the first page is XML without a root element")?;
    let (kind, path) = match local_name(&root) {
        "rss" => ("an RSS 2.0 feed", vec!["rss", "channel", "item"]),
        "RDF" => ("an RSS 1.0 feed", vec!["RDF", "item"]),
        "feed" => ("an Atom feed", vec!["feed", "entry"]),
        _ => ("XML", Vec::new()),
    };
    let items = if path.is_empty() {
        // The whole document as one value: its largest array of objects
        // is the most repeated element with children.
        let (_, whole) = split(ItemPath::Elements(vec![root.clone()]))?;
        let document = whole.into_iter().next().unwrap_or_default();
        let (pointer, _) = detect::items_pointer(&document)
            .filter(|(p, _)| !p.is_empty())
            .ok_or("the XML document has no repeated element with children")?;
        format!("/{root}{pointer}")
    } else {
        path.iter().map(|s| format!("/{s}")).collect()
    };
    let parsed = ItemPath::parse(&items).map_err(|e| format!("the item path {e}"))?;
    let (body, rows) = split(parsed)?;
    let shown = if content_type.is_empty() {
        String::new()
    } else {
        format!(" ({})", content_type.split(';').next().unwrap_or_default().trim())
    };
    Ok(FirstPage {
        format: ResponseFormat::Xml,
        // Element names are outside text, and evidence lines are comments.
        evidence: crate::format::printable(&format!(
            "format: {kind}{shown}; items: the {} elements at {items} ({})",
            path_tail(&items),
            rows.len()
        )),
        items,
        rows,
        body,
        single: false,
    })
}

/// The qualified name of the document's first element.
fn root_name(text: &str) -> Option<String> {
    let mut reader = quick_xml::Reader::from_str(text);
    loop {
        match reader.read_event().ok()? {
            quick_xml::events::Event::Start(s) | quick_xml::events::Event::Empty(s) => {
                let name = s.name();
                let name: &str = name.as_ref();
                return Some(name.to_owned());
            }
            quick_xml::events::Event::Eof => return None,
            _ => {}
        }
    }
}

fn path_tail(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn escape(step: &str) -> String {
    step.replace('~', "~0").replace('/', "~1")
}

/// A key for XML items: a unique scalar field or element text, preferring
/// `id`, `guid` and `@id`, then names that look like keys.
pub(super) fn xml_key(rows: &[Value]) -> Option<String> {
    let first = rows.first()?.as_object()?;
    let mut pointers: Vec<(String, String)> = Vec::new();
    for (name, value) in first {
        match value {
            Value::String(_) => pointers.push((name.clone(), format!("/{}", escape(name)))),
            Value::Object(o) if o.get("#text").is_some_and(Value::is_string) => {
                pointers.push((name.clone(), format!("/{}/#text", escape(name))));
            }
            _ => {}
        }
    }
    let rank = |name: &str| {
        let n = local_name(name.trim_start_matches('@')).to_ascii_lowercase();
        match n.as_str() {
            "id" | "guid" => 0,
            _ if n.ends_with("id") || n.ends_with("key") || n.ends_with("uuid") => 1,
            _ => 2,
        }
    };
    pointers.sort_by_key(|(name, _)| rank(name));
    pointers.into_iter().map(|(_, p)| p).find(|p| {
        let mut seen = std::collections::HashSet::new();
        rows.iter().all(|row| {
            row.pointer(p)
                .and_then(Value::as_str)
                .is_some_and(|v| seen.insert(v.to_owned()))
        })
    })
}
