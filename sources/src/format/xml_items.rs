//! Splitting an XML page into items in one streaming pass (quick-xml's pull
//! parser): each item element is mapped to JSON as soon as it closes and
//! handed to the caller, so no tree of the document is ever built; the rest
//! of the document (the feed's title, links, totals) is mapped to a `Value`
//! for the paginator.

use quick_xml::Reader;
use quick_xml::events::Event;
use serde_json::{Map, Value};

use crate::format::xml_element::{Element, entity_text};
use crate::format::xml_path::{ItemPath, segment_matches};

/// Why an XML page could not be split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum XmlSplitError {
    /// Not well-formed (or cut off): where and what.
    Malformed(String),
    /// Nested deeper than the limit.
    TooDeep(usize),
    /// Well-formed, but not the document the path expects.
    NotThere(String),
}

impl std::fmt::Display for XmlSplitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed(what) => write!(f, "not well-formed XML: {what}"),
            Self::TooDeep(limit) => write!(f, "XML nested deeper than {limit} elements"),
            Self::NotThere(what) => f.write_str(what),
        }
    }
}

/// How items are read: the path and the mapping options.
#[derive(Debug, Clone)]
pub(crate) struct XmlItems {
    pub(crate) path: ItemPath,
    pub(crate) max_depth: usize,
    pub(crate) arrays: Vec<String>,
}

/// An element on the stack, and whether it and all its ancestors are on
/// the items' path.
struct Open {
    element: Element,
    on_path: bool,
}

impl XmlItems {
    /// Splits `text`: each item's value goes to `item` in document order;
    /// returns the rest of the document as `{root: value}`.
    pub(crate) fn split(&self, text: &str, item: &mut dyn FnMut(Value)) -> Result<Value, XmlSplitError> {
        let mut reader = Reader::from_str(text);
        // Feeds in the wild write a bare `&` in text; take it as written.
        reader.config_mut().allow_dangling_amp = true;
        let malformed = |reader: &Reader<&[u8]>, e: &dyn std::fmt::Display| {
            XmlSplitError::Malformed(format!("at byte {}: {e}", reader.error_position()))
        };
        let mut path: Vec<String> = Vec::new();
        let mut stack: Vec<Open> = Vec::new();
        // How deep the path was matched: the items' parent must exist.
        let mut matched = 0usize;
        let mut rest: Option<Value> = None;
        loop {
            let event = reader.read_event().map_err(|e| malformed(&reader, &e))?;
            match event {
                Event::Start(ref start) | Event::Empty(ref start) => {
                    if rest.is_some() {
                        return Err(malformed(&reader, &"a second root element"));
                    }
                    let element = Element::start(start).map_err(|e| malformed(&reader, &e))?;
                    if stack.is_empty() {
                        path = self.root_path(&element.name)?;
                    }
                    let depth = stack.len();
                    if depth >= self.max_depth {
                        return Err(XmlSplitError::TooDeep(self.max_depth));
                    }
                    let parent_on_path = stack.last().is_none_or(|o| o.on_path);
                    let on_path =
                        parent_on_path && path.get(depth).is_some_and(|s| segment_matches(s, &element.name));
                    if on_path {
                        matched = matched.max(depth + 1);
                    }
                    stack.push(Open { element, on_path });
                    if matches!(event, Event::Empty(_)) {
                        self.close(&mut stack, &path, &mut rest, item);
                    }
                }
                Event::End(_) => self.close(&mut stack, &path, &mut rest, item),
                Event::Text(t) => {
                    if let Some(open) = stack.last_mut() {
                        open.element.push_text(&t.xml10_content());
                    }
                }
                Event::CData(t) => {
                    if let Some(open) = stack.last_mut() {
                        open.element.push_text(&t.xml10_content());
                    }
                }
                Event::GeneralRef(r) => {
                    if let Some(open) = stack.last_mut() {
                        open.element.push_text(&entity_text(&r));
                    }
                }
                Event::Eof => break,
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            }
        }
        if let Some(open) = stack.last() {
            let what = format!("the document ends inside <{}> (cut off?)", open.element.name);
            return Err(malformed(&reader, &what));
        }
        let Some(rest) = rest else {
            return Err(XmlSplitError::Malformed("no root element".to_owned()));
        };
        // The items' parent (the root, for a one-element path) must be there.
        if matched + 1 < path.len() {
            let shown: String = path[..=matched].iter().map(|s| format!("/{s}")).collect();
            return Err(XmlSplitError::NotThere(format!(
                "no <{}> element at {shown}",
                path[matched]
            )));
        }
        Ok(rest)
    }

