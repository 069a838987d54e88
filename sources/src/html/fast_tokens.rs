//! The tokens of the streaming extraction: tags, comments, the doctype,
//! character references and line breaks, read as html5ever's tokenizer reads
//! them for the well-formed subset; anything its tokenizer would report as a
//! parse error or read another way stops the stream ([`Bail`]), and the page
//! is then read from html5ever's tree.

use std::borrow::Cow;

use html5ever::data::NAMED_ENTITIES;

/// The stream cannot tell what html5ever's tree holds: read the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bail;

/// HTML's ASCII whitespace (a carriage return counts: it becomes a line feed).
pub(crate) fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0C' | b'\r')
}

/// `raw` with its line breaks normalized (CR LF and CR become LF) and, with
/// `refs`, its character references decoded, as html5ever's tokenizer does
/// for text and attribute values.
pub(crate) fn decode(raw: &str, refs: bool) -> Result<Cow<'_, str>, Bail> {
    let b = raw.as_bytes();
    let find = |from: usize| {
        let hay = &b[from..];
        if refs {
            memchr::memchr2(b'&', b'\r', hay)
        } else {
            memchr::memchr(b'\r', hay)
        }
        .map(|o| o + from)
    };
    let Some(first) = find(0) else {
        return Ok(Cow::Borrowed(raw));
    };
    let mut out = String::with_capacity(raw.len());
    let (mut done, mut at) = (0, Some(first));
    while let Some(i) = at {
        out.push_str(&raw[done..i]);
        if b[i] == b'\r' {
            out.push('\n');
            done = if b.get(i + 1) == Some(&b'\n') {
                i + 2
            } else {
                i + 1
            };
        } else {
            done = char_ref(raw, i + 1, &mut out)?;
        }
        at = find(done);
    }
    out.push_str(&raw[done..]);
    Ok(Cow::Owned(out))
}

/// Decodes the reference after an `&` at `from` into `out`; where the text
/// goes on.
fn char_ref(raw: &str, from: usize, out: &mut String) -> Result<usize, Bail> {
    let b = raw.as_bytes();
    match b.get(from) {
        Some(b'#') => numeric_ref(b, from + 1, out),
        Some(c) if c.is_ascii_alphanumeric() => {
            let end = from + b[from..].iter().take_while(|c| c.is_ascii_alphanumeric()).count();
            if b.get(end) == Some(&b';')
                && let Some(&(first, second)) = NAMED_ENTITIES.get(&raw[from..=end])
                && first != 0
            {
                out.extend(char::from_u32(first));
                if second != 0 {
                    out.extend(char::from_u32(second));
                }
                return Ok(end + 1);
            }
            // A legacy reference without `;` (`&amp`, `&copy`) as a prefix
            // is decoded, or not, by rules the stream does not follow.
            let legacy = (from + 1..=end.min(from + 32))
                .any(|e| NAMED_ENTITIES.get(&raw[from..e]).is_some_and(|v| v.0 != 0));
            if legacy {
                return Err(Bail);
            }
            out.push('&');
            Ok(from)
        }
        _ => {
            out.push('&');
            Ok(from)
        }
    }
}

/// `&#…;` after the `#` at `from - 1`: only well-formed references to
/// characters html5ever takes as they are.
fn numeric_ref(b: &[u8], from: usize, out: &mut String) -> Result<usize, Bail> {
    let (hex, start) = match b.get(from) {
        Some(b'x' | b'X') => (true, from + 1),
        _ => (false, from),
    };
    let digits = b[start.min(b.len())..]
        .iter()
        .take_while(|c| {
            if hex {
                c.is_ascii_hexdigit()
            } else {
                c.is_ascii_digit()
            }
        })
        .count();
    if digits == 0 || digits > 7 || b.get(start + digits) != Some(&b';') {
        return Err(Bail);
    }
    let text = std::str::from_utf8(&b[start..start + digits]).map_err(|_| Bail)?;
    let n = u32::from_str_radix(text, if hex { 16 } else { 10 }).map_err(|_| Bail)?;
    let plain = matches!(n, 0x09 | 0x0A | 0x0C | 0x20..=0x7E)
        || (n >= 0xA0 && !(0xFDD0..=0xFDEF).contains(&n) && n & 0xFFFE != 0xFFFE);
    match char::from_u32(n) {
        Some(c) if plain => {
            out.push(c);
            Ok(start + digits + 1)
        }
        _ => Err(Bail),
    }
}

