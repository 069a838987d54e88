//! The `feed_next` pagination style: a feed's `<link rel="next" href="…"/>`
//! (RFC 5005 paged feeds: Atom, and RSS 2.0 with `atom:link` in its channel).

use serde_json::Value;

use crate::format::xml_path::local_name;

/// The `href` of the first `link` element (any prefix) with `rel="next"`
/// among the root element's children or its `channel`'s, in the mapped
/// rest of a feed (`{"feed": {"link": …}}`).
pub(crate) fn next_link(body: &Value) -> Option<&str> {
    let root = body.as_object()?.values().next()?.as_object()?;
    let channels = root
        .iter()
        .filter(|(name, _)| local_name(name) == "channel")
        .flat_map(|(_, v)| elements(v));
    std::iter::once(root)
        .chain(channels.filter_map(Value::as_object))
        .flat_map(|element| element.iter())
        .filter(|(name, _)| local_name(name) == "link")
        .flat_map(|(_, v)| elements(v))
        .find(|link| link.get("@rel").and_then(Value::as_str) == Some("next"))
        .and_then(|link| link.get("@href")?.as_str())
}

/// The elements a mapped value stands for: an array's, or the value itself.
fn elements(v: &Value) -> Box<dyn Iterator<Item = &Value> + '_> {
    match v {
        Value::Array(a) => Box::new(a.iter()),
        other => Box::new(std::iter::once(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn atom_and_rss_next_links_are_found() {
        let atom =
            json!({"feed": {"link": [{"@rel": "self", "@href": "/1"}, {"@rel": "next", "@href": "/2"}]}});
        assert_eq!(next_link(&atom), Some("/2"));
        let rss = json!({"rss": {"channel": {"link": "http://site/", "atom:link": {"@rel": "next", "@href": "?page=3"}}}});
        assert_eq!(next_link(&rss), Some("?page=3"));
        let last = json!({"feed": {"link": {"@rel": "self", "@href": "/9"}}});
        assert_eq!(next_link(&last), None);
        assert_eq!(next_link(&json!(null)), None);
    }
}
