//! The `format` and `xml` keys: how a page's body holds its items.

use serde::Deserialize;

use crate::config::{HttpSourceConfig, Pagination};
use crate::config_check::InvalidKey;
use crate::json::records::ItemsMissing;

/// The format of every page's body (`format = "json"`, `"jsonl"` or `"xml"`).
///
/// Whatever the format, each item becomes a JSON value, so keys, sinks,
/// typed columns and `last_item` cursors work the same; politeness, retries,
/// the body cap, cursors and resume are those of a JSON collection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[non_exhaustive]
pub enum ResponseFormat {
    /// One JSON document; `items` is a JSON pointer (default).
    #[default]
    #[serde(rename = "json")]
    Json,
    /// JSON Lines / NDJSON: one JSON value per line, each an item (blank
    /// lines skipped, `\r\n` accepted). `items` must be `""`; the body has
    /// no fields for pagination to read (use `link_header`, `page` or
    /// `offset` without `total` or `has_more`, or `cursor` with `next_header`).
    #[serde(rename = "jsonl", alias = "ndjson")]
    JsonLines,
    /// XML: `items` is an element path (`/rss/channel/item`), `""` for an
    /// RSS 2.0, RSS 1.0 or Atom feed; each item element becomes a JSON
    /// object (see [`XmlConfig`] for the mapping).
    #[serde(rename = "xml")]
    Xml,
}

impl ResponseFormat {
    /// The name as configured (`json`, `jsonl`, `xml`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::JsonLines => "jsonl",
            Self::Xml => "xml",
        }
    }
}

/// The deepest XML nesting [`XmlConfig::max_depth`] may allow: each element
/// level can become two JSON levels (an object and an array of repeated
/// children), and JSON readers (serde_json's included) refuse documents
/// nested deeper than 128.
pub const XML_MAX_DEPTH: usize = 64;

/// How XML bodies are read (`xml = { max_depth = 64, arrays = ["category"] }`).
///
/// The mapping of an element to JSON:
///
/// - an attribute becomes `"@name": "value"` (the name as written, so
///   `@xml:lang`, `@xmlns:dc`);
/// - a child element becomes `"name": value` under its qualified name as
///   written (`title`, `dc:creator`, `media:content`): prefixes are kept,
///   namespace URIs are not resolved;
/// - a name that repeats becomes an array in document order; names listed
///   in [`arrays`](Self::arrays) are arrays even when they appear once, so
///   their type does not change from item to item;
/// - text (CDATA included, entities decoded, leading and trailing
///   whitespace trimmed) becomes `"#text"`, or the element's whole value
///   (a string) when it has neither attributes nor children; an empty
///   element without attributes is `""`;
/// - every value is a string: XML has no numbers or booleans;
/// - comments, processing instructions and the DOCTYPE are skipped, and
///   entities declared in a DOCTYPE are not expanded (an undeclared
///   `&name;` is decoded if it is an HTML entity, else kept as written).
///
/// The rest of the document (everything but the items) is mapped the same
/// way under its root's name (`{"rss": {"channel": {"title": …}}}`) for the
/// pagination pointers (`next_url`, `has_more`, `total`, …); a number or
/// boolean they read may be such a string (`"42"`, `"true"`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct XmlConfig {
    /// The deepest element nesting accepted, counted from the root element
    /// (1) (default and at most [`XML_MAX_DEPTH`]); a deeper document is
    /// refused before its items are built.
    pub max_depth: usize,
    /// Element names (as written, prefix included) always mapped to arrays.
    pub arrays: Vec<String>,
}

impl Default for XmlConfig {
    fn default() -> Self {
        Self {
            max_depth: XML_MAX_DEPTH,
            arrays: Vec::new(),
        }
    }
}

impl XmlConfig {
    /// Sets the depth limit.
    #[must_use]
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.max_depth = depth;
        self
    }

    /// Adds an element name that is always an array.
    #[must_use]
    pub fn array(mut self, name: impl Into<String>) -> Self {
        self.arrays.push(name.into());
        self
    }
}

