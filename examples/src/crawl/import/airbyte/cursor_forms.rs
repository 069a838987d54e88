//! The forms of cursor values and stop conditions manifests write, read
//! into what the crawl's pagination styles do: a stop condition as the
//! expression it tests, `A or B` parts, a test the style applies anyway (the
//! cursor missing or empty, an empty record list), and the last record's
//! field a cursor reads.

use super::mapper::{expr_path, pointer};

/// The last record's field a cursor expression reads in one of the forms
/// manifests write: `last_record['a'] if last_record else None`, and the
/// response's record list's last element,
/// `response['data'][-1]['id']` or `response.get('data', [])[-1].get('id')
/// if response.get('data') else None`, when that list is the records
/// (`items` is its pointer). On an empty page Airbyte's value is `None`
/// and the pagination ends, as the crawl's `last_item` cursor does.
pub(super) fn last_item_path(template: &str, items: &str) -> Option<Vec<String>> {
    let expr = super::jinja::single_expression(template)?;
    let (value, guard) = match expr.split_once(" if ") {
        Some((value, rest)) => {
            let guard = match rest.split_once(" else ") {
                Some((guard, other)) if matches!(other.trim(), "None" | "none" | "''" | "\"\"") => guard,
                Some(_) => return None,
                None => rest,
            };
            (value.trim(), Some(guard.trim()))
        }
        None => (expr, None),
    };
    let (list, item) = match value.split_once("[-1]") {
        Some((list, item)) => (Some(list), item),
        None => (None, value),
    };
    match list {
        None => {
            let (root, keys) = expr_path(&format!("{{{{ {item} }}}}"))?;
            (root == "last_record" && !keys.is_empty() && guard.is_none_or(|g| g == "last_record"))
                .then_some(keys)
        }
        Some(list) => {
            let (root, list_keys) = expr_path(&format!("{{{{ {list} }}}}"))?;
            if root != "response" || pointer(&list_keys) != items {
                return None;
            }
            if let Some(g) = guard
                && expr_path(&format!("{{{{ {g} }}}}")) != Some((root, list_keys))
            {
                return None;
            }
            let (_, keys) = expr_path(&format!("{{{{ item{item} }}}}"))?;
            (!keys.is_empty()).then_some(keys)
        }
    }
}

/// A cursor value written `X | default(None)` as `{{ X }}`: a missing
/// field gives `None`, which ends the pagination in Airbyte as a missing
/// cursor does in the crawl.
pub(super) fn without_none_default(template: &str) -> Option<String> {
    let expr = super::jinja::single_expression(template)?;
    let (value, filter) = expr.rsplit_once('|')?;
    matches!(
        filter.trim(),
        "default(None)" | "default(none)" | "d(None)" | "d(none)"
    )
    .then(|| format!("{{{{ {} }}}}", value.trim()))
}

/// Whether a stop condition tests the page's record list (at `items`) for
/// emptiness (`response.data | length == 0`, `not response.data`): a
/// `last_item` cursor ends on an empty page anyway.
pub(super) fn tests_empty_list(stop: &str, items: &str) -> bool {
    let inner = super::jinja::single_expression(stop).unwrap_or(stop).trim();
    let squeezed: String = inner.split_whitespace().collect::<Vec<_>>().join(" ");
    let expr = [
        "|length == 0",
        " | length == 0",
        "|length < 1",
        " | length < 1",
        " == []",
    ]
    .iter()
    .find_map(|suffix| squeezed.strip_suffix(suffix))
    .or_else(|| squeezed.strip_prefix("not "));
    expr.and_then(|e| expr_path(&format!("{{{{ {e} }}}}")))
        .is_some_and(|(root, keys)| root == "response" && !keys.is_empty() && pointer(&keys) == items)
}

/// The parts of `A or B or …` (none for a single condition, or when an
/// `or` may sit inside parentheses or quotes).
pub(super) fn disjuncts(inner: &str) -> Option<Vec<&str>> {
    if !inner.contains(" or ") {
        return None;
    }
    let parts: Vec<&str> = inner.split(" or ").map(str::trim).collect();
    // Every part must be one whole condition: balanced brackets and quotes.
    let balanced = |p: &str| {
        p.matches('(').count() == p.matches(')').count()
            && p.matches('[').count() == p.matches(']').count()
            && p.matches('\'').count().is_multiple_of(2)
            && p.matches('"').count().is_multiple_of(2)
    };
    parts.iter().all(|p| balanced(p)).then_some(parts)
}

/// Whether a condition only says the cursor (or an object holding it) is
/// missing, null or empty, or that there is no `rel="next"` link: a stop
/// the style applies anyway.
pub(super) fn ends_anyway(condition_text: &str, root: &str, keys: &[String], kind: &str) -> bool {
    let Some((_, expr)) = condition(condition_text) else {
        return false;
    };
    let Some((stop_root, stop_keys)) = expr_path(&format!("{{{{ {expr} }}}}")) else {
        return false;
    };
    let link_next = stop_root == "headers"
        && stop_keys.len() >= 2
        && stop_keys[0].eq_ignore_ascii_case("link")
        && stop_keys[1] == "next";
    let holds_cursor = stop_root == root && keys.starts_with(&stop_keys) && !stop_keys.is_empty();
    holds_cursor || (kind == "link_header" && link_next)
}