/// The end (after `-->`) of a comment starting at `at` (`<!--`).
pub(crate) fn comment_end(b: &[u8], at: usize) -> Result<usize, Bail> {
    let body = at + 4;
    let rest = b.get(body..).ok_or(Bail)?;
    if rest.starts_with(b">") || rest.starts_with(b"->") {
        return Err(Bail);
    }
    let close = memchr::memmem::find(rest, b"-->").ok_or(Bail)?;
    if memchr::memmem::find(&rest[..close + 2], b"--!>").is_some() {
        return Err(Bail);
    }
    Ok(body + close + 3)
}

/// The end (after `>`) of `<!DOCTYPE html>` at `at`, in any case, the only
/// doctype taken (no quirks mode).
pub(crate) fn doctype_end(b: &[u8], at: usize) -> Result<usize, Bail> {
    let mut i = at + 2;
    if !b
        .get(i..i + 7)
        .is_some_and(|w| w.eq_ignore_ascii_case(b"doctype"))
    {
        return Err(Bail);
    }
    i += 7;
    let spaced = b[i..].iter().take_while(|c| is_ws(**c)).count();
    i += spaced;
    if spaced == 0 || !b.get(i..i + 4).is_some_and(|w| w.eq_ignore_ascii_case(b"html")) {
        return Err(Bail);
    }
    i += 4;
    i += b[i..].iter().take_while(|c| is_ws(**c)).count();
    if b.get(i) != Some(&b'>') {
        return Err(Bail);
    }
    Ok(i + 1)
}

/// An attribute as written: its name lower-cased, its value undecoded.
#[derive(Debug)]
pub(crate) struct RawAttr<'a> {
    pub(crate) name: Cow<'a, str>,
    pub(crate) value: &'a str,
}

/// A start tag: its name (lower-cased), whether it ends with `/>`, and
/// where the text after it starts; its attributes were pushed.
#[derive(Debug)]
pub(crate) struct StartTag<'a> {
    pub(crate) name: Cow<'a, str>,
    pub(crate) self_closing: bool,
    pub(crate) end: usize,
}

fn lower(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|c| c.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// A name at `from`: up to whitespace, `/` or `>`; `None` at the end of input.
fn name_end(b: &[u8], from: usize) -> Option<usize> {
    b[from..]
        .iter()
        .position(|&c| is_ws(c) || c == b'/' || c == b'>')
        .map(|p| p + from)
}

/// The start tag at `at` (`<` then a letter); its attributes, without
/// duplicates (the first is kept), are pushed onto `attrs`.
pub(crate) fn start_tag<'a>(
    src: &'a str,
    at: usize,
    attrs: &mut Vec<RawAttr<'a>>,
) -> Result<StartTag<'a>, Bail> {
    let b = src.as_bytes();
    let end = name_end(b, at + 1).ok_or(Bail)?;
    let name = lower(&src[at + 1..end]);
    let first = attrs.len();
    let mut i = end;
    loop {
        while b.get(i).is_some_and(|c| is_ws(*c)) {
            i += 1;
        }
        match *b.get(i).ok_or(Bail)? {
            b'>' => {
                return Ok(StartTag {
                    name,
                    self_closing: false,
                    end: i + 1,
                });
            }
            b'/' if b.get(i + 1) == Some(&b'>') => {
                return Ok(StartTag {
                    name,
                    self_closing: true,
                    end: i + 2,
                });
            }
            b'/' | b'=' => return Err(Bail),
            _ => {}
        }
        let name_start = i;
        while b
            .get(i)
            .is_some_and(|&c| !is_ws(c) && !matches!(c, b'/' | b'>' | b'='))
        {
            if matches!(b[i], b'"' | b'\'' | b'<') {
                return Err(Bail);
            }
            i += 1;
        }
        let attr_name = lower(&src[name_start..i]);
        while b.get(i).is_some_and(|c| is_ws(*c)) {
            i += 1;
        }
        let mut value = "";
        if b.get(i) == Some(&b'=') {
            i += 1;
            while b.get(i).is_some_and(|c| is_ws(*c)) {
                i += 1;
            }
            match *b.get(i).ok_or(Bail)? {
                quote @ (b'"' | b'\'') => {
                    let close = memchr::memchr(quote, &b[i + 1..]).ok_or(Bail)? + i + 1;
                    value = &src[i + 1..close];
                    i = close + 1;
                    if !b.get(i).is_some_and(|&c| is_ws(c) || c == b'/' || c == b'>') {
                        return Err(Bail);
                    }
                }
                b'>' => return Err(Bail),
                _ => {
                    let start = i;
                    while b.get(i).is_some_and(|&c| !is_ws(c) && c != b'>') {
                        if matches!(b[i], b'"' | b'\'' | b'<' | b'=' | b'`') {
                            return Err(Bail);
                        }
                        i += 1;
                    }
                    value = &src[start..i];
                }
            }
        }
        if !attrs[first..].iter().any(|a| a.name == attr_name) {
            attrs.push(RawAttr {
                name: attr_name,
                value,
            });
        }
    }
}

