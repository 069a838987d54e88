//! The state a cursor carries in its URL's fragment.
//!
//! A fragment is never sent, so a cursor can carry what its request needs
//! beyond the URL: a token for the body (`cursor`), the date window of the
//! page (`window`) and the page number or offset written into a templated
//! URL (`n`). The fragment is form-encoded (`cursor=abc%3D&window=…`);
//! setting one name keeps the others.

use url::Url;
use url::form_urlencoded;

/// The value of `name` in `url`'s fragment.
pub(crate) fn get(url: &Url, name: &str) -> Option<String> {
    form_urlencoded::parse(url.fragment()?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `url` with `name` set to `value` in its fragment (other names kept).
pub(crate) fn set(url: &Url, name: &str, value: &str) -> Url {
    let mut pairs: Vec<(String, String)> = url
        .fragment()
        .map(|f| form_urlencoded::parse(f.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    pairs.retain(|(k, _)| k != name);
    pairs.push((name.to_owned(), value.to_owned()));
    let fragment = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&pairs)
        .finish();
    let mut out = url.clone();
    out.set_fragment(Some(&fragment));
    out
}

/// `to` with the fragment of `from` (a next link found in a body or header
/// has none; the state it continues is the page's).
pub(crate) fn carry(from: &Url, to: &Url, names: &[&str]) -> Url {
    names.iter().fold(to.clone(), |url, name| match get(from, name) {
        Some(v) if get(&url, name).is_none() => set(&url, name, &v),
        _ => url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_set_apart() {
        let url = Url::parse("https://a.test/x?q=1").unwrap();
        let url = set(&url, "cursor", "a=b&c");
        let url = set(&url, "window", "w");
        let url = set(&url, "cursor", "d");
        assert_eq!(get(&url, "cursor").as_deref(), Some("d"));
        assert_eq!(get(&url, "window").as_deref(), Some("w"));
        let next = Url::parse("https://a.test/x?q=2").unwrap();
        let next = carry(&url, &next, &["window"]);
        assert_eq!(next.as_str(), "https://a.test/x?q=2#window=w");
    }
}
