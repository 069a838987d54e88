//! How the `crawl` binary writes a log event's fields: every value escaped
//! (see [`crawlpipe_core::escape_outside`]), so no text a server or an item
//! supplied, logged anywhere, can drive the terminal or forge a log line.
//!
//! Errors escape their outside text where they are formatted already; this
//! is the same promise for every other field (a URL, a header value, a
//! parent key), whoever logs it.

use std::fmt::{Debug, Write as _};

use tracing::field::Field;
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::{Writer, debug_fn};

/// The field formatter: `message` bare, then `name=value`, space-separated,
/// each escaped.
pub fn escaping_fields() -> impl for<'w> FormatFields<'w> + Send + Sync + 'static {
    debug_fn(|w: &mut Writer<'_>, field: &Field, value: &dyn Debug| {
        let mut text = String::new();
        let _ = write!(text, "{value:?}");
        let shown = crawlpipe_core::escape_outside(&text);
        match field.name() {
            "message" => write!(w, "{shown}"),
            name => write!(w, "{name}={shown}"),
        }
    })
    .delimited(" ")
}
