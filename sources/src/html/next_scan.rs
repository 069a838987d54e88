//! Predicting a page's next link with a streaming scan, before the full parse.
//!
//! Building html5ever's tree is most of a scraped page's CPU time, and the
//! next page cannot be fetched before its link is known. lol_html matches
//! CSS selectors while tokenizing, without building a tree, and stops at the
//! first match (a `<link rel=next>` in the `<head>` is found after a few
//! hundred bytes), so the next fetch can start at once.
//!
//! The scan is only a prediction: the full parse still finds the next link
//! the way it always did, and that link is the one the source returns. A
//! prediction that differs (malformed markup the tree builder repairs, a
//! link inside `<noscript>` or `<template>`) costs one wasted fetch, never a
//! different result. Selectors lol_html cannot compile, and attribute values
//! holding a character reference (`&amp;`), which lol_html leaves undecoded,
//! give no prediction.

use std::borrow::Cow;

use lol_html::{ElementContentHandlers, HtmlRewriter, Selector, Settings};
use url::Url;

/// A compiled next-link scan: a selector lol_html understands and the
/// attribute holding the link.
#[derive(Debug)]
pub(crate) struct NextScan {
    selector: Selector,
    attr: String,
}

impl NextScan {
    /// The scan for a next-link selector and attribute, or `None` when
    /// lol_html cannot compile the selector.
    pub(crate) fn new(selector: &str, attr: &str) -> Option<Self> {
        let selector = selector.parse::<Selector>().ok()?;
        Some(Self {
            selector,
            attr: attr.to_owned(),
        })
    }

    /// The next link the full parse will most likely find in `html`: the
    /// `attr` of the first element matching the selector that has it
    /// (trimmed, resolved against `page`), as `find_next` reads it.
    pub(crate) fn predict(&self, html: &str, page: &Url) -> Option<Url> {
        resolve(&self.scan(html.as_bytes(), true)?, page)
    }

    /// [`predict`](Self::predict) from the start of a document, `head`
    /// (decoded, possibly cut anywhere): `None` when no element with the
    /// attribute is complete in it, so only the whole document can tell.
    ///
    /// The scan streams, so an element whose start tag is complete in `head`
    /// is matched exactly as in the whole document (the selectors lol_html
    /// compiles look at ancestors only), and the first such element is the
    /// first of the whole document too.
    pub(crate) fn predict_from_head(&self, head: &str, page: &Url) -> Option<Option<Url>> {
        self.scan(head.as_bytes(), false).map(|link| resolve(&link, page))
    }

    /// The attribute of the first element in `html` that matches and has
    /// it; the document is ended (end-of-file rules) when `whole`.
    fn scan(&self, html: &[u8], whole: bool) -> Option<String> {
        let mut found = None;
        {
            let attr = self.attr.as_str();
            let found = &mut found;
            let handlers = ElementContentHandlers::default().element(
                move |el: &mut lol_html::html_content::Element<'_, '_>| {
                    if let Some(value) = el.get_attribute(attr) {
                        *found = Some(value);
                        // Stop the scan: only the first element with the attribute counts.
                        return Err("found".into());
                    }
                    Ok(())
                },
            );
            let settings =
                Settings::new().append_element_content_handler((Cow::Borrowed(&self.selector), handlers));
            let mut scan = HtmlRewriter::new(settings, |_: &[u8]| {});
            // An error is the stop above, or a document lol_html gives up on:
            // either way the prediction is what was found so far.
            if scan.write(html).is_ok() && whole {
                let _ = scan.end();
            }
        }
        found
    }
}

