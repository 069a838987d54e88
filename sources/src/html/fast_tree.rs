//! html5ever's tree construction rules, for the start tags of the subset the
//! streaming extraction follows: what a start tag does to the open elements,
//! or [`Insertion::Stop`] where the tree builder would close, move or
//! reopen elements by itself (html5ever 0.40's `tree_builder/rules.rs`).

use std::borrow::Cow;

/// An open element.
#[derive(Debug)]
pub(crate) struct Open<'a> {
    /// Lower case as the tokenizer gives it (never adjusted).
    pub(crate) name: Cow<'a, str>,
    /// Its attributes in the document's attribute stack.
    pub(crate) attrs: std::ops::Range<usize>,
    /// In foreign content (SVG).
    pub(crate) foreign: bool,
}

/// What a start tag does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Insertion {
    /// An element is opened.
    Push,
    /// An element without content (`<br>`, `<meta>`).
    Void,
    /// An element whose text runs to its end tag, undecoded (`<style>`).
    RawText,
    /// The same with character references decoded (`<title>`, `<textarea>`).
    RcData,
    /// `<script>`: raw text that must hold no `<!--`.
    Script,
    /// An SVG element.
    Foreign,
    /// `<tr>` right in a `<table>`: a `<tbody>` is opened first.
    ImpliedTbody,
    /// The tree builder would do more than open an element.
    Stop,
}

/// The insertion mode the current (HTML) element puts the body in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Context {
    Body,
    Table,
    Section,
    Row,
    ColGroup,
}

impl Context {
    /// The mode for the current element `name`.
    pub(crate) fn of(name: &str) -> Self {
        match name {
            "table" => Self::Table,
            "tbody" | "thead" | "tfoot" => Self::Section,
            "tr" => Self::Row,
            "colgroup" => Self::ColGroup,
            _ => Self::Body,
        }
    }
}

/// The start tags that close an open `<p>` in button scope first (an
/// implied `</p>`; the others stop the stream when a `<p>` is open).
pub(crate) fn closes_p(name: &str) -> bool {
    matches!(
        name,
        "address"
            | "article"
            | "aside"
            | "blockquote"
            | "center"
            | "details"
            | "dialog"
            | "dir"
            | "div"
            | "dl"
            | "fieldset"
            | "figcaption"
            | "figure"
            | "footer"
            | "header"
            | "hgroup"
            | "main"
            | "nav"
            | "ol"
            | "p"
            | "search"
            | "section"
            | "summary"
            | "ul"
            | "menu"
            | "pre"
            | "listing"
            | "table"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "form"
            | "li"
            | "dd"
            | "dt"
            | "hr"
    )
}

/// Elements without content or end tag.
pub(crate) fn is_void(name: &str) -> bool {
    matches!(
        name,
        "area"
            | "base"
            | "basefont"
            | "bgsound"
            | "br"
            | "col"
            | "embed"
            | "hr"
            | "img"
            | "input"
            | "keygen"
            | "link"
            | "meta"
            | "param"
            | "source"
            | "track"
            | "wbr"
    )
}

/// A start tag in the `<head>`.
pub(crate) fn head_start(name: &str) -> Insertion {
    match name {
        "meta" | "link" | "base" | "basefont" | "bgsound" => Insertion::Void,
        "title" => Insertion::RcData,
        "style" | "noframes" | "noscript" => Insertion::RawText,
        "script" => Insertion::Script,
        _ => Insertion::Stop,
    }
}

/// A start tag in SVG: plain shapes only (no HTML integration points, no
/// elements that break out of foreign content, no raw text).
pub(crate) fn foreign_start(name: &str) -> Insertion {
    match name {
        "svg" | "path" | "g" | "circle" | "rect" | "line" | "polyline" | "polygon" | "ellipse" | "defs"
        | "use" | "symbol" | "stop" | "text" | "tspan" | "mask" | "pattern" | "marker" => Insertion::Foreign,
        _ => Insertion::Stop,
    }
}

