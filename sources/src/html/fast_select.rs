//! The CSS selectors the streaming extraction matches by itself: type, `*`,
//! `#id`, `.class` and attribute selectors (`[a]`, `=`, `~=`, `|=`, `^=`,
//! `$=`, `*=`), joined by descendant and child combinators, in lists.
//!
//! They are matched exactly as `scraper` (the `selectors` crate, no-quirks
//! mode) matches them on html5ever's tree: names lower-cased, classes split
//! on ASCII whitespace, the values of the attributes HTML compares without
//! regard to case (`rel`, `type`, …) compared so. Anything else (pseudo-
//! classes, sibling combinators, namespaces, escapes, attribute flags) is not
//! parsed, and the page is then read from the tree as before. An element in
//! foreign content (SVG) that a compound could match stops the stream too:
//! its names and attributes are adjusted by the tree builder.

use std::borrow::Cow;

use crate::html::fast_tokens::Bail;

/// The elements open in a document, indexed from the root (0) to the
/// current one, as a selector sees them.
pub(crate) trait OpenElements {
    /// The element's name: ASCII lower case for HTML elements.
    fn name(&self, at: usize) -> &str;
    /// Whether the element is in foreign content (SVG).
    fn foreign(&self, at: usize) -> bool;
    /// The element's attribute `name`, decoded.
    fn attr(&self, at: usize, name: &str) -> Result<Option<Cow<'_, str>>, Bail>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Exists,
    Equal,
    Includes,
    Dash,
    Prefix,
    Substring,
    Suffix,
}

#[derive(Debug)]
struct AttrSel {
    name: String,
    op: Op,
    value: String,
    /// Compared without regard to ASCII case (the HTML attributes `selectors` treats so).
    ascii_ci: bool,
}

