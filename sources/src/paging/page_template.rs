//! Page numbers and offsets written into the URL where the API wants them:
//! `https://api.test/{page}/info.json` or `…?limit={offset},50`.
//!
//! The URL is a template for the whole series of pages; each page's URL is
//! the template with `{page}` (or `{offset}` and `{limit}`) replaced by the
//! number, and the number rides in the cursor's fragment (`n`) so a stored
//! cursor knows which page it is without parsing the URL back. A number is
//! digits only, so replacing it in the serialized URL cannot change the
//! URL's shape.

use url::Url;

use crate::paging::fragment;

/// The fragment name holding the page number or offset.
pub(crate) const NUMBER: &str = "n";

/// The two spellings of `{name}` in a serialized URL: as written (a query
/// keeps braces) and percent-encoded (a path does not).
fn spellings(name: &str) -> [String; 3] {
    [
        format!("{{{name}}}"),
        format!("%7B{name}%7D"),
        format!("%7b{name}%7d"),
    ]
}

/// Whether `url` has the placeholder `{name}`.
pub(crate) fn has(url: &Url, name: &str) -> bool {
    spellings(name).iter().any(|s| url.as_str().contains(s.as_str()))
}

/// `base` with each `{name}` replaced by its number, and the first
/// number recorded in the fragment as the page's own.
pub(crate) fn render(base: &Url, values: &[(&str, u64)]) -> Url {
    let mut text = base.as_str().to_owned();
    for (name, value) in values {
        for spelling in spellings(name) {
            text = text.replace(&spelling, &value.to_string());
        }
    }
    // Digits in place of a placeholder keep the URL valid.
    let mut url = Url::parse(&text).unwrap_or_else(|_| base.clone());
    url.set_fragment(base.fragment());
    match values.first() {
        Some((_, n)) => fragment::set(&url, NUMBER, &n.to_string()),
        None => url,
    }
}

/// The page number or offset a templated page's cursor carries.
pub(crate) fn number(url: &Url) -> Result<u64, String> {
    let text = fragment::get(url, NUMBER)
        .ok_or_else(|| "the cursor has no page number (#n=…) for the URL's template".to_owned())?;
    text.parse()
        .map_err(|_| format!("the cursor's page number {text:?} is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_go_into_path_and_query() {
        let base = Url::parse("https://a.test/{page}/info.json?x=(a:b)").unwrap();
        assert!(has(&base, "page"));
        let url = render(&base, &[("page", 3)]);
        assert_eq!(url.as_str(), "https://a.test/3/info.json?x=(a:b)#n=3");
        assert_eq!(number(&url), Ok(3));
        let base = Url::parse("https://a.test/x?limit={offset},{limit}").unwrap();
        let url = render(&base, &[("offset", 100), ("limit", 50)]);
        assert_eq!(url.as_str(), "https://a.test/x?limit=100,50#n=100");
    }
}
