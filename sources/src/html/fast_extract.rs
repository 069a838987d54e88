//! Items and the next link in one streaming pass, without building a tree.
//!
//! html5ever's tree is most of a scraped page's instructions. For the
//! well-formed documents most sites serve (`<!DOCTYPE html>`, explicit
//! `<html>`, `<head>` and `<body>`, every element closed by its own end tag
//! in order, tables with their sections), the tree is the nesting of the
//! tags, so the items can be read from a stack of open elements: each
//! element is matched against the selectors when its start tag is read, and
//! a text field collects the text until its element ends. The pass follows
//! html5ever's tree construction rules for that subset and stops ([`Bail`])
//! at the first token where the tree builder would do something else
//! (implied end tags, misnested or stray tags, foster parenting, quirks,
//! templates, legacy references, a selector outside the subset matching an
//! SVG element, …); the page is then parsed into the tree as before. So
//! the items are the same either way; the tests compare both paths.

use std::borrow::Cow;

use url::Url;

use crate::html::extract::{Compiled, NextLink, ScrapedItem, Spec, resolve_next};
use crate::html::fast_select::{FastSelector, OpenElements};
use crate::html::fast_tokens::{
    Bail, RawAttr, comment_end, decode, doctype_end, end_tag, is_ws, raw_text_end, start_tag,
};
use crate::html::fast_tree::{
    Context, Insertion, Open, body_start, closes_p, foreign_start, head_start, in_scope, is_void,
};

/// The streaming plan of a scrape configuration whose selectors are all in
/// the subset [`FastSelector`] matches.
#[derive(Debug)]
pub(crate) struct FastPlan {
    item: FastSelector,
    next: Option<(FastSelector, String)>,
    /// One per field of the configuration, in its order.
    fields: Vec<(Option<FastSelector>, Option<String>)>,
}

impl FastPlan {
    /// The plan, or `None` when a selector is outside the subset.
    pub(crate) fn new(item: &str, next: Option<&Spec>, fields: &[(String, Spec)]) -> Option<Self> {
        let sel = |spec: &Spec| match spec.selector {
            Some(_) => FastSelector::parse(&spec.selector_text).map(Some),
            None => Some(None),
        };
        let next = match next {
            Some(spec) => Some((
                sel(spec)??,
                spec.attr.clone().unwrap_or_else(|| "href".to_owned()),
            )),
            None => None,
        };
        let fields = fields
            .iter()
            .map(|(_, spec)| Some((sel(spec)?, spec.attr.clone())))
            .collect::<Option<Vec<_>>>()?;
        Some(Self {
            item: FastSelector::parse(item)?,
            next,
            fields,
        })
    }
}

/// The items and next link of `html` by the streaming pass, or `None` when
/// the page must be read from the tree (see the module docs).
pub(crate) fn extract_streaming(
    compiled: &Compiled,
    html: &str,
    page: &Url,
    item_url: &str,
) -> Option<(Vec<ScrapedItem>, NextLink)> {
    let plan = compiled.fast.as_ref()?;
    let mut doc = Doc {
        src: html,
        plan,
        stack: Vec::with_capacity(64),
        attrs: Vec::with_capacity(256),
        items: Vec::new(),
        open_items: Vec::new(),
        captures: Vec::new(),
        next: None,
        next_found: plan.next.is_none(),
        mode: Mode::Initial,
        ignore_lf: false,
    };
    doc.run().ok()?;
    let items = doc
        .items
        .into_iter()
        .enumerate()
        .map(|(index, values)| ScrapedItem {
            url: item_url.to_owned(),
            index,
            fields: compiled
                .fields
                .iter()
                .zip(values)
                .map(|((name, _), value)| {
                    (
                        name.clone(),
                        match value {
                            Field::Done(v) => v,
                            Field::Pending | Field::Capturing => None,
                        },
                    )
                })
                .collect(),
        })
        .collect();
    let next = match &compiled.next {
        Some(_) => resolve_next(doc.next.as_deref(), page),
        None => Ok(None),
    };
    Some((items, next))
}

/// Where the document is, as html5ever's insertion modes outside the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Initial,
    BeforeHtml,
    BeforeHead,
    InHead,
    AfterHead,
    InBody,
    AfterBody,
}

#[derive(Debug)]
enum Field {
    Pending,
    Capturing,
    Done(Option<String>),
}

/// A text field collecting the text of the element at `depth`.
#[derive(Debug)]
struct Capture {
    depth: usize,
    item: usize,
    field: usize,
    text: String,
}

struct Doc<'a, 'p> {
    src: &'a str,
    plan: &'p FastPlan,
    stack: Vec<Open<'a>>,
    attrs: Vec<RawAttr<'a>>,
    /// Every item so far, in document order.
    items: Vec<Vec<Field>>,
    /// The items whose element is open: (depth, index in `items`).
    open_items: Vec<(usize, usize)>,
    captures: Vec<Capture>,
    next: Option<String>,
    next_found: bool,
    mode: Mode,
    /// A line feed right after `<pre>`, `<listing>` or `<textarea>` is dropped.
    ignore_lf: bool,
}

