//! A cheap pre-scan of HTML nesting depth, run before building a tree.
//!
//! html5ever's tree builder is quadratic in nesting depth and deep documents
//! have overflowed stacks, so documents nested deeper than the limit are
//! refused before parsing. The scan follows tags with a stack, closes the
//! elements HTML closes implicitly (`<li><li>`, `<p><p>`), skips comments,
//! raw-text elements and void elements, and so approximates the real depth.

/// An element name as written (compared without regard to ASCII case).
type Name<'a> = &'a [u8];

/// What the scan does with an element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Its text runs to its end tag (`<script>`, `<title>`): skipped.
    RawText,
    /// It has no end tag (`<br>`, `<img>`): not counted.
    Void,
    /// A start tag of its name closes an open one (`<li><li>`).
    Sibling,
    Other,
}

/// The kind of an element name, in any case (one `match` per tag: it runs
/// for every tag of every page).
fn kind(name: Name<'_>) -> Kind {
    let mut buf = [0u8; 8];
    let Some(lower) = buf.get_mut(..name.len()) else {
        return Kind::Other;
    };
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    match &*lower {
        b"script" | b"style" | b"textarea" | b"title" | b"xmp" | b"iframe" | b"noembed" | b"noframes" => {
            Kind::RawText
        }
        b"area" | b"base" | b"br" | b"col" | b"embed" | b"hr" | b"img" | b"input" | b"link" | b"meta"
        | b"param" | b"source" | b"track" | b"wbr" => Kind::Void,
        b"li" | b"p" | b"dt" | b"dd" | b"option" | b"tr" | b"td" | b"th" | b"a" => Kind::Sibling,
        _ => Kind::Other,
    }
}

fn find(hay: &[u8], from: usize, needle: u8) -> Option<usize> {
    memchr::memchr(needle, hay.get(from..)?).map(|p| p + from)
}

/// The start of the end tag `</name` at or after `from`, in any case.
fn find_end_tag(hay: &[u8], from: usize, name: Name<'_>) -> Option<usize> {
    let mut at = from;
    loop {
        let lt = at + memchr::memmem::find(hay.get(at..)?, b"</")?;
        let tail = &hay[lt + 2..];
        if tail.len() >= name.len() && tail[..name.len()].eq_ignore_ascii_case(name) {
            return Some(lt);
        }
        at = lt + 2;
    }
}

fn name_at(html: &[u8], start: usize) -> (Name<'_>, usize) {
    let end = html[start..]
        .iter()
        .position(|b| b.is_ascii_whitespace() || *b == b'>' || *b == b'/')
        .map_or(html.len(), |p| p + start);
    (&html[start..end], end)
}

/// The end of a tag starting its attributes at `from` (the index of `>`),
/// and whether it is self-closing (`/>`).
fn tag_end(html: &[u8], from: usize) -> Option<(usize, bool)> {
    let mut i = from;
    loop {
        let at = i + memchr::memchr3(b'>', b'"', b'\'', html.get(i..)?)?;
        match html[at] {
            b'>' => return Some((at, at > from && html[at - 1] == b'/')),
            quote => i = find(html, at + 1, quote)? + 1,
        }
    }
}