/// A start tag in the body, whose current element is `stack`'s last (HTML).
pub(crate) fn body_start(name: &str, stack: &[Open<'_>]) -> Insertion {
    let Some(top) = stack.last() else {
        return Insertion::Stop;
    };
    match Context::of(&top.name) {
        Context::Table => match name {
            "colgroup" | "tbody" | "thead" | "tfoot" => Insertion::Push,
            "tr" => Insertion::ImpliedTbody,
            _ => Insertion::Stop,
        },
        Context::Section if name == "tr" => Insertion::Push,
        Context::Row if matches!(name, "td" | "th") => Insertion::Push,
        Context::ColGroup if name == "col" => Insertion::Void,
        Context::Section | Context::Row | Context::ColGroup => Insertion::Stop,
        Context::Body => in_body(name, stack),
    }
}

fn in_body(name: &str, stack: &[Open<'_>]) -> Insertion {
    let html = |n: &str| stack.iter().any(|o| !o.foreign && o.name == n);
    let closes_p = || in_scope(stack, "p", true);
    match name {
        "html" | "body" | "head" | "frameset" | "frame" | "template" | "plaintext" | "image" | "isindex"
        | "select" | "option" | "optgroup" | "rb" | "rtc" | "rp" | "rt" | "math" | "applet" | "marquee"
        | "object" | "xmp" | "caption" | "col" | "colgroup" | "tbody" | "td" | "tfoot" | "th" | "thead"
        | "tr" => Insertion::Stop,
        "address" | "article" | "aside" | "blockquote" | "center" | "details" | "dialog" | "dir" | "div"
        | "dl" | "fieldset" | "figcaption" | "figure" | "footer" | "header" | "hgroup" | "main" | "nav"
        | "ol" | "p" | "search" | "section" | "summary" | "ul" | "menu" | "pre" | "listing" | "table" => {
            if closes_p() {
                Insertion::Stop
            } else {
                Insertion::Push
            }
        }
        "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
            let heading = stack
                .last()
                .is_some_and(|t| matches!(&*t.name, "h1" | "h2" | "h3" | "h4" | "h5" | "h6"));
            if closes_p() || heading {
                Insertion::Stop
            } else {
                Insertion::Push
            }
        }
        "form" => {
            if html("form") || closes_p() {
                Insertion::Stop
            } else {
                Insertion::Push
            }
        }
        "li" => list_item(stack, &["li"]),
        "dd" | "dt" => list_item(stack, &["dd", "dt"]),
        "button" | "nobr" => {
            if in_scope(stack, name, false) {
                Insertion::Stop
            } else {
                Insertion::Push
            }
        }
        "a" => {
            if html("a") {
                Insertion::Stop
            } else {
                Insertion::Push
            }
        }
        "hr" => {
            if closes_p() {
                Insertion::Stop
            } else {
                Insertion::Void
            }
        }
        "area" | "br" | "embed" | "img" | "keygen" | "wbr" | "input" | "param" | "source" | "track"
        | "base" | "basefont" | "bgsound" | "link" | "meta" => Insertion::Void,
        "textarea" | "title" => Insertion::RcData,
        "iframe" | "noembed" | "noscript" | "noframes" | "style" => Insertion::RawText,
        "script" => Insertion::Script,
        "svg" => Insertion::Foreign,
        _ => Insertion::Push,
    }
}

/// `<li>`, `<dd>`, `<dt>`: stops where the tree builder would close an open
/// one (looking down to the first special element other than `address`,
/// `div`, `p`) or a `<p>`.
fn list_item(stack: &[Open<'_>], closes: &[&str]) -> Insertion {
    for open in stack.iter().rev() {
        if open.foreign {
            return Insertion::Stop;
        }
        if closes.contains(&&*open.name) {
            return Insertion::Stop;
        }
        if is_special(&open.name) && !matches!(&*open.name, "address" | "div" | "p") {
            break;
        }
    }
    if in_scope(stack, "p", true) {
        Insertion::Stop
    } else {
        Insertion::Push
    }
}

/// Whether an HTML `target` is open in the default scope (or button scope).
pub(crate) fn in_scope(stack: &[Open<'_>], target: &str, button: bool) -> bool {
    for open in stack.iter().rev() {
        if open.foreign {
            continue;
        }
        if open.name == target {
            return true;
        }
        if matches!(
            &*open.name,
            "applet"
                | "caption"
                | "html"
                | "table"
                | "td"
                | "th"
                | "marquee"
                | "object"
                | "select"
                | "template"
        ) || (button && open.name == "button")
        {
            return false;
        }
    }
    false
}

/// html5ever's `special_tag` set (HTML elements).
fn is_special(name: &str) -> bool {
    matches!(
        name,
        "address"
            | "applet"
            | "area"
            | "article"
            | "aside"
            | "base"
            | "basefont"
            | "bgsound"
            | "blockquote"
            | "body"
            | "br"
            | "button"
            | "caption"
            | "center"
            | "col"
            | "colgroup"
            | "dd"
            | "details"
            | "dir"
            | "div"
            | "dl"
            | "dt"
            | "embed"
            | "fieldset"
            | "figcaption"
            | "figure"
            | "footer"
            | "form"
            | "frame"
            | "frameset"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "head"
            | "header"
            | "hgroup"
            | "hr"
            | "html"
            | "iframe"
            | "img"
            | "input"
            | "isindex"
            | "li"
            | "link"
            | "listing"
            | "main"
            | "marquee"
            | "menu"
            | "meta"
            | "nav"
            | "noembed"
            | "noframes"
            | "noscript"
            | "object"
            | "ol"
            | "p"
            | "param"
            | "plaintext"
            | "pre"
            | "script"
            | "section"
            | "select"
            | "source"
            | "style"
            | "summary"
            | "table"
            | "tbody"
            | "td"
            | "template"
            | "textarea"
            | "tfoot"
            | "th"
            | "thead"
            | "title"
            | "tr"
            | "track"
            | "ul"
            | "wbr"
            | "xmp"
    )
}