fn mismatch(key: &'static str, reason: impl Into<String>) -> InvalidKey {
    InvalidKey::new(key, reason)
}

impl HttpSourceConfig {
    /// Sets the body format.
    #[must_use]
    pub fn format(mut self, format: ResponseFormat) -> Self {
        self.format = format;
        self
    }

    /// Sets the body format to XML, read with `xml`.
    #[must_use]
    pub fn xml(mut self, xml: XmlConfig) -> Self {
        self.format = ResponseFormat::Xml;
        self.xml = xml;
        self
    }

    /// Checks that `format`, `xml`, `items` and `pagination` fit together
    /// (building a source checks it too).
    ///
    /// # Errors
    ///
    /// A [`InvalidKey`] naming the key at fault.
    pub fn check_format(&self) -> Result<(), InvalidKey> {
        if self.scrape.is_some() && self.format != ResponseFormat::Json {
            return Err(mismatch(
                "format",
                "a scraped collection reads HTML; remove `format` or `scrape`",
            ));
        }
        if self.format != ResponseFormat::Json {
            if self.items_missing != ItemsMissing::Fail {
                return Err(mismatch("items_missing", "applies to JSON bodies"));
            }
            if self.items_map_key.is_some() {
                return Err(mismatch("items_map_key", "applies to JSON bodies"));
            }
        }
        if self.format != ResponseFormat::Xml {
            if self.xml != XmlConfig::default() {
                return Err(mismatch("xml", "applies to format = \"xml\" only"));
            }
            if self.pagination == Pagination::FeedNext {
                return Err(mismatch(
                    "pagination",
                    "style \"feed_next\" follows an XML feed's <link rel=\"next\">; set format = \"xml\"",
                ));
            }
        }
        match self.format {
            ResponseFormat::Json => Ok(()),
            ResponseFormat::JsonLines => check_lines(self),
            ResponseFormat::Xml => check_xml(self),
        }
    }
}

fn check_lines(config: &HttpSourceConfig) -> Result<(), InvalidKey> {
    if !config.items.is_empty() {
        return Err(mismatch(
            "items",
            "must be \"\" with format = \"jsonl\": every line is an item",
        ));
    }
    let reads_body = |what: &str| {
        mismatch(
            "pagination",
            format!(
                "{what} reads the body, which a JSON Lines body does not have; use link_header, page or \
                 offset without total or has_more, or cursor with next_header"
            ),
        )
    };
    match &config.pagination {
        Pagination::NextUrl { .. } => Err(reads_body("next_url")),
        Pagination::Cursor { next: Some(_), .. } => Err(reads_body("cursor's next")),
        Pagination::Cursor {
            has_more: Some(_), ..
        } => Err(reads_body("has_more")),
        Pagination::Offset { total: Some(_), .. }
        | Pagination::Page {
            total_pages: Some(_), ..
        } => Err(reads_body("a total")),
        Pagination::Offset {
            has_more: Some(_), ..
        }
        | Pagination::Page {
            has_more: Some(_), ..
        } => Err(reads_body("has_more")),
        Pagination::Cursor {
            stop_when: Some(_), ..
        }
        | Pagination::Offset {
            stop_when: Some(_), ..
        }
        | Pagination::Page {
            stop_when: Some(_), ..
        } => Err(reads_body("stop_when")),
        _ => Ok(()),
    }
}

fn check_xml(config: &HttpSourceConfig) -> Result<(), InvalidKey> {
    crate::format::xml_path::ItemPath::parse(&config.items).map_err(|reason| mismatch("items", reason))?;
    let depth = config.xml.max_depth;
    if !(1..=XML_MAX_DEPTH).contains(&depth) {
        return Err(mismatch(
            "xml.max_depth",
            format!("{depth} is out of range: 1 to {XML_MAX_DEPTH}"),
        ));
    }
    if let Some(bad) = config
        .xml
        .arrays
        .iter()
        .find(|n| n.is_empty() || n.contains(['/', ' ', '<', '>', '@']))
    {
        return Err(mismatch("xml.arrays", format!("{bad:?} is not an element name")));
    }
    Ok(())
}
