use std::fmt;

use serde::{Deserialize, Serialize};

/// An opaque, storable position in a remote collection: a URL, a token, an offset.
///
/// Restarting a source from a cursor yields exactly the items after the
/// checkpoint that carried it. Cursors are stored as `TEXT`, so they are plain
/// strings; what they mean is the source's business.
///
/// # Examples
///
/// ```
/// use crawlpipe_core::Cursor;
///
/// let cursor = Cursor::new("https://api.example.com/items?page=3");
/// assert_eq!(cursor.as_str(), "https://api.example.com/items?page=3");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(String);

impl Cursor {
    /// Wraps a string as a cursor.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The cursor as text, as it is stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Unwraps the cursor into its text.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for Cursor {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Cursor {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

/// Formats an optional cursor for messages: `start` when there is none.
pub(crate) fn describe(cursor: Option<&Cursor>) -> String {
    match cursor {
        Some(c) => format!("cursor {:?}", c.as_str()),
        None => "the first page".to_owned(),
    }
}