/// A found link as `find_next` would take it; `None` for an empty value or
/// one holding a character reference (lol_html leaves them undecoded).
fn resolve(link: &str, page: &Url) -> Option<Url> {
    let link = link.trim();
    if link.is_empty() || link.contains('&') {
        return None;
    }
    page.join(link).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> Url {
        Url::parse("http://example.test/docs/a.html").unwrap()
    }

    #[test]
    fn finds_the_first_element_with_the_attribute() {
        let scan = NextScan::new("link[rel=next]", "href").unwrap();
        let html = r#"<html><head><link rel="prev" href="z.html"><link rel="next"><link rel="next" href=" b.html ">
            <link rel="next" href="c.html"></head><body></body></html>"#;
        assert_eq!(
            scan.predict(html, &page()).unwrap().as_str(),
            "http://example.test/docs/b.html"
        );
    }

    #[test]
    fn descendant_selectors_and_other_attributes_work() {
        let scan = NextScan::new("nav.pager a.next", "data-url").unwrap();
        let html = r#"<body><a class="next" data-url="/no">x</a><nav class="pager"><p><a class="next" data-url="/p/2">next</a></p></nav></body>"#;
        assert_eq!(
            scan.predict(html, &page()).unwrap().as_str(),
            "http://example.test/p/2"
        );
    }

    #[test]
    fn no_match_an_empty_value_or_a_character_reference_predict_nothing() {
        let scan = NextScan::new("a.next", "href").unwrap();
        let page = page();
        assert_eq!(scan.predict("<p>no link</p>", &page), None);
        assert_eq!(
            scan.predict(
                r#"<a class="next" href="  ">x</a><a class="next" href="y">"#,
                &page
            ),
            None
        );
        assert_eq!(
            scan.predict(r#"<a class="next" href="?p=2&amp;q=1">x</a>"#, &page),
            None
        );
    }

    #[test]
    fn markup_the_tree_builder_repairs_can_mislead_the_scan() {
        // `<div>` closes the paragraph, so html5ever puts the first link
        // outside `.pager`; the scan, which builds no tree, does not.
        let scan = NextScan::new(".pager a.next", "href").unwrap();
        let html = r#"<p class="pager"><div><a class="next" href="/wrong">x</a></div><nav class="pager"><a class="next" href="/right">"#;
        assert_eq!(scan.predict(html, &page()).unwrap().path(), "/wrong");
        let doc = scraper::Html::parse_document(html);
        let sel = scraper::Selector::parse(".pager a.next").unwrap();
        assert_eq!(
            doc.select(&sel).next().unwrap().value().attr("href"),
            Some("/right")
        );
    }

    #[test]
    fn a_head_tells_only_when_an_element_with_the_attribute_is_complete_in_it() {
        let scan = NextScan::new("link[rel=next]", "href").unwrap();
        let page = page();
        let html = r#"<html><head><link rel="next"><!-- <link rel="next" href="no.html"> -->
            <link rel="next" href=" b.html "></head><body><link rel="next" href="c.html"></body></html>"#;
        let whole = scan.predict(html, &page);
        assert_eq!(
            whole.as_ref().unwrap().as_str(),
            "http://example.test/docs/b.html"
        );
        let complete = html.find(r#"b.html ">"#).unwrap() + r#"b.html ">"#.len();
        for cut in 0..=html.len() {
            let Some(head) = html.get(..cut) else { continue };
            match scan.predict_from_head(head, &page) {
                Some(predicted) => {
                    assert!(cut >= complete, "cut at {cut}: told before the tag was complete");
                    assert_eq!(predicted, whole, "cut at {cut}");
                }
                None => assert!(cut < complete, "cut at {cut}: the tag was complete"),
            }
        }
    }

    #[test]
    fn a_head_with_an_unusable_first_link_predicts_nothing() {
        let scan = NextScan::new("a.next", "href").unwrap();
        let head = r#"<a class="next" href="?p=2&amp;q=1">x</a><p>more tex"#;
        assert_eq!(scan.predict_from_head(head, &page()), Some(None));
    }

    #[test]
    fn selectors_lol_html_cannot_compile_give_no_scan() {
        assert!(NextScan::new("a:has(span)", "href").is_none());
        assert!(NextScan::new("li:last-child > a", "href").is_none());
    }
}
