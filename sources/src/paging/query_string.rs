//! The query string as written: setting or removing one parameter leaves
//! every other byte of the query as the user (or the server) wrote it.
//!
//! Rebuilding a query from decoded pairs re-encodes it (`(` becomes `%28`,
//! `:` `%3A`, `,` `%2C`), and some APIs (LinkedIn's `List(…)` and
//! `(key:value)` syntax among them) refuse a re-encoded query. Here only
//! the parameter being set is encoded, as a form value; the other
//! parameters are kept as they are.
//!
//! ```
//! use url::Url;
//! let url = Url::parse("https://api.test/x?q=(a:1,b:2)&page=1").unwrap();
//! let next = crawlpipe_sources::query::set_param(&url, "page", "2");
//! assert_eq!(next.as_str(), "https://api.test/x?q=(a:1,b:2)&page=2");
//! ```

use std::borrow::Cow;

use url::Url;
use url::form_urlencoded;

/// The decoded name of one `name=value` segment of a query.
fn segment_name(segment: &str) -> Cow<'_, str> {
    let raw = segment.split_once('=').map_or(segment, |(k, _)| k);
    if !raw.contains(['%', '+']) {
        return Cow::Borrowed(raw);
    }
    form_urlencoded::parse(raw.as_bytes())
        .next()
        .map_or(Cow::Borrowed(""), |(k, _)| Cow::Owned(k.into_owned()))
}

/// `url` with query parameter `name` set to `value` (form-encoded): the
/// first occurrence is replaced where it stands, later ones are removed,
/// and a missing one is appended. Every other parameter keeps its bytes.
pub fn set_param(url: &Url, name: &str, value: &str) -> Url {
    let pair = form_urlencoded::Serializer::new(String::new())
        .append_pair(name, value)
        .finish();
    let mut query = String::with_capacity(url.query().map_or(0, str::len) + pair.len() + 1);
    let mut seen = false;
    for segment in url.query().unwrap_or_default().split('&') {
        if segment.is_empty() {
            continue;
        }
        let replaced = segment_name(segment) == name;
        if replaced && seen {
            continue;
        }
        if !query.is_empty() {
            query.push('&');
        }
        if replaced {
            seen = true;
            query.push_str(&pair);
        } else {
            query.push_str(segment);
        }
    }
    if !seen {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(&pair);
    }
    let mut out = url.clone();
    out.set_query(Some(&query));
    out
}

/// `url` without the query parameters whose (decoded) name `remove`
/// accepts; every other parameter keeps its bytes. No query is left when
/// none remains.
pub fn remove_params(url: &Url, remove: impl Fn(&str) -> bool) -> Url {
    let Some(old) = url.query() else {
        return url.clone();
    };
    let kept: Vec<&str> = old
        .split('&')
        .filter(|s| !s.is_empty() && !remove(&segment_name(s)))
        .collect();
    let mut out = url.clone();
    if kept.is_empty() {
        out.set_query(None);
    } else {
        out.set_query(Some(&kept.join("&")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn setting_a_parameter_keeps_every_other_segment_as_written(
            others in proptest::collection::vec("[a-z]{1,4}=[a-zA-Z0-9(),:.*!~-]{0,8}", 0..5),
            value in "\\PC{0,12}",
        ) {
            let others: Vec<String> = others.into_iter().filter(|s| !s.starts_with("p=")).collect();
            let query = others.join("&");
            let url = Url::parse(&format!("https://a.test/x?{query}")).unwrap();
            let set = set_param(&url, "p", &value);
            let kept: Vec<&str> = set.query().unwrap().split('&').filter(|s| !s.starts_with("p=")).collect();
            prop_assert_eq!(kept.join("&"), query);
            let read: Vec<String> = set
                .query_pairs()
                .filter(|(k, _)| k == "p")
                .map(|(_, v)| v.into_owned())
                .collect();
            prop_assert_eq!(read, vec![value]);
        }
    }

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn the_rest_of_the_query_keeps_its_bytes() {
        let url = u("https://a.test/x?fields=List(id,name)&q=(a:b)&start=0");
        assert_eq!(
            set_param(&url, "start", "50").as_str(),
            "https://a.test/x?fields=List(id,name)&q=(a:b)&start=50"
        );
        assert_eq!(
            set_param(&url, "cursor", "a b=").as_str(),
            "https://a.test/x?fields=List(id,name)&q=(a:b)&start=0&cursor=a+b%3D"
        );
        assert_eq!(
            set_param(&u("https://a.test/x"), "p", "1").as_str(),
            "https://a.test/x?p=1"
        );
    }

    #[test]
    fn repeats_are_removed_and_encoded_names_match() {
        let url = u("https://a.test/x?p=1&a=(1)&p=2&p%5B%5D=3");
        assert_eq!(
            set_param(&url, "p", "9").as_str(),
            "https://a.test/x?p=9&a=(1)&p%5B%5D=3"
        );
        assert_eq!(
            set_param(&url, "p[]", "4").as_str(),
            "https://a.test/x?p=1&a=(1)&p=2&p%5B%5D=4"
        );
    }

    #[test]
    fn removing_keeps_the_rest() {
        let url = u("https://a.test/x?token=s&q=(a:b)");
        assert_eq!(
            remove_params(&url, |k| k == "token").as_str(),
            "https://a.test/x?q=(a:b)"
        );
        assert_eq!(
            remove_params(&u("https://a.test/x?token=s"), |k| k == "token").as_str(),
            "https://a.test/x"
        );
    }
}