/// The end tag at `at` (`</` then a letter): its name (lower-cased) and the
/// end of the tag; only `</name>` with optional whitespace.
pub(crate) fn end_tag(src: &str, at: usize) -> Result<(Cow<'_, str>, usize), Bail> {
    let b = src.as_bytes();
    let end = name_end(b, at + 2).ok_or(Bail)?;
    let name = lower(&src[at + 2..end]);
    let mut i = end;
    while b.get(i).is_some_and(|c| is_ws(*c)) {
        i += 1;
    }
    if b.get(i) != Some(&b'>') {
        return Err(Bail);
    }
    Ok((name, i + 1))
}

/// Where the text of a raw-text element `name` that starts at `from` ends
/// (the `<` of its end tag `</name` followed by whitespace, `/` or `>`).
pub(crate) fn raw_text_end(b: &[u8], from: usize, name: &str) -> Result<usize, Bail> {
    let mut i = from;
    loop {
        let lt = memchr::memmem::find(&b[i..], b"</").ok_or(Bail)? + i;
        let after = lt + 2 + name.len();
        if b.get(lt + 2..after)
            .is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()))
            && b.get(after).is_some_and(|&c| is_ws(c) || c == b'/' || c == b'>')
        {
            return Ok(lt);
        }
        i = lt + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_decode_as_html5ever_decodes_them_or_bail() {
        let ok = |raw: &str, want: &str| assert_eq!(decode(raw, true).unwrap(), want, "{raw}");
        ok("a &amp; b &lt;&gt; &#8212;&#x41;&#X42;", "a & b <> \u{2014}AB");
        ok("x=1&y=2&zz;& &#38;", "x=1&y=2&zz;& &");
        ok("&notin; &NotEqualTilde;", "\u{2209} \u{2242}\u{338}");
        ok("a\r\nb\rc", "a\nb\nc");
        for bad in [
            "&amp",
            "&copy=1",
            "&#0;",
            "&#128;",
            "&#xD800;",
            "&#12",
            "&#;",
            "&notit;",
            "&#x110000;",
        ] {
            assert_eq!(decode(bad, true), Err(Bail), "{bad}");
        }
        assert_eq!(decode("&amp\r", false).unwrap(), "&amp\n");
    }

    #[test]
    fn tags_keep_the_first_of_duplicate_attributes() {
        let src = r#"<A HREF="x" class=y href='z' data-e="&amp;" checked>"#;
        let mut attrs = Vec::new();
        let tag = start_tag(src, 0, &mut attrs).unwrap();
        assert_eq!(tag.name, "a");
        assert_eq!(tag.end, src.len());
        let got: Vec<_> = attrs.iter().map(|a| (a.name.as_ref(), a.value)).collect();
        assert_eq!(
            got,
            [
                ("href", "x"),
                ("class", "y"),
                ("data-e", "&amp;"),
                ("checked", "")
            ]
        );
        for bad in [
            "<a b=\"x\"c>",
            "<a b=>",
            "<a \"b\">",
            "<a b=x\"y>",
            "<a",
            "<a b='x",
        ] {
            assert!(start_tag(bad, 0, &mut Vec::new()).is_err(), "{bad}");
        }
    }
}
