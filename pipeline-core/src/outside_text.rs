//! Outside text made safe to show: what a server or an item supplied
//! (error bodies, GraphQL messages, header values, page titles, item
//! values) is data, never control.
//!
//! Shown raw, such text can drive the terminal that reads a log (`ESC[2J`
//! clears it, OSC sequences set its title or a link), forge log lines
//! (`\r\n2026-01-01T00:00:00Z  INFO …`), or reorder what a reader sees
//! (Unicode bidi overrides). [`OutsideText`] escapes every such character
//! where an error or message is formatted, so every place the text goes
//! (a log line, the summary, `/status`, the status page) gets it escaped.
//!
//! Escaped are the C0 controls (`\n`, `\r`, `\t` by name, the others as
//! `\u{1b}`), DEL and the C1 controls, and the Unicode bidi controls
//! (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069). Everything else,
//! any printable Unicode included, is kept as it is.

use std::borrow::Cow;
use std::fmt::{self, Write};

/// Outside text, shown escaped: its `Display` writes the text with every
/// control character escaped: the C0 controls (`\n`, `\r`, `\t` by name,
/// the others as `\u{1b}`), DEL, the C1 controls and the Unicode bidi
/// controls. Everything else is kept as it is.
///
/// ```
/// use crawlpipe_core::OutsideText;
/// let body = "denied\x1b[2J\r\n2026-01-01T00:00:00Z  INFO forged";
/// assert_eq!(
///     OutsideText(body).to_string(),
///     "denied\\u{1b}[2J\\r\\n2026-01-01T00:00:00Z  INFO forged"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutsideText<'a>(pub &'a str);

impl fmt::Display for OutsideText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(is_control) {
            f.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().unwrap_or_default();
            match c {
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c => write!(f, "\\u{{{:x}}}", u32::from(c))?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

/// `text` with every control character escaped; borrowed when it has none.
///
/// ```
/// assert_eq!(crawlpipe_core::escape_outside("a\x07b"), "a\\u{7}b");
/// assert!(matches!(crawlpipe_core::escape_outside("plain"), std::borrow::Cow::Borrowed(_)));
/// ```
pub fn escape_outside(text: &str) -> Cow<'_, str> {
    if text.contains(is_control) {
        let mut out = String::with_capacity(text.len() + 8);
        let _ = write!(out, "{}", OutsideText(text));
        Cow::Owned(out)
    } else {
        Cow::Borrowed(text)
    }
}

/// `value` formatted, then escaped: for error messages that carry outside
/// text in a field or a source error.
pub(crate) fn shown(value: &dyn fmt::Display) -> String {
    escape_outside(&value.to_string()).into_owned()
}

/// Whether `c` would act on a terminal or a reader instead of being shown.
pub fn is_control(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_control_class_is_escaped_and_text_kept() {
        let cases = [
            ("\x1b[2J", "\\u{1b}[2J"),
            ("bell\x07", "bell\\u{7}"),
            ("a\r\nb\tc", "a\\r\\nb\\tc"),
            ("nul\0", "nul\\u{0}"),
            ("del\x7f", "del\\u{7f}"),
            ("c1\u{9b}31m", "c1\\u{9b}31m"),
            ("rtl\u{202e}gnp.exe", "rtl\\u{202e}gnp.exe"),
            ("isolate\u{2066}x\u{2069}", "isolate\\u{2066}x\\u{2069}"),
            ("café 東京 ✓", "café 東京 ✓"),
        ];
        for (raw, shown) in cases {
            assert_eq!(OutsideText(raw).to_string(), shown, "{raw:?}");
            assert_eq!(escape_outside(raw), shown, "{raw:?}");
            assert!(!escape_outside(raw).contains(is_control));
        }
    }
}
