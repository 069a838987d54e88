//! Decoding HTML bytes to text in the page's own character encoding.
//!
//! Order, as browsers do (a simplified WHATWG "encoding sniffing"): a byte
//! order mark, then the `charset` of the `Content-Type` header, then a
//! `<meta charset>` or `<meta http-equiv="Content-Type">` in the first 1024
//! bytes, else UTF-8. Labels are the WHATWG ones, so `ISO-8859-1` and
//! `latin1` decode as windows-1252, as every browser does. Bytes that are
//! invalid in the encoding become U+FFFD; decoding never fails.

use std::borrow::Cow;

use encoding_rs::{Encoding, UTF_8, WINDOWS_1252, X_USER_DEFINED};

/// How far into the document a `<meta>` charset is looked for.
const PRESCAN_BYTES: usize = 1024;

/// `body` as text, decoded with the encoding its header or markup declares.
pub(crate) fn decode_html<'a>(body: &'a [u8], content_type: Option<&str>) -> Cow<'a, str> {
    let encoding = content_type
        .and_then(charset_param)
        .and_then(|label| Encoding::for_label(label.as_bytes()))
        .or_else(|| meta_charset(&body[..body.len().min(PRESCAN_BYTES)]))
        .unwrap_or(UTF_8);
    // `decode` lets a byte order mark override the declared encoding.
    let (text, _, _) = encoding.decode(body);
    text
}

/// The `charset` parameter of a `Content-Type`-style value.
pub(crate) fn charset_param(value: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|param| {
        let (name, v) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches(['"', '\'']).trim().to_owned())
            .filter(|v| !v.is_empty())
    })
}

/// The encoding a `<meta>` tag in `head` declares.
fn meta_charset(head: &[u8]) -> Option<&'static Encoding> {
    let lower = head.to_ascii_lowercase();
    let mut from = 0;
    while let Some(at) = find(&lower[from..], b"<meta") {
        let start = from + at + 5;
        let end = lower[start..]
            .iter()
            .position(|&b| b == b'>')
            .map_or(lower.len(), |p| start + p);
        if let Some(encoding) = meta_tag_charset(&head[start..end]) {
            // A document cannot declare itself UTF-16 in ASCII markup.
            if encoding.output_encoding() == UTF_8 && encoding != UTF_8 {
                return Some(UTF_8);
            }
            if encoding == X_USER_DEFINED {
                return Some(WINDOWS_1252);
            }
            return Some(encoding);
        }
        from = end;
    }
    None
}

/// The charset of one `<meta …>` tag's attributes, if it declares one.
fn meta_tag_charset(attrs: &[u8]) -> Option<&'static Encoding> {
    let attrs = attributes(attrs);
    let value = |name: &str| {
        attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    if let Some(label) = value("charset") {
        return Encoding::for_label(label.trim().as_bytes());
    }
    let is_content_type = value("http-equiv").is_some_and(|v| v.trim().eq_ignore_ascii_case("content-type"));
    if is_content_type {
        let label = charset_param(value("content")?)?;
        return Encoding::for_label(label.as_bytes());
    }
    None
}

/// `name=value` pairs of a tag's attribute text (quoted or not).
fn attributes(text: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(text);
    let mut out = Vec::new();
    let mut rest = text.trim_start_matches('/').trim_start();
    while !rest.is_empty() {
        let name_end = rest
            .find(|c: char| c == '=' || c.is_whitespace() || c == '/')
            .unwrap_or(rest.len());
        let name = rest[..name_end].to_owned();
        rest = rest[name_end..].trim_start();
        let mut value = String::new();
        if let Some(after) = rest.strip_prefix('=') {
            let after = after.trim_start();
            let (v, remaining) = match after.chars().next() {
                Some(q @ ('"' | '\'')) => {
                    let body = &after[1..];
                    match body.find(q) {
                        Some(close) => (&body[..close], &body[close + 1..]),
                        None => (body, ""),
                    }
                }
                _ => {
                    let end = after.find(char::is_whitespace).unwrap_or(after.len());
                    (&after[..end], &after[end..])
                }
            };
            value = v.to_owned();
            rest = remaining;
        }
        if !name.is_empty() {
            out.push((name, value));
        }
        rest = rest.trim_start_matches('/').trim_start();
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CAFE_1252: &[u8] = b"<p>Caf\xe9 \x93na\xefve\x94 \x96 Gr\xf6\xdfe</p>";
    const CAFE: &str = "<p>Café “naïve” – Größe</p>";

    #[test]
    fn the_header_charset_wins() {
        assert_eq!(
            decode_html(CAFE_1252, Some("text/html; charset=windows-1252")),
            CAFE
        );
        assert_eq!(
            decode_html(CAFE_1252, Some("text/html;charset=\"ISO-8859-1\"")),
            CAFE
        );
        assert_eq!(
            decode_html(CAFE.as_bytes(), Some("text/html; charset=utf-8")),
            CAFE
        );
    }

    #[test]
    fn a_meta_charset_is_used_without_a_header_charset() {
        let mut doc = b"<html><head><META CHARSET='latin1'></head>".to_vec();
        doc.extend_from_slice(CAFE_1252);
        assert!(decode_html(&doc, Some("text/html")).ends_with(CAFE));
        let mut doc =
            b"<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=windows-1252\">"
                .to_vec();
        doc.extend_from_slice(CAFE_1252);
        assert!(decode_html(&doc, None).ends_with(CAFE));
    }

    #[test]
    fn utf8_is_the_default_and_a_bom_overrides() {
        assert_eq!(decode_html(CAFE.as_bytes(), None), CAFE);
        let mut doc = b"\xef\xbb\xbf".to_vec();
        doc.extend_from_slice(CAFE.as_bytes());
        assert_eq!(decode_html(&doc, Some("text/html; charset=windows-1252")), CAFE);
        // A meta tag past the first 1024 bytes is not looked at.
        let mut late = vec![b' '; 1100];
        late.extend_from_slice(b"<meta charset=windows-1252>\xe9");
        assert!(decode_html(&late, None).ends_with('\u{fffd}'));
    }

    #[test]
    fn a_meta_utf16_declaration_means_utf8() {
        let doc = "<meta charset=utf-16>é".as_bytes();
        assert!(decode_html(doc, None).ends_with('é'));
    }

    proptest! {
        #[test]
        fn any_bytes_decode_without_panicking(body in prop::collection::vec(any::<u8>(), 0..300), ct in "\\PC{0,40}") {
            let _ = decode_html(&body, Some(&ct));
            let mut meta = b"<meta ".to_vec();
            meta.extend_from_slice(&body);
            let _ = decode_html(&meta, None);
        }
    }
}
