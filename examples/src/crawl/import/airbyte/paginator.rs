//! `DefaultPaginator` and its strategies (`CursorPagination`,
//! `OffsetIncrement`, `PageIncrement`) as a `pagination` style.

use serde_json::Value;

use super::draft::Draft;
use super::mapper::{Mapper, Target, expr_path, pointer};
use super::refusal::{At, Refusal};
use super::requester::append_query;

/// Where a page token or page size goes.
enum Inject {
    Query(String),
    Body(String),
    Path,
}

impl Mapper {
    fn inject(&mut self, at: &At<'_>) -> Result<Option<Inject>, Refusal> {
        match at.kind().as_str() {
            _ if at.value.is_null() => Ok(None),
            "RequestPath" => Ok(Some(Inject::Path)),
            "RequestOption" => {
                let name = match at.str("field_name") {
                    Some(f) => self.eval(at, "field_name", f, Target::Literal)?.text,
                    None if at.value.get("field_path").is_some() => {
                        return Err(at.refuse("a nested field_path; the crawl sets one body field"));
                    }
                    None => return Err(at.refuse("has no field_name")),
                };
                match at.str("inject_into") {
                    Some("request_parameter") => Ok(Some(Inject::Query(name))),
                    Some("body_json") => Ok(Some(Inject::Body(name))),
                    other => Err(at.refuse(format!(
                        "injects into {}; the crawl puts page values in the query or the JSON body",
                        other.unwrap_or("nothing")
                    ))),
                }
            }
            other => Err(at.refuse(format!("{other} is not a request option"))),
        }
    }

    fn page_size(&mut self, at: &At<'_>) -> Result<Option<u64>, Refusal> {
        match self.field(at, "page_size", Target::Literal)? {
            None => Ok(None),
            Some(r) => match r.value.as_u64().or_else(|| r.text.trim().parse().ok()) {
                Some(n) if n > 0 => Ok(Some(n)),
                _ => Err(at
                    .at("page_size")
                    .refuse(format!("{:?} is not a positive number", r.text))),
            },
        }
    }

    /// Fills `pagination` from the paginator at `at`.
    pub(super) fn paginator(&mut self, at: &At<'_>, draft: &mut Draft) -> Result<(), Refusal> {
        match at.kind().as_str() {
            "NoPagination" => return Ok(()),
            _ if at.value.is_null() => return Ok(()),
            "DefaultPaginator" => {}
            other => return Err(at.refuse(format!("the paginator {other} has no crawl equivalent"))),
        }
        if let Some(decoder) = at.value.get("decoder")
            && decoder.get("type").and_then(Value::as_str) != Some("JsonDecoder")
        {
            return Err(at.at("decoder").refuse("only JSON responses are read"));
        }
        let strategy = at.at("pagination_strategy");
        let token = self.inject(&at.at("page_token_option"))?;
        let size_option = self.inject(&at.at("page_size_option"))?;
        let size = self.page_size(&strategy)?;
        let style: toml::Table = match strategy.kind().as_str() {
            "CursorPagination" => {
                if let (Some(option), Some(size)) = (&size_option, size) {
                    match option {
                        Inject::Query(name) => append_query(&mut draft.url, name, &size.to_string()),
                        _ => return Err(at.at("page_size_option").refuse("a page size outside the query")),
                    }
                }
                let items = draft
                    .keys
                    .iter()
                    .find(|(k, _)| k == "items")
                    .and_then(|(_, v)| v.as_str().map(str::to_owned));
                self.cursor(&strategy, token, items.as_deref())?
            }
            "OffsetIncrement" => {
                let Some(Inject::Query(offset)) = token else {
                    return Err(at
                        .at("page_token_option")
                        .refuse("the offset must go in the query"));
                };
                let Some(limit) = size else {
                    return Err(strategy.refuse(
                        "an offset without a page_size; the crawl's offset style ends on a short page",
                    ));
                };
                let limit = i64::try_from(limit).unwrap_or(i64::MAX);
                match size_option {
                    Some(Inject::Query(limit_param)) => table([
                        ("style", "offset".into()),
                        ("offset_param", offset.into()),
                        ("limit_param", limit_param.into()),
                        ("limit", limit.into()),
                    ]),
                    None => {
                        // No limit is sent: the offset is written into the URL, where
                        // the offset style sets it without adding parameters.
                        let encoded: String =
                            url::form_urlencoded::byte_serialize(offset.as_bytes()).collect();
                        draft.url.push(if draft.url.contains('?') { '&' } else { '?' });
                        draft.url.push_str(&format!("{encoded}={{offset}}"));
                        table([("style", "offset".into()), ("limit", limit.into())])
                    }
                    Some(_) => return Err(at.at("page_size_option").refuse("a page size outside the query")),
                }
            }
            "PageIncrement" => {
                let Some(Inject::Query(param)) = token else {
                    return Err(at
                        .at("page_token_option")
                        .refuse("the page number must go in the query"));
                };
                let start = match strategy.value.get("start_from_page") {
                    None | Some(Value::Null) => 0,
                    Some(v) => v
                        .as_i64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                        .filter(|n| *n >= 0)
                        .ok_or_else(|| strategy.at("start_from_page").refuse("is not a number"))?,
                };
                let mut style = table([
                    ("style", "page".into()),
                    ("param", param.into()),
                    ("start", start.into()),
                ]);
                // Airbyte ends on a page shorter than page_size (and on an empty one).
                if let Some(size) = size {
                    style.insert("page_size".into(), i64::try_from(size).unwrap_or(i64::MAX).into());
                    match size_option {
                        Some(Inject::Query(name)) => {
                            style.insert("page_size_param".into(), name.into());
                        }
                        Some(_) => {
                            return Err(at.at("page_size_option").refuse("a page size outside the query"));
                        }
                        None => {}
                    }
                } else if let Some(Inject::Query(_)) = size_option {
                    return Err(at
                        .at("page_size_option")
                        .refuse("a page size option without a page_size"));
                }
                style
            }
            other => {
                return Err(strategy.refuse(match other {
                    "CustomPaginationStrategy" => "custom Python code".to_owned(),
                    _ => format!("the pagination strategy {other} has no crawl equivalent"),
                }));
            }
        };
        draft.set("pagination", style);
        Ok(())
    }

