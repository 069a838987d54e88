//! What is taken from a scraped page: selector specs, items, the next link.

use std::collections::BTreeMap;

use scraper::{ElementRef, Html, Selector};
use serde::Serialize;
use url::Url;

use crate::error::SourceError;
use crate::html::fast_extract::FastPlan;

/// One scraped item: its fields, the page it came from and its place there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScrapedItem {
    /// The URL of the page (after redirects), without the start URL's secret
    /// query parameters and with other credentials redacted: it is stored.
    pub url: String,
    /// The item's index on its page, from 0.
    pub index: usize,
    /// Field name → value (`None` when the selector or attribute matched nothing).
    pub fields: BTreeMap<String, Option<String>>,
}

impl ScrapedItem {
    /// The item as a JSON object: `{"url", "index", "fields": {…}}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "url": self.url, "index": self.index, "fields": self.fields })
    }
}

/// A selector spec: `"h1, h2"` (text), `"a.title @href"` (attribute), `"@id"` (the item's own).
#[derive(Debug)]
pub(crate) struct Spec {
    pub(crate) selector: Option<Selector>,
    /// The selector as written (empty when there is none).
    pub(crate) selector_text: String,
    pub(crate) attr: Option<String>,
}

pub(crate) fn parse_spec(what: &str, spec: &str) -> Result<Spec, SourceError> {
    let spec = spec.trim();
    let (selector, attr) = match spec.rfind('@') {
        Some(at) if at == 0 || spec[..at].ends_with(char::is_whitespace) => {
            let attr = spec[at + 1..].trim();
            if attr.is_empty()
                || !attr
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.'))
            {
                return Err(SourceError::config(format!(
                    "{what}: {attr:?} is not an attribute name"
                )));
            }
            (spec[..at].trim(), Some(attr.to_ascii_lowercase()))
        }
        _ => (spec, None),
    };
    let selector_text = selector;
    let selector = if selector.is_empty() {
        None
    } else {
        Some(
            Selector::parse(selector)
                .map_err(|e| SourceError::config(format!("{what}: selector {selector:?} is invalid: {e}")))?,
        )
    };
    if selector.is_none() && attr.is_none() {
        return Err(SourceError::config(format!("{what}: empty selector")));
    }
    Ok(Spec {
        selector_text: if selector.is_some() {
            selector_text.to_owned()
        } else {
            String::new()
        },
        selector,
        attr,
    })
}

/// A scrape configuration, compiled.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub(crate) item: Selector,
    pub(crate) next: Option<Spec>,
    pub(crate) fields: Vec<(String, Spec)>,
    pub(crate) max_depth: usize,
    /// The streaming pass, when every selector is in its subset.
    pub(crate) fast: Option<FastPlan>,
}

/// What the blocking parse sends back first: the next link, before items.
pub(crate) type NextLink = Result<Option<Url>, String>;

pub(crate) fn find_next(doc: &Html, compiled: &Compiled, page: &Url) -> NextLink {
    let Some(spec) = &compiled.next else {
        return Ok(None);
    };
    let Some(selector) = &spec.selector else {
        return Ok(None);
    };
    let attr = spec.attr.as_deref().unwrap_or("href");
    resolve_next(doc.select(selector).find_map(|el| el.value().attr(attr)), page)
}

/// The next link from the attribute of the first element that matches the
/// next selector and has it: trimmed, `None` when empty, resolved against `page`.
pub(crate) fn resolve_next(link: Option<&str>, page: &Url) -> NextLink {
    let Some(link) = link.map(str::trim).filter(|l| !l.is_empty()) else {
        return Ok(None);
    };
    page.join(link)
        .map(Some)
        .map_err(|e| format!("next link {link:?} is not a URL: {e}"))
}

fn field_value(item: ElementRef<'_>, spec: &Spec) -> Option<String> {
    let target = match &spec.selector {
        Some(sel) => item.select(sel).next()?,
        None => item,
    };
    match &spec.attr {
        Some(attr) => target.value().attr(attr).map(str::to_owned),
        None => {
            let text: String = target.text().collect();
            Some(text.split_whitespace().collect::<Vec<_>>().join(" "))
        }
    }
}

pub(crate) fn extract(doc: &Html, compiled: &Compiled, page: &str) -> Vec<ScrapedItem> {
    doc.select(&compiled.item)
        .enumerate()
        .map(|(index, el)| ScrapedItem {
            url: page.to_owned(),
            index,
            fields: compiled
                .fields
                .iter()
                .map(|(name, spec)| (name.clone(), field_value(el, spec)))
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compiled(item: &str, next: Option<&str>, fields: &[(&str, &str)]) -> Compiled {
        Compiled {
            item: Selector::parse(item).unwrap(),
            next: next.map(|n| parse_spec("next", n).unwrap()),
            fields: fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), parse_spec(k, v).unwrap()))
                .collect(),
            max_depth: 512,
            fast: None,
        }
    }

    const PAGE: &str = r#"<html><head><link rel="next" href="/p?page=2"></head><body>
        <section id="a"><h1>  First   title </h1><a class="t" href="/x">x</a></section>
        <section id="b"><h2>Second</h2></section></body></html>"#;

    #[test]
    fn fields_take_text_attributes_and_the_items_own_attributes() {
        let c = compiled(
            "section",
            Some("link[rel=next] @href"),
            &[("title", "h1, h2"), ("anchor", "@id"), ("link", "a.t @href")],
        );
        let doc = Html::parse_document(PAGE);
        let page = Url::parse("https://s.test/p?page=1").unwrap();
        let items = extract(&doc, &c, page.as_str());
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].fields["title"].as_deref(), Some("First title"));
        assert_eq!(items[0].fields["anchor"].as_deref(), Some("a"));
        assert_eq!(items[0].fields["link"].as_deref(), Some("/x"));
        assert_eq!(items[1].fields["link"], None);
        assert_eq!(items[1].index, 1);
        assert_eq!(
            find_next(&doc, &c, &page).unwrap().unwrap().as_str(),
            "https://s.test/p?page=2"
        );
    }

    #[test]
    fn specs_are_validated() {
        assert!(parse_spec("f", "a @").is_err());
        assert!(parse_spec("f", "a[").is_err());
        assert!(parse_spec("f", "").is_err());
        assert!(parse_spec("f", "a @bad name").is_err());
        let s = parse_spec("f", "a[href^='mailto:@'] @href").unwrap();
        assert_eq!(s.attr.as_deref(), Some("href"));
        let s = parse_spec("f", "a[data-x='a@b']").unwrap();
        assert!(s.attr.is_none());
    }
}