    /// The path to the items for a document with root element `root`, or
    /// why this document does not hold them.
    fn root_path(&self, root: &str) -> Result<Vec<String>, XmlSplitError> {
        let html = || XmlSplitError::NotThere("the body is an HTML page, not XML".to_owned());
        let path = self
            .path
            .resolve(root)
            .map_err(|e| match root.eq_ignore_ascii_case("html") {
                true => html(),
                false => XmlSplitError::NotThere(e),
            })?;
        if !segment_matches(&path[0], root) {
            if root.eq_ignore_ascii_case("html") {
                return Err(html());
            }
            let what = format!("the root element is <{root}>, not <{}>", path[0]);
            return Err(XmlSplitError::NotThere(what));
        }
        Ok(path)
    }

    /// Closes the innermost element: an item goes to `item`, any other
    /// element into its parent (the root becomes `rest`).
    fn close(
        &self,
        stack: &mut Vec<Open>,
        path: &[String],
        rest: &mut Option<Value>,
        item: &mut dyn FnMut(Value),
    ) {
        // The reader checks that end tags match, so there is an open element.
        let Some(open) = stack.pop() else { return };
        let is_item = open.on_path && stack.len() + 1 == path.len();
        let name = open.element.name.clone();
        let value = open.element.finish();
        if is_item {
            item(value);
            if stack.is_empty() {
                *rest = Some(Value::Null);
            }
        } else if let Some(parent) = stack.last_mut() {
            parent.element.add_child(name, value, &self.arrays);
        } else {
            let mut root = Map::new();
            root.insert(name, value);
            *rest = Some(Value::Object(root));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn split(items: &str, text: &str) -> Result<(Value, Vec<Value>), XmlSplitError> {
        let reader = XmlItems {
            path: ItemPath::parse(items).unwrap(),
            max_depth: 64,
            arrays: vec!["category".to_owned()],
        };
        let mut out = Vec::new();
        let rest = reader.split(text, &mut |v| out.push(v))?;
        Ok((rest, out))
    }

    const RSS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE rss [<!ENTITY boom "BOOM">]>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel>
    <title>News &amp; views</title>
    <!-- a comment -->
    <item>
      <title>First</title>
      <guid isPermaLink="false">a-1</guid>
      <description><![CDATA[<p>Hello & bye</p>]]></description>
      <dc:creator>Ann</dc:creator>
      <category>x</category>
    </item>
    <item><title>Second &boom; &eacute;</title><guid>a-2</guid><category>y</category><category>z</category><enclosure url="http://e/1.mp3" length="12"/></item>
  </channel>
</rss>"#;

    #[test]
    fn rss_items_are_mapped_and_the_rest_is_kept() {
        let (rest, items) = split("", RSS).unwrap();
        assert_eq!(
            items,
            [
                json!({"title": "First", "guid": {"@isPermaLink": "false", "#text": "a-1"},
                       "description": "<p>Hello & bye</p>", "dc:creator": "Ann", "category": ["x"]}),
                json!({"title": "Second &boom; é", "guid": "a-2", "category": ["y", "z"],
                       "enclosure": {"@url": "http://e/1.mp3", "@length": "12"}}),
            ]
        );
        assert_eq!(
            rest,
            json!({"rss": {"@version": "2.0", "@xmlns:dc": "http://purl.org/dc/elements/1.1/",
                           "channel": {"title": "News & views"}}})
        );
        let (_, same) = split("/rss/channel/item", RSS).unwrap();
        assert_eq!(same, items);
    }

    #[test]
    fn atom_entries_and_an_empty_feed() {
        let atom = r#"<feed xmlns="http://www.w3.org/2005/Atom"><link rel="next" href="/p2"/>
            <entry><id>1</id><link rel="alternate" href="/1"/><link rel="edit" href="/e1"/></entry></feed>"#;
        let (rest, items) = split("", atom).unwrap();
        assert_eq!(
            items,
            [
                json!({"id": "1", "link": [{"@rel": "alternate", "@href": "/1"}, {"@rel": "edit", "@href": "/e1"}]})
            ]
        );
        assert_eq!(rest["feed"]["link"], json!({"@rel": "next", "@href": "/p2"}));
        let (_, none) = split("", "<rss><channel><title>t</title></channel></rss>").unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn the_root_itself_may_be_the_one_item() {
        let (rest, items) = split("/user", r#"<user id="7"><name>Ann</name></user>"#).unwrap();
        assert_eq!(items, [json!({"@id": "7", "name": "Ann"})]);
        assert_eq!(rest, Value::Null);
    }

    #[test]
    fn wrong_documents_say_what_is_wrong() {
        let err = split("/rss/channel/item", "<html><body>502</body></html>").unwrap_err();
        assert_eq!(
            err,
            XmlSplitError::NotThere("the body is an HTML page, not XML".into())
        );
        let err = split("/a/b/c", "<a><x/></a>").unwrap_err();
        assert_eq!(err, XmlSplitError::NotThere("no <b> element at /a/b".into()));
        let err = split("", "<other/>").unwrap_err();
        assert!(matches!(err, XmlSplitError::NotThere(m) if m.contains("<other>")));
        for bad in ["<a><b></a>", "<a><b>", "", "<a/><a/>", "<a x=1/>"] {
            assert!(
                matches!(split("/a/b", bad), Err(XmlSplitError::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn nesting_beyond_the_limit_is_refused() {
        let reader = XmlItems {
            path: ItemPath::parse("/a/b").unwrap(),
            max_depth: 3,
            arrays: Vec::new(),
        };
        let ok = "<a><b><c/></b></a>";
        assert!(reader.split(ok, &mut |_| {}).is_ok());
        let deep = "<a><b><c><d/></c></b></a>";
        assert_eq!(reader.split(deep, &mut |_| {}), Err(XmlSplitError::TooDeep(3)));
    }
}

#[cfg(test)]
mod depth_tests {
    use super::*;

    /// `depth` nested levels, each with two children named `a` (arrays).
    fn nested(depth: usize) -> String {
        let mut text = String::new();
        for _ in 0..depth - 1 {
            text.push_str("<a><a/>");
        }
        text.push_str("<a/>");
        for _ in 0..depth - 1 {
            text.push_str("</a>");
        }
        text
    }

    #[test]
    fn the_deepest_item_allowed_still_reads_back_as_json() {
        let reader = XmlItems {
            path: ItemPath::parse("/a").unwrap(),
            max_depth: crate::format::XML_MAX_DEPTH,
            arrays: Vec::new(),
        };
        let mut items = Vec::new();
        let text = nested(crate::format::XML_MAX_DEPTH);
        reader.split(&text, &mut |v| items.push(v)).unwrap();
        let json = serde_json::to_string(&items[0]).unwrap();
        assert!(
            serde_json::from_str::<Value>(&json).is_ok(),
            "serde_json reads it back"
        );
        let deeper = nested(crate::format::XML_MAX_DEPTH + 1);
        assert_eq!(
            reader.split(&deeper, &mut |_| {}),
            Err(XmlSplitError::TooDeep(crate::format::XML_MAX_DEPTH))
        );
    }
}