    fn cursor(
        &mut self,
        at: &At<'_>,
        token: Option<Inject>,
        items: Option<&str>,
    ) -> Result<toml::Table, Refusal> {
        let Some(template) = at.str("cursor_value") else {
            return Err(at.refuse("has no cursor_value"));
        };
        let path = expr_path(template)
            .or_else(|| last_item_path(template, items?).map(|keys| ("last_record".to_owned(), keys)));
        let Some((root, keys)) = path else {
            return Err(at.at("cursor_value").refuse(format!(
                "`{template}` is not a field of the response, its headers or the last record"
            )));
        };
        let link =
            root == "headers" && keys.len() == 3 && keys[0].eq_ignore_ascii_case("link") && keys[1] == "next";
        let mut style = match (root.as_str(), &token) {
            ("response", Some(Inject::Path)) => {
                table([("style", "next_url".into()), ("next", pointer(&keys).into())])
            }
            ("headers", Some(Inject::Path)) if link => table([("style", "link_header".into())]),
            ("response", Some(_)) => table([("style", "cursor".into()), ("next", pointer(&keys).into())]),
            ("last_record", Some(_)) => {
                table([("style", "cursor".into()), ("last_item", pointer(&keys).into())])
            }
            ("headers", Some(Inject::Query(_) | Inject::Body(_))) if keys.len() == 1 => table([
                ("style", "cursor".into()),
                ("next_header", keys[0].clone().into()),
            ]),
            (_, None) => return Err(at.refuse("a cursor without page_token_option is sent nowhere")),
            _ => {
                return Err(at.at("cursor_value").refuse(format!(
                    "`{template}` sent as {}",
                    if matches!(token, Some(Inject::Path)) {
                        "the next path"
                    } else {
                        "a parameter"
                    }
                )));
            }
        };
        match token {
            Some(Inject::Query(name)) => {
                style.insert("param".into(), name.into());
            }
            Some(Inject::Body(name)) => {
                style.insert("body_pointer".into(), pointer(&[name]).into());
            }
            _ => {}
        }
        if let Some(stop) = at.str("stop_condition") {
            let last_item = style.contains_key("last_item");
            if !(last_item && items.is_some_and(|items| tests_empty_list(stop, items))) {
                self.stop_condition(&at.at("stop_condition"), stop, &root, &keys, &mut style)?;
            }
        }
        Ok(style)
    }