impl OpenElements for Doc<'_, '_> {
    fn name(&self, at: usize) -> &str {
        &self.stack[at].name
    }

    fn foreign(&self, at: usize) -> bool {
        self.stack[at].foreign
    }

    fn attr(&self, at: usize, name: &str) -> Result<Option<Cow<'_, str>>, Bail> {
        match self.attrs[self.stack[at].attrs.clone()]
            .iter()
            .find(|a| a.name == name)
        {
            Some(a) => decode(a.value, true).map(Some),
            None => Ok(None),
        }
    }
}

impl<'a> Doc<'a, '_> {
    fn run(&mut self) -> Result<(), Bail> {
        let src = self.src;
        let b = src.as_bytes();
        if memchr::memchr(0, b).is_some() {
            return Err(Bail);
        }
        let mut pos = if src.starts_with('\u{feff}') { 3 } else { 0 };
        loop {
            let lt = memchr::memchr(b'<', &b[pos..]).map_or(b.len(), |o| o + pos);
            if lt > pos {
                self.text(&src[pos..lt])?;
            }
            if lt == b.len() {
                break;
            }
            pos = match b.get(lt + 1) {
                Some(c) if c.is_ascii_alphabetic() => self.start_tag(lt)?,
                Some(b'/') if b.get(lt + 2).is_some_and(u8::is_ascii_alphabetic) => self.end_tag(lt)?,
                Some(b'!') if b[lt..].starts_with(b"<!--") => {
                    self.ignore_lf = false;
                    comment_end(b, lt)?
                }
                Some(b'!') if self.mode == Mode::Initial => {
                    self.mode = Mode::BeforeHtml;
                    doctype_end(b, lt)?
                }
                Some(b'!' | b'/' | b'?') => return Err(Bail),
                // A `<` that starts no tag is text.
                _ => {
                    self.text("<")?;
                    lt + 1
                }
            };
        }
        if !matches!(self.mode, Mode::InBody | Mode::AfterBody) {
            return Err(Bail);
        }
        while !self.stack.is_empty() {
            self.pop();
        }
        Ok(())
    }

    /// Text between tags: where only whitespace may go, anything else stops
    /// the stream; collected by the text fields whose element is open.
    fn text(&mut self, raw: &'a str) -> Result<(), Bail> {
        let ignore_lf = std::mem::take(&mut self.ignore_lf);
        let only_ws = match self.mode {
            Mode::InBody => self
                .stack
                .last()
                .is_some_and(|top| !top.foreign && Context::of(&top.name) != Context::Body),
            _ => true,
        };
        if only_ws && !raw.bytes().all(is_ws) && !decode(raw, true)?.bytes().all(is_ws) {
            return Err(Bail);
        }
        self.collect(raw, true, ignore_lf)
    }

    fn collect(&mut self, raw: &str, refs: bool, ignore_lf: bool) -> Result<(), Bail> {
        if self.captures.is_empty() {
            return Ok(());
        }
        let text = decode(raw, refs)?;
        let text = match ignore_lf {
            true => text.strip_prefix('\n').unwrap_or(&text),
            false => &text,
        };
        for capture in &mut self.captures {
            capture.text.push_str(text);
        }
        Ok(())
    }

    fn start_tag(&mut self, lt: usize) -> Result<usize, Bail> {
        self.ignore_lf = false;
        let src = self.src;
        let from = self.attrs.len();
        let tag = start_tag(src, lt, &mut self.attrs)?;
        let mut attrs = from..self.attrs.len();
        let insertion = match self.mode {
            Mode::BeforeHtml if tag.name == "html" => {
                self.mode = Mode::BeforeHead;
                Insertion::Push
            }
            Mode::BeforeHead if tag.name == "head" => {
                self.mode = Mode::InHead;
                Insertion::Push
            }
            Mode::AfterHead if tag.name == "body" => {
                self.mode = Mode::InBody;
                Insertion::Push
            }
            Mode::InHead => head_start(&tag.name),
            Mode::InBody if self.stack.last().is_some_and(|top| top.foreign) => foreign_start(&tag.name),
            Mode::InBody => {
                // `<p>a<p>b`, `<p>a<div>`: the open paragraph ends first (when it is
                // the current element; deeper, implied end tags stop the stream).
                if closes_p(&tag.name) && self.stack.last().is_some_and(|top| top.name == "p") {
                    // The tag's attributes go above the paragraph's, which are dropped.
                    let own: Vec<RawAttr<'a>> = self.attrs.drain(attrs).collect();
                    self.pop();
                    let from = self.attrs.len();
                    self.attrs.extend(own);
                    attrs = from..self.attrs.len();
                }
                body_start(&tag.name, &self.stack)
            }
            _ => Insertion::Stop,
        };
        let foreign = insertion == Insertion::Foreign;
        match insertion {
            Insertion::Stop => return Err(Bail),
            Insertion::ImpliedTbody => {
                self.push(Cow::Borrowed("tbody"), attrs.start..attrs.start, false)?;
                self.push(tag.name, attrs, false)?;
            }
            Insertion::RawText | Insertion::RcData | Insertion::Script => {
                let close = raw_text_end(src.as_bytes(), tag.end, &tag.name)?;
                let text = &src[tag.end..close];
                if insertion == Insertion::Script && memchr::memmem::find(text.as_bytes(), b"<!--").is_some()
                {
                    return Err(Bail);
                }
                let drop_lf = tag.name == "textarea";
                self.push(tag.name, attrs, false)?;
                self.collect(text, insertion == Insertion::RcData, drop_lf)?;
                self.pop();
                let (_, end) = end_tag(src, close)?;
                return Ok(end);
            }
            Insertion::Void => {
                self.push(tag.name, attrs, false)?;
                self.pop();
            }
            Insertion::Foreign if tag.self_closing => {
                self.push(tag.name, attrs, true)?;
                self.pop();
            }
            _ => {
                self.ignore_lf = matches!(&*tag.name, "pre" | "listing");
                self.push(tag.name, attrs, foreign)?;
            }
        }
        Ok(tag.end)
    }

    fn end_tag(&mut self, lt: usize) -> Result<usize, Bail> {
        self.ignore_lf = false;
        let (name, end) = end_tag(self.src, lt)?;
        let top = self.stack.last().ok_or(Bail)?;
        match self.mode {
            Mode::InHead if name == "head" && top.name == "head" => {
                self.pop();
                self.mode = Mode::AfterHead;
            }
            Mode::InBody if name == "body" && top.name == "body" => self.mode = Mode::AfterBody,
            Mode::AfterBody if name == "html" => {}
            Mode::InBody
                if name == top.name && !matches!(&*name, "body" | "html" | "br") && !is_void(&name) =>
            {
                self.pop();
            }
            // A `</p>` with no open paragraph makes an empty one.
            Mode::InBody
                if name == "p"
                    && !top.foreign
                    && Context::of(&top.name) == Context::Body
                    && !in_scope(&self.stack, "p", true) =>
            {
                let at = self.attrs.len();
                self.push(Cow::Borrowed("p"), at..at, false)?;
                self.pop();
            }
            // `</table>` ends an open table section too (an implied `<tbody>`).
            Mode::InBody
                if name == "table"
                    && matches!(&*top.name, "tbody" | "thead" | "tfoot")
                    && self.stack.len() >= 2
                    && self.stack[self.stack.len() - 2].name == "table" =>
            {
                self.pop();
                self.pop();
            }
            _ => return Err(Bail),
        }
        Ok(end)
    }

    /// Opens an element and matches it against the selectors.
    fn push(&mut self, name: Cow<'a, str>, attrs: std::ops::Range<usize>, foreign: bool) -> Result<(), Bail> {
        self.stack.push(Open { name, attrs, foreign });
        let at = self.stack.len() - 1;
        let plan = self.plan;
        for oi in 0..self.open_items.len() {
            let item = self.open_items[oi].1;
            for (field, (sel, attr)) in plan.fields.iter().enumerate() {
                let Some(sel) = sel else { continue };
                if !matches!(self.items[item][field], Field::Pending) || !sel.matches(self, at)? {
                    continue;
                }
                self.items[item][field] = match attr {
                    Some(attr) => Field::Done(self.attr(at, attr)?.map(Cow::into_owned)),
                    None => {
                        self.captures.push(Capture {
                            depth: at,
                            item,
                            field,
                            text: String::new(),
                        });
                        Field::Capturing
                    }
                };
            }
        }
        if plan.item.matches(self, at)? {
            if matches!(&*self.stack[at].name, "html" | "head" | "body") {
                return Err(Bail);
            }
            let mut fields = Vec::with_capacity(plan.fields.len());
            for (sel, attr) in &plan.fields {
                fields.push(match (sel, attr) {
                    (None, Some(attr)) => Field::Done(self.attr(at, attr)?.map(Cow::into_owned)),
                    _ => Field::Pending,
                });
            }
            self.open_items.push((at, self.items.len()));
            self.items.push(fields);
        }
        if !self.next_found
            && let Some((sel, attr)) = &plan.next
            && sel.matches(self, at)?
            && let Some(link) = self.attr(at, attr)?
        {
            self.next = Some(link.into_owned());
            self.next_found = true;
        }
        Ok(())
    }

    /// Closes the current element, ending its text fields and items.
    fn pop(&mut self) {
        let at = self.stack.len() - 1;
        while self.captures.last().is_some_and(|c| c.depth == at) {
            if let Some(c) = self.captures.pop() {
                let text = c.text.split_whitespace().collect::<Vec<_>>().join(" ");
                self.items[c.item][c.field] = Field::Done(Some(text));
            }
        }
        while self.open_items.last().is_some_and(|(depth, _)| *depth == at) {
            self.open_items.pop();
        }
        if let Some(open) = self.stack.pop() {
            self.attrs.truncate(open.attrs.start);
        }
    }
}