#[derive(Debug, Default)]
struct Compound {
    /// The type, lower-cased; `None` for `*` or no type.
    ty: Option<String>,
    ids: Vec<String>,
    classes: Vec<String>,
    attrs: Vec<AttrSel>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comb {
    Descendant,
    Child,
}

/// A complex selector from right to left: `compounds[0]` is the subject and
/// `combs[i]` joins `compounds[i]` to its left neighbour `compounds[i + 1]`.
#[derive(Debug)]
struct Complex {
    compounds: Vec<Compound>,
    combs: Vec<Comb>,
}

/// A selector list of the supported subset.
#[derive(Debug)]
pub(crate) struct FastSelector {
    list: Vec<Complex>,
}

impl FastSelector {
    /// The selector, or `None` when it is outside the subset.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let mut p = Parser {
            b: text.as_bytes(),
            i: 0,
        };
        let mut list = Vec::new();
        loop {
            p.ws();
            list.push(p.complex()?);
            p.ws();
            match p.peek() {
                None => break,
                Some(b',') => p.i += 1,
                Some(_) => return None,
            }
        }
        Some(Self { list })
    }

    /// Whether the element at `at` (the last open one or an ancestor) matches;
    /// [`Bail`] when a foreign element decides it.
    pub(crate) fn matches(&self, doc: &impl OpenElements, at: usize) -> Result<bool, Bail> {
        for complex in &self.list {
            if complex.matches(0, doc, at)? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

impl Complex {
    fn matches(&self, k: usize, doc: &impl OpenElements, at: usize) -> Result<bool, Bail> {
        if !self.compounds[k].matches(doc, at)? {
            return Ok(false);
        }
        let Some(comb) = self.combs.get(k) else {
            return Ok(true);
        };
        match comb {
            Comb::Child => match at.checked_sub(1) {
                Some(parent) => self.matches(k + 1, doc, parent),
                None => Ok(false),
            },
            Comb::Descendant => {
                for ancestor in (0..at).rev() {
                    if self.matches(k + 1, doc, ancestor)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
        }
    }
}

/// The characters `selectors` splits `~=` values on.
const SELECTOR_WHITESPACE: &[char] = &[' ', '\t', '\n', '\r', '\x0C'];

impl Compound {
    fn matches(&self, doc: &impl OpenElements, at: usize) -> Result<bool, Bail> {
        let name = doc.name(at);
        if let Some(ty) = &self.ty
            && !ty.eq_ignore_ascii_case(name)
        {
            return Ok(false);
        }
        if doc.foreign(at) {
            return Err(Bail);
        }
        if self.ty.as_ref().is_some_and(|ty| ty != name) {
            return Ok(false);
        }
        for id in &self.ids {
            if doc.attr(at, "id")?.as_deref() != Some(id.as_str()) {
                return Ok(false);
            }
        }
        if !self.classes.is_empty() {
            let Some(class) = doc.attr(at, "class")? else {
                return Ok(false);
            };
            if !self
                .classes
                .iter()
                .all(|c| class.split_ascii_whitespace().any(|have| have == c))
            {
                return Ok(false);
            }
        }
        for sel in &self.attrs {
            let Some(value) = doc.attr(at, &sel.name)? else {
                return Ok(false);
            };
            if !sel.eval(&value) {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

impl AttrSel {
    /// `selectors`' `AttrSelectorOperator::eval_str`.
    fn eval(&self, have: &str) -> bool {
        let (e, s) = (have.as_bytes(), self.value.as_bytes());
        let eq = |a: &[u8], b: &[u8]| {
            if self.ascii_ci {
                a.eq_ignore_ascii_case(b)
            } else {
                a == b
            }
        };
        match self.op {
            Op::Exists => true,
            Op::Equal => eq(e, s),
            Op::Prefix => !s.is_empty() && e.len() >= s.len() && eq(&e[..s.len()], s),
            Op::Suffix => !s.is_empty() && e.len() >= s.len() && eq(&e[e.len() - s.len()..], s),
            Op::Substring => !s.is_empty() && e.windows(s.len()).any(|w| eq(w, s)),
            Op::Includes => {
                !s.is_empty() && have.split(SELECTOR_WHITESPACE).any(|part| eq(part.as_bytes(), s))
            }
            Op::Dash => eq(e, s) || (e.get(s.len()) == Some(&b'-') && eq(&e[..s.len()], s)),
        }
    }
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Skips whitespace; whether there was any.
    fn ws(&mut self) -> bool {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0C'))
        {
            self.i += 1;
        }
        self.i > start
    }

    /// A plain ASCII identifier: no escapes, no leading digit or `--`.
    fn ident(&mut self) -> Option<String> {
        let start = self.i;
        let first = |c: u8| c.is_ascii_alphabetic() || c == b'_';
        match (self.peek(), self.b.get(self.i + 1)) {
            (Some(c), _) if first(c) => {}
            (Some(b'-'), Some(&c)) if first(c) => {}
            _ => return None,
        }
        self.i += 1;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
        {
            self.i += 1;
        }
        Some(String::from_utf8_lossy(&self.b[start..self.i]).into_owned())
    }

    fn complex(&mut self) -> Option<Complex> {
        let (mut compounds, mut combs) = (vec![self.compound()?], Vec::new());
        loop {
            let spaced = self.ws();
            match self.peek() {
                None | Some(b',') => break,
                Some(b'>') => {
                    self.i += 1;
                    self.ws();
                    combs.push(Comb::Child);
                }
                Some(_) if spaced => combs.push(Comb::Descendant),
                Some(_) => return None,
            }
            compounds.push(self.compound()?);
        }
        compounds.reverse();
        combs.reverse();
        Some(Complex { compounds, combs })
    }

    fn compound(&mut self) -> Option<Compound> {
        let mut c = Compound::default();
        let mut any = false;
        if self.peek() == Some(b'*') {
            self.i += 1;
            any = true;
        } else if let Some(ty) = self.ident() {
            c.ty = Some(ty.to_ascii_lowercase());
            any = true;
        }
        loop {
            match self.peek() {
                Some(b'#') => {
                    self.i += 1;
                    c.ids.push(self.ident()?);
                }
                Some(b'.') => {
                    self.i += 1;
                    c.classes.push(self.ident()?);
                }
                Some(b'[') => {
                    self.i += 1;
                    c.attrs.push(self.attr()?);
                }
                _ => break,
            }
            any = true;
        }
        any.then_some(c)
    }

    fn attr(&mut self) -> Option<AttrSel> {
        self.ws();
        let name = self.ident()?.to_ascii_lowercase();
        self.ws();
        let two = |p: &Self, c: u8| p.peek() == Some(c) && p.b.get(p.i + 1) == Some(&b'=');
        let op = match self.peek()? {
            b']' => {
                self.i += 1;
                return Some(AttrSel {
                    name,
                    op: Op::Exists,
                    value: String::new(),
                    ascii_ci: false,
                });
            }
            b'=' => Op::Equal,
            b'~' if two(self, b'~') => Op::Includes,
            b'|' if two(self, b'|') => Op::Dash,
            b'^' if two(self, b'^') => Op::Prefix,
            b'*' if two(self, b'*') => Op::Substring,
            b'$' if two(self, b'$') => Op::Suffix,
            _ => return None,
        };
        self.i += if op == Op::Equal { 1 } else { 2 };
        self.ws();
        let value = match self.peek()? {
            quote @ (b'"' | b'\'') => {
                let start = self.i + 1;
                let len = self.b[start..].iter().position(|&c| c == quote)?;
                let value = &self.b[start..start + len];
                if value.iter().any(|c| matches!(c, b'\\' | b'\n' | b'\r' | b'\x0C')) {
                    return None;
                }
                self.i = start + len + 1;
                String::from_utf8(value.to_vec()).ok()?
            }
            _ => self.ident()?,
        };
        self.ws();
        if self.peek()? != b']' {
            return None;
        }
        self.i += 1;
        let ascii_ci = case_insensitive_attribute(&name);
        Some(AttrSel {
            name,
            op,
            value,
            ascii_ci,
        })
    }
}

/// The attributes whose values HTML compares without regard to ASCII case
/// (`selectors`' `is_ascii_case_insensitive_html_attribute`).
fn case_insensitive_attribute(name: &str) -> bool {
    matches!(
        name,
        "accept"
            | "accept-charset"
            | "align"
            | "alink"
            | "axis"
            | "bgcolor"
            | "charset"
            | "checked"
            | "clear"
            | "codetype"
            | "color"
            | "compact"
            | "declare"
            | "defer"
            | "dir"
            | "direction"
            | "disabled"
            | "enctype"
            | "face"
            | "frame"
            | "hreflang"
            | "http-equiv"
            | "lang"
            | "language"
            | "link"
            | "media"
            | "method"
            | "multiple"
            | "nohref"
            | "noresize"
            | "noshade"
            | "nowrap"
            | "readonly"
            | "rel"
            | "rev"
            | "rules"
            | "scope"
            | "scrolling"
            | "selected"
            | "shape"
            | "target"
            | "text"
            | "type"
            | "valign"
            | "valuetype"
            | "vlink"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subset_parses_and_the_rest_does_not() {
        for ok in [
            "section",
            "h1, h2, h3, h4",
            "a.reference",
            "link[rel=next]",
            "div > p a[href^='http'] .x#y",
            "*",
            "[data-x~=\"a b\"]",
            "nav.pager>a.next",
        ] {
            assert!(FastSelector::parse(ok).is_some(), "{ok}");
        }
        for no in [
            "a:first-child",
            "a + b",
            "a ~ b",
            "a:has(b)",
            "svg|a",
            "[a=b i]",
            ".a\\:b",
            "a::before",
            "",
            "a,",
            "[a=1]",
            ".-1",
        ] {
            assert!(FastSelector::parse(no).is_none(), "{no}");
        }
    }
}