    /// A stop condition the style already applies (the cursor missing or
    /// empty, no `rel="next"` link) or one `has_more` expresses
    /// (`not response.has_more`).
    fn stop_condition(
        &mut self,
        at: &At<'_>,
        stop: &str,
        root: &str,
        keys: &[String],
        style: &mut toml::Table,
    ) -> Result<(), Refusal> {
        let refuse = || at.refuse(format!("`{stop}` is not a condition the crawl can test"));
        let inner = super::jinja::single_expression(stop).unwrap_or(stop).trim();
        // `A or B`: the style ends anyway when every part only says the
        // cursor is missing or empty.
        if let Some(parts) = disjuncts(inner) {
            let kind = style
                .get("style")
                .and_then(toml::Value::as_str)
                .unwrap_or_default();
            return if parts.iter().all(|p| ends_anyway(p, root, keys, kind)) {
                Ok(())
            } else {
                Err(refuse())
            };
        }
        // A bare field (`response.done`) stops when it is true.
        if let Some((stop_root, stop_keys)) = expr_path(&format!("{{{{ {inner} }}}}")) {
            let is_cursor = style.get("style").and_then(toml::Value::as_str) == Some("cursor");
            if stop_root == "response" && is_cursor && !style.contains_key("stop_when") {
                style.insert("stop_when".into(), pointer(&stop_keys).into());
                return Ok(());
            }
            return Err(refuse());
        }
        let (falsy, expr) = condition(inner).ok_or_else(refuse)?;
        let (stop_root, stop_keys) = expr_path(&format!("{{{{ {expr} }}}}")).ok_or_else(refuse)?;
        let kind = style
            .get("style")
            .and_then(toml::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if ends_anyway(inner, root, keys, &kind) {
            // The style already ends on a missing, null or empty cursor or link.
            return Ok(());
        }
        if stop_root == "response" && falsy && kind == "cursor" && !style.contains_key("has_more") {
            style.insert("has_more".into(), pointer(&stop_keys).into());
            return Ok(());
        }
        Err(refuse())
    }
}

/// The last record's field a cursor expression reads in one of the forms
/// manifests write: `last_record['a'] if last_record else None`, and the
/// response's record list's last element,
/// `response['data'][-1]['id']` or `response.get('data', [])[-1].get('id')
/// if response.get('data') else None`, when that list is the records
/// (`items` is its pointer). On an empty page Airbyte's value is `None`
/// and the pagination ends, as the crawl's `last_item` cursor does.
fn last_item_path(template: &str, items: &str) -> Option<Vec<String>> {
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

/// Whether a stop condition tests the page's record list (at `items`) for
/// emptiness (`response.data | length == 0`, `not response.data`): a
/// `last_item` cursor ends on an empty page anyway.
fn tests_empty_list(stop: &str, items: &str) -> bool {
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
fn disjuncts(inner: &str) -> Option<Vec<&str>> {
    if !inner.contains(" or ") {
        return None;
    }
    let parts: Vec<&str> = inner.split(" or ").map(str::trim).collect();
    // Every part must be one whole condition: balanced brackets and quotes.
    let balanced = |p: &str| {
        p.matches('(').count() == p.matches(')').count()
            && p.matches('[').count() == p.matches(']').count()
            && p.matches('\'').count() % 2 == 0
            && p.matches('"').count() % 2 == 0
    };
    parts.iter().all(|p| balanced(p)).then_some(parts)
}

/// Whether a condition only says the cursor (or an object holding it) is
/// missing, null or empty, or that there is no `rel="next"` link: a stop
/// the style applies anyway.
fn ends_anyway(condition_text: &str, root: &str, keys: &[String], kind: &str) -> bool {
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
fn condition(inner: &str) -> Option<(bool, String)> {
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

fn table<const N: usize>(entries: [(&str, toml::Value); N]) -> toml::Table {
    entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
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
    fn empty_record_lists_end_a_last_item_cursor() {
        use super::tests_empty_list as t;
        assert!(t("{{ response.get('data')|length == 0 }}", "/data"));
        assert!(t("{{ not response.data }}", "/data"));
        assert!(!t("{{ response.get('other')|length == 0 }}", "/data"));
        assert!(!t("{{ response.data|length < 100 }}", "/data"));
    }
}