/// A stop condition as (whether it tests for a false value rather than a
/// missing one, the expression tested), for the forms manifests use:
/// `not X`, `X == false`, `X is none`, `X is not defined`, `'k' not in X`.
pub(super) fn condition(inner: &str) -> Option<(bool, String)> {
    let inner = inner.trim();
    for (prefix, quote) in [("'", '\''), ("\"", '"')] {
        let body = inner.strip_prefix("not ").map(str::trim).unwrap_or(inner);
        if let Some(rest) = body.strip_prefix(prefix)
            && let Some(end) = rest.find(quote)
        {
            let key = &rest[..end];
            let tail = rest[end + 1..].trim();
            let container = if inner.starts_with("not ") {
                tail.strip_prefix("in ")?
            } else {
                tail.strip_prefix("not in ")?
            };
            let container = container.trim();
            if key.contains(['\'', '"', '\\']) {
                return None;
            }
            return Some((false, format!("{container}['{key}']")));
        }
    }
    if let Some(rest) = inner.strip_prefix("not ") {
        return Some((true, rest.trim().to_owned()));
    }
    for suffix in [
        "is not defined",
        "is none",
        "is None",
        "== None",
        "== none",
        "== ''",
        "== \"\"",
    ] {
        if let Some(e) = inner.strip_suffix(suffix) {
            return Some((false, e.trim().to_owned()));
        }
    }
    for suffix in ["== false", "== False", "is false", "is False", "is sameas false"] {
        if let Some(e) = inner.strip_suffix(suffix) {
            return Some((true, e.trim().to_owned()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::{condition, disjuncts, ends_anyway};

    #[test]
    fn stop_conditions_in_the_forms_manifests_use() {
        let c = condition;
        assert_eq!(
            c("not response.has_more"),
            Some((true, "response.has_more".into()))
        );
        assert_eq!(
            c("response.has_more is false"),
            Some((true, "response.has_more".into()))
        );
        assert_eq!(c("response.next is none"), Some((false, "response.next".into())));
        assert_eq!(
            c("response.get('pagination', {}).get('cursor') is not defined"),
            Some((false, "response.get('pagination', {}).get('cursor')".into()))
        );
        assert_eq!(
            c("'next' not in headers['link']"),
            Some((false, "headers['link']['next']".into()))
        );
        assert_eq!(
            c("not \"next\" in headers.get('Link')"),
            Some((false, "headers.get('Link')['next']".into()))
        );
        assert_eq!(c("response.data | length < 100"), None);
    }

    #[test]
    fn disjunctions_of_empty_cursor_tests_end_anyway() {
        let keys = ["nextPageToken".to_owned()];
        let all = |stop: &str| {
            disjuncts(stop).is_some_and(|p| p.iter().all(|c| ends_anyway(c, "response", &keys, "cursor")))
        };
        assert!(all(
            "response.get('nextPageToken') is none or response.get('nextPageToken') == ''"
        ));
        assert!(all(
            "'nextPageToken' not in response or response.nextPageToken == ''"
        ));
        assert!(!all(
            "'nextPageToken' not in response or response.nextPageToken == 'inf'"
        ));
        assert!(!all("response.nextPageToken is none or response.other == ''"));
        assert!(!all("response.a is none or (response.b and response.c)"));
        assert_eq!(disjuncts("response.a is none"), None);
    }

    #[test]
    fn last_item_cursors_in_the_forms_manifests_use() {
        let p = |t: &str| super::last_item_path(t, "/data");
        let id = Some(vec!["id".to_owned()]);
        assert_eq!(
            p("{{ response.get('data', [])[-1].get('id') if response.get('data') else None }}"),
            id
        );
        assert_eq!(p("{{ response['data'][-1]['id'] }}"), id);
        assert_eq!(
            p("{{ last_record['meta']['after'] if last_record else None }}"),
            Some(vec!["meta".to_owned(), "after".to_owned()])
        );
        assert_eq!(p("{{ response['other'][-1]['id'] }}"), None);
        assert_eq!(
            p("{{ response['data'][-1]['id'] if response.more else None }}"),
            None
        );
        assert_eq!(
            p("{{ response['data'][-1]['id'] if response.data else 0 }}"),
            None
        );
        assert_eq!(p("{{ response['data'][-1] }}"), None);
    }

    #[test]
    fn a_none_default_is_the_field_itself() {
        use super::without_none_default as w;
        assert_eq!(
            w("{{ response._links.more.params.cursor | default(None) }}").as_deref(),
            Some("{{ response._links.more.params.cursor }}")
        );
        assert_eq!(w("{{ response.next | default('x') }}"), None);
        assert_eq!(w("{{ response.next }}"), None);
    }

    #[test]
    fn empty_record_lists_end_a_last_item_cursor() {
        use super::tests_empty_list as t;
        assert!(t("{{ response.get('data')|length == 0 }}", "/data"));
        assert!(t("{{ not response.data }}", "/data"));
        assert!(!t("{{ response.get('other')|length == 0 }}", "/data"));
        assert!(!t("{{ response.data|length < 100 }}", "/data"));
    }
}
