//! Decoding XML bytes to text: a byte order mark, then the `charset` of the
//! `Content-Type` header (RFC 7303), then the XML declaration's `encoding`,
//! else UTF-8. Bytes invalid in the encoding become U+FFFD.

use std::borrow::Cow;

use encoding_rs::{Encoding, UTF_8};

use crate::html::charset::charset_param;

/// How far into the body the XML declaration is looked for.
const DECLARATION_BYTES: usize = 256;

/// `body` as text, decoded with the encoding its header or declaration names.
pub(crate) fn decode_xml<'a>(body: &'a [u8], content_type: Option<&str>) -> Cow<'a, str> {
    let encoding = content_type
        .and_then(charset_param)
        .and_then(|label| Encoding::for_label(label.as_bytes()))
        .or_else(|| declared(&body[..body.len().min(DECLARATION_BYTES)]))
        .unwrap_or(UTF_8);
    // `decode` lets a byte order mark override the declared encoding.
    let (text, _, _) = encoding.decode(body);
    text
}

/// The encoding of `<?xml … encoding="…"?>` at the start of `head`.
fn declared(head: &[u8]) -> Option<&'static Encoding> {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let head = head.trim_ascii_start();
    let end = head.windows(2).position(|w| w == b"?>")?;
    let decl = std::str::from_utf8(head.strip_prefix(b"<?xml")?.get(..end.checked_sub(5)?)?).ok()?;
    let at = decl.find("encoding")?;
    let value = decl[at + "encoding".len()..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let quote = value.chars().next().filter(|q| *q == '"' || *q == '\'')?;
    let label = value[1..].split(quote).next()?;
    let encoding = Encoding::for_label(label.as_bytes())?;
    // A document read as ASCII cannot be UTF-16; the BOM would say so.
    (encoding.output_encoding() == encoding).then_some(encoding)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_declaration_or_the_header_names_the_encoding() {
        let latin = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>caf\xe9</a>";
        assert_eq!(
            decode_xml(latin, None),
            "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>café</a>"
        );
        assert_eq!(
            decode_xml(b"<a>caf\xe9</a>", Some("text/xml; charset=latin1")),
            "<a>café</a>"
        );
        assert_eq!(
            decode_xml("<a>café</a>".as_bytes(), Some("application/xml")),
            "<a>café</a>"
        );
        assert_eq!(decode_xml(b"\xEF\xBB\xBF<a/>", None), "<a/>");
        assert_eq!(declared(b"<?xml version='1.0' encoding = 'utf-16'?>"), None);
        assert_eq!(declared(b"<a encoding=\"latin1\"/>"), None);
    }
}
