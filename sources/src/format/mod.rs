//! Bodies other than one JSON document: JSON Lines and XML.
//!
//! A collection's `format` ([`ResponseFormat`]) says how a page's body holds
//! its items; [`PageFormat`] is that setting ready to split pages. Whatever
//! the format, a page becomes what the JSON path makes of it: its items
//! (as `serde_json::Value` or [`RawItem`] text) and the rest of the body as
//! a `Value` for the paginator, so pagination, cursors, politeness, retries
//! and sinks are the ones every JSON collection has.
//!
//! XML is read with quick-xml, a streaming pull parser: an item element is
//! mapped to JSON when it closes (`xml_element`, the mapping documented on
//! [`XmlConfig`]), so a page costs its body plus its items, never a tree of
//! the whole document (`xml_items`). quick-xml was chosen over roxmltree,
//! which builds the full tree first, for that flat memory, and because it
//! does not expand DOCTYPE entities (no "billion laughs").

pub(crate) mod body_format;
pub(crate) mod feed_next;
mod json_lines;
pub(crate) mod xml_charset;
mod xml_element;
pub(crate) mod xml_items;
pub(crate) mod xml_path;

use crawlpipe_core::{FetchError, RawItem};
use serde_json::Value;
use serde_json::value::RawValue;

pub use self::body_format::{ResponseFormat, XML_MAX_DEPTH, XmlConfig};
use self::xml_items::{XmlItems, XmlSplitError};
use crate::config::HttpSourceConfig;
use crate::error::SourceError;
use crate::http::Fetched;

/// An item type a non-JSON page can yield.
pub(crate) trait FormatItem: Sized {
    /// An item from one JSON Lines line.
    fn from_line(line: &[u8]) -> Result<Self, serde_json::Error>;
    /// An item from a mapped XML element.
    fn from_element(value: Value) -> Self;
}

impl FormatItem for Value {
    fn from_line(line: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(line)
    }

    fn from_element(value: Value) -> Self {
        value
    }
}

impl FormatItem for RawItem {
    // Checked and kept as text: no tree is built for a line.
    fn from_line(line: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice::<Box<RawValue>>(line).map(RawItem::from_raw)
    }

    fn from_element(value: Value) -> Self {
        RawItem::from_value(&value)
    }
}

/// A collection's body format, ready to split pages.
#[derive(Debug, Clone)]
pub(crate) enum PageFormat {
    /// One JSON document (split by the JSON sources themselves).
    Json,
    /// JSON Lines.
    Lines,
    /// XML.
    Xml(XmlItems),
}

impl PageFormat {
    /// The format `config` describes.
    ///
    /// # Errors
    ///
    /// [`SourceError::Config`] when `format`, `xml`, `items` and
    /// `pagination` do not fit together.
    pub(crate) fn new(config: &HttpSourceConfig) -> Result<Self, SourceError> {
        config.check_format()?;
        Ok(match config.format {
            ResponseFormat::Json => Self::Json,
            ResponseFormat::JsonLines => Self::Lines,
            ResponseFormat::Xml => Self::Xml(XmlItems {
                path: xml_path::ItemPath::parse(&config.items).map_err(SourceError::config)?,
                max_depth: config.xml.max_depth,
                arrays: config.xml.arrays.clone(),
            }),
        })
    }

    /// The rest of the body (for the paginator) and the items of a JSON
    /// Lines or XML page; `shown` is the page's URL as shown in errors.
    ///
    /// A page that is not what the format says is [`FetchError::Invalid`]
    /// (retried like a glitch); an XML page nested deeper than the limit is
    /// permanent.
    pub(crate) fn split<I: FormatItem>(
        &self,
        fetched: &Fetched,
        shown: &dyn Fn() -> String,
    ) -> Result<(Value, Vec<I>), FetchError> {
        match self {
            Self::Json => Err(FetchError::invalid(format!(
                "{}: a JSON page is split by the JSON source",
                shown()
            ))),
            Self::Lines => {
                let mut items = Vec::new();
                json_lines::each_line(&fetched.body, |line| {
                    items.push(I::from_line(line)?);
                    Ok::<_, serde_json::Error>(())
                })
                .map_err(|(line, e)| {
                    FetchError::invalid(format!("{}: line {line} is not valid JSON: {e}", shown()))
                })?;
                Ok((Value::Null, items))
            }
            Self::Xml(reader) => {
                let content_type = fetched
                    .headers
                    .get(reqwest::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok());
                let text = xml_charset::decode_xml(&fetched.body, content_type);
                let mut items = Vec::new();
                let rest = reader
                    .split(&text, &mut |value| items.push(I::from_element(value)))
                    // The reasons quote element names: outside text.
                    .map_err(|e| match e {
                        XmlSplitError::TooDeep(limit) => {
                            FetchError::permanent(SourceError::XmlTooDeep { url: shown(), limit })
                        }
                        XmlSplitError::Malformed(what) => FetchError::invalid(format!(
                            "{}: body is not well-formed XML: {}",
                            shown(),
                            printable(&what)
                        )),
                        XmlSplitError::NotThere(what) => {
                            FetchError::invalid(format!("{}: {}", shown(), printable(&what)))
                        }
                    })?;
                Ok((rest, items))
            }
        }
    }
}

/// `text` with control characters (ANSI escapes, CR, LF) written as
/// `\u{…}`, so that a server's text cannot forge a log line.
pub(crate) fn printable(text: &str) -> String {
    text.chars()
        .map(|c| match c.is_control() {
            true => c.escape_unicode().to_string(),
            false => c.to_string(),
        })
        .collect()
}