/// Whether `html` nests elements deeper than `limit`.
///
/// One pass with no allocation but the stack of open names (slices of
/// `html`): it runs on every page before the parse.
pub(crate) fn exceeds_depth(html: &[u8], limit: usize) -> bool {
    let mut stack: Vec<Name<'_>> = Vec::new();
    let mut i = 0;
    while let Some(lt) = find(html, i, b'<') {
        i = lt + 1;
        match html.get(i) {
            Some(b'!') => {
                i = if html[i..].starts_with(b"!--") {
                    memchr::memmem::find(&html[i + 3..], b"-->").map_or(html.len(), |e| i + 3 + e + 3)
                } else {
                    find(html, i, b'>').map_or(html.len(), |e| e + 1)
                };
            }
            Some(b'?') => i = find(html, i, b'>').map_or(html.len(), |e| e + 1),
            Some(b'/') => {
                let (name, end) = name_at(html, i + 1);
                if let Some(pos) = stack.iter().rposition(|n| n.eq_ignore_ascii_case(name)) {
                    stack.truncate(pos);
                }
                i = find(html, end, b'>').map_or(html.len(), |e| e + 1);
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let (name, end) = name_at(html, i);
                let Some((gt, self_closing)) = tag_end(html, end) else {
                    break;
                };
                i = gt + 1;
                let kind = kind(name);
                if kind == Kind::RawText {
                    i = find_end_tag(html, i, name).unwrap_or(html.len());
                    continue;
                }
                if self_closing || kind == Kind::Void {
                    continue;
                }
                if kind == Kind::Sibling && stack.last().is_some_and(|top| top.eq_ignore_ascii_case(name)) {
                    stack.pop();
                }
                stack.push(name);
                if stack.len() > limit {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_nesting_is_detected() {
        let deep = "<div>".repeat(600);
        assert!(exceeds_depth(deep.as_bytes(), 512));
        let nested_lists = "<ul><li>".repeat(300);
        assert!(exceeds_depth(nested_lists.as_bytes(), 512));
    }

    #[test]
    fn ordinary_documents_pass() {
        let mut doc = String::from(
            "<!DOCTYPE html><html><head><title>a<b</title><meta charset=utf-8><script>if (a<b) {}</script></head><body>",
        );
        for i in 0..2000 {
            doc.push_str(&format!("<section id=\"s{i}\"><h1 class='x>y'>T{i}</h1><p>one<p>two<br><img src=x /><ul><li>a<li>b</ul><!-- <div><div> --></section>"));
        }
        doc.push_str("</body></html>");
        assert!(!exceeds_depth(doc.as_bytes(), 512));
    }

    #[test]
    fn unclosed_siblings_do_not_count_as_nesting() {
        let items = "<li>x".repeat(5000);
        assert!(!exceeds_depth(format!("<ul>{items}</ul>").as_bytes(), 512));
        let paras = "<p>x".repeat(5000);
        assert!(!exceeds_depth(paras.as_bytes(), 512));
    }

    #[test]
    fn depth_at_the_limit_is_accepted() {
        let doc = format!("{}{}", "<div>".repeat(512), "</div>".repeat(512));
        assert!(!exceeds_depth(doc.as_bytes(), 512));
        assert!(exceeds_depth(doc.as_bytes(), 511));
    }

    #[test]
    fn garbage_does_not_panic() {
        for s in [
            "<", "<!", "<!--", "</", "<a", "<a '>", "<<<>>>", "<\u{e9}>", "</x",
        ] {
            let _ = exceeds_depth(s.as_bytes(), 2);
        }
    }

    /// The first version of the scan (a lowercased copy of every name,
    /// byte-by-byte searches), kept as the model the fast scan must agree with.
    fn model(html: &[u8], limit: usize) -> bool {
        const VOID: &[&[u8]] = &[
            b"area", b"base", b"br", b"col", b"embed", b"hr", b"img", b"input", b"link", b"meta", b"param",
            b"source", b"track", b"wbr",
        ];
        const RAW_TEXT: &[&[u8]] = &[
            b"script",
            b"style",
            b"textarea",
            b"title",
            b"xmp",
            b"iframe",
            b"noembed",
            b"noframes",
        ];
        const SELF_CLOSING_SIBLINGS: &[&[u8]] =
            &[b"li", b"p", b"dt", b"dd", b"option", b"tr", b"td", b"th", b"a"];
        fn find(hay: &[u8], from: usize, needle: u8) -> Option<usize> {
            hay.get(from..)?
                .iter()
                .position(|&b| b == needle)
                .map(|p| p + from)
        }
        fn find_ci(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
            hay.get(from..)?
                .windows(needle.len())
                .position(|w| w.eq_ignore_ascii_case(needle))
                .map(|p| p + from)
        }
        fn name_at(html: &[u8], start: usize) -> (Vec<u8>, usize) {
            let end = html[start..]
                .iter()
                .position(|b| b.is_ascii_whitespace() || *b == b'>' || *b == b'/')
                .map_or(html.len(), |p| p + start);
            (html[start..end].to_ascii_lowercase(), end)
        }
        fn tag_end(html: &[u8], from: usize) -> Option<(usize, bool)> {
            let mut quote = None;
            for (i, &b) in html.iter().enumerate().skip(from) {
                match quote {
                    Some(q) if b == q => quote = None,
                    Some(_) => {}
                    None if b == b'"' || b == b'\'' => quote = Some(b),
                    None if b == b'>' => return Some((i, i > from && html[i - 1] == b'/')),
                    None => {}
                }
            }
            None
        }
        let mut stack: Vec<Vec<u8>> = Vec::new();
        let mut i = 0;
        while let Some(lt) = find(html, i, b'<') {
            i = lt + 1;
            match html.get(i) {
                Some(b'!') => {
                    i = if html[i..].starts_with(b"!--") {
                        find_ci(html, i + 3, b"-->").map_or(html.len(), |e| e + 3)
                    } else {
                        find(html, i, b'>').map_or(html.len(), |e| e + 1)
                    };
                }
                Some(b'?') => i = find(html, i, b'>').map_or(html.len(), |e| e + 1),
                Some(b'/') => {
                    let (name, end) = name_at(html, i + 1);
                    if let Some(pos) = stack.iter().rposition(|n| *n == name) {
                        stack.truncate(pos);
                    }
                    i = find(html, end, b'>').map_or(html.len(), |e| e + 1);
                }
                Some(c) if c.is_ascii_alphabetic() => {
                    let (name, end) = name_at(html, i);
                    let Some((gt, self_closing)) = tag_end(html, end) else {
                        break;
                    };
                    i = gt + 1;
                    if RAW_TEXT.contains(&name.as_slice()) {
                        let mut close = b"</".to_vec();
                        close.extend_from_slice(&name);
                        i = find_ci(html, i, &close).unwrap_or(html.len());
                        continue;
                    }
                    if self_closing || VOID.contains(&name.as_slice()) {
                        continue;
                    }
                    if SELF_CLOSING_SIBLINGS.contains(&name.as_slice())
                        && stack.last().is_some_and(|top| *top == name)
                    {
                        stack.pop();
                    }
                    stack.push(name);
                    if stack.len() > limit {
                        return true;
                    }
                }
                _ => {}
            }
        }
        false
    }

    /// Markup-heavy input: tags of every kind the scan treats apart, in any case.
    fn markup() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::strategy::Strategy;
        let piece = proptest::sample::select(vec![
            "<div>",
            "</div>",
            "<DIV class='a>b'>",
            "<p>",
            "<P>",
            "</p>",
            "<li>",
            "<LI>",
            "</li>",
            "<a href=\"x\">",
            "</A>",
            "<br>",
            "<img src=x />",
            "<span/>",
            "<script>",
            "</script>",
            "</SCRIPT >",
            "<style>",
            "</style>",
            "<!-- <div> -->",
            "<!--",
            "-->",
            "<!doctype html>",
            "<?xml?>",
            "<",
            ">",
            "\"",
            "'",
            "/",
            "x",
            " ",
            "<title>",
            "</TITLE>",
            "<textarea>",
            "</",
        ]);
        proptest::collection::vec(piece, 0..200).prop_map(|pieces| pieces.concat())
    }

    #[test]
    fn names_are_classified_in_any_case() {
        assert_eq!(kind(b"SCRIPT"), Kind::RawText);
        assert_eq!(kind(b"noFrames"), Kind::RawText);
        assert_eq!(kind(b"Br"), Kind::Void);
        assert_eq!(kind(b"li"), Kind::Sibling);
        assert_eq!(kind(b"section"), Kind::Other);
        assert_eq!(kind(b"scripts"), Kind::Other);
        assert_eq!(kind(b"a-very-long-custom-element"), Kind::Other);
        assert_eq!(kind(b""), Kind::Other);
    }

    proptest::proptest! {
        #[test]
        fn the_fast_scan_agrees_with_the_model(doc in markup(), limit in 0usize..12) {
            proptest::prop_assert_eq!(exceeds_depth(doc.as_bytes(), limit), model(doc.as_bytes(), limit));
        }

        #[test]
        fn the_fast_scan_agrees_with_the_model_on_any_bytes(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512), limit in 0usize..6) {
            proptest::prop_assert_eq!(exceeds_depth(&bytes, limit), model(&bytes, limit));
        }

        #[test]
        fn any_bytes_scan_without_panicking(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = exceeds_depth(&bytes, 4);
        }

        #[test]
        fn balanced_nesting_is_measured_exactly(depth in 0usize..64) {
            let doc = format!("{}{}", "<div>".repeat(depth), "</div>".repeat(depth));
            proptest::prop_assert!(!exceeds_depth(doc.as_bytes(), depth));
            proptest::prop_assert_eq!(exceeds_depth(doc.as_bytes(), depth.saturating_sub(1)), depth > 0);
        }
    }
}
