//! What a first page says about its collection: where the items are, which
//! field keys them, and which pagination styles it hints at.

use reqwest::header::{HeaderMap, LINK};
use serde_json::Value;
use url::Url;

use crate::config::Pagination;
use crate::paging::link_header::find_rel;

/// How deep the body is searched.
const MAX_DEPTH: usize = 8;

/// The largest array of objects in `body` as a JSON pointer and its length
/// (`""` when the body is that array); the first found wins a tie.
pub(super) fn items_pointer(body: &Value) -> Option<(String, usize)> {
    let mut best: Option<(String, usize)> = None;
    walk(body, String::new(), 0, &mut |pointer, value| {
        if let Value::Array(items) = value
            && !items.is_empty()
            && items.iter().all(Value::is_object)
            && best.as_ref().is_none_or(|(_, n)| items.len() > *n)
        {
            best = Some((pointer.to_owned(), items.len()));
        }
    });
    best
}

/// A field of every item whose scalar values are all distinct: `/id` first,
/// then names that look like keys, then any.
pub(super) fn key_candidate(items: &[Value]) -> Option<String> {
    let first = items.first()?.as_object()?;
    let unique = |name: &str| {
        let mut seen = std::collections::HashSet::new();
        items.iter().all(|item| match item.get(name) {
            Some(v @ (Value::String(_) | Value::Number(_))) => seen.insert(v.to_string()),
            _ => false,
        })
    };
    let looks_like_key = |n: &str| {
        let n = n.to_ascii_lowercase();
        n.ends_with("id") || n.ends_with("key") || n.ends_with("uuid")
    };
    let mut names: Vec<&String> = first.keys().collect();
    names.sort_by_key(|n| (n.as_str() != "id", !looks_like_key(n)));
    names
        .into_iter()
        .find(|n| unique(n))
        .map(|n| format!("/{}", escape(n)))
}

/// A pagination style the first page hints at, and the evidence.
#[derive(Debug, Clone)]
pub(super) struct Candidate {
    pub(super) pagination: Pagination,
    pub(super) evidence: String,
}

/// What was looked for, said when nothing is found.
pub(super) const LOOKED_FOR: &[&str] = &[
    "a Link header with rel=\"next\"",
    "a next-URL field (a key with \"next\" holding a URL)",
    "a cursor field (a key with \"cursor\", \"next\" or \"token\") with or without has_more",
    "a has_more flag with a unique item key (Stripe style)",
    "a response header with \"cursor\" in its name",
    "an offset/total pair (offset in the URL or a total count in the body)",
    "a page parameter in the URL (page, p, page_number)",
];

/// Candidates in the order they are tried (the most specific first).
pub(super) fn candidates(
    url: &Url,
    headers: &HeaderMap,
    body: &Value,
    items: &str,
    n: usize,
    key: Option<&str>,
) -> Vec<Candidate> {
    let mut out = Vec::new();
    out.extend(link_candidate(headers));
    let fields = body_fields(body, items);
    let has_more = has_more_field(&fields);
    let more_is_true = has_more.is_some_and(|(_, v)| v == &Value::Bool(true));
    let has_more_pointer = has_more.map(|(p, _)| p.clone());
    field_candidates(&fields, has_more_pointer.as_ref(), &mut out);
    if more_is_true && let (Some(key), Some(flag)) = (key, &has_more_pointer) {
        last_item_candidates(key, flag, &mut out);
    }
    header_cursor_candidates(headers, &mut out);
    out.extend(offset_candidate(url, &fields, n, has_more_pointer.as_ref()));
    page_candidates(url, has_more_pointer.as_ref(), &mut out);
    out
}

/// A field of the body outside the items: its JSON pointer and value.
type Field = (String, Value);

/// The lower-cased last step of `pointer`.
fn name_of(pointer: &str) -> String {
    pointer
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// The value of query parameter `name` in `url`.
fn query(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `LinkHeader` when a `Link` header has `rel="next"`.
fn link_candidate(headers: &HeaderMap) -> Option<Candidate> {
    let links = headers.get_all(LINK).iter().filter_map(|v| v.to_str().ok());
    let next = find_rel(links, "next")?;
    Some(Candidate {
        pagination: Pagination::LinkHeader,
        evidence: format!("a Link header with rel=\"next\" ({next})"),
    })
}

/// Every field of `body` outside the items at `items`.
fn body_fields(body: &Value, items: &str) -> Vec<Field> {
    let mut fields = Vec::new();
    walk(body, String::new(), 0, &mut |pointer, value| {
        if !pointer.is_empty() && !items.is_empty() && pointer.starts_with(items) {
            return;
        }
        fields.push((pointer.to_owned(), value.clone()));
    });
    fields
}

/// The first boolean field named like `has_more`.
fn has_more_field(fields: &[Field]) -> Option<&Field> {
    fields.iter().find(|(p, v)| {
        let n = name_of(p).replace(['_', '-'], "");
        v.is_boolean()
            && matches!(
                n.as_str(),
                "hasmore" | "hasnext" | "hasnextpage" | "more" | "hasmoreitems"
            )
    })
}

/// A cursor pagination of the defaults but `param`, `next`, `last_item`,
/// `has_more` and `next_header`.
fn cursor(
    param: String,
    next: Option<String>,
    last_item: Option<String>,
    has_more: Option<String>,
    next_header: Option<String>,
) -> Pagination {
    Pagination::Cursor {
        param: Some(param),
        next,
        last_item,
        has_more,
        body_pointer: None,
        next_header,
        stop_when: None,
    }
}

/// Next-URL and cursor candidates from string fields named like them.
fn field_candidates(fields: &[Field], has_more: Option<&String>, out: &mut Vec<Candidate>) {
    for (pointer, value) in fields {
        let Value::String(text) = value else { continue };
        let name = name_of(pointer);
        if text.is_empty() {
            continue;
        }
        if name.contains("next") && looks_like_url(text) {
            out.push(Candidate {
                pagination: Pagination::NextUrl {
                    next: pointer.clone(),
                    has_more: None,
                },
                evidence: format!("a next-URL field at {pointer}"),
            });
        } else if name.contains("cursor") || name.contains("next") || name.contains("token") {
            let original = pointer.rsplit('/').next().unwrap_or_default();
            let with_more = has_more
                .map(|p| format!(" with has_more at {p}"))
                .unwrap_or_default();
            for param in param_guesses(original, &["cursor", "page_token", "after"]) {
                out.push(Candidate {
                    evidence: format!("a cursor field at {pointer}{with_more}; sent back as ?{param}="),
                    pagination: cursor(param, Some(pointer.clone()), None, has_more.cloned(), None),
                });
            }
        }
    }
}

/// Stripe-style candidates: the last item's `key` sent back while the
/// `has_more` flag at `flag` is true.
fn last_item_candidates(key: &str, flag: &str, out: &mut Vec<Candidate>) {
    for param in ["starting_after", "after", "cursor"] {
        out.push(Candidate {
            pagination: cursor(
                param.to_owned(),
                None,
                Some(key.to_owned()),
                Some(flag.to_owned()),
                None,
            ),
            evidence: format!("has_more at {flag} is true and items have a unique {key}; the last one sent back as ?{param}="),
        });
    }
}

/// Cursor candidates from non-empty response headers named like a cursor.
fn header_cursor_candidates(headers: &HeaderMap, out: &mut Vec<Candidate>) {
    for (name, value) in headers {
        let lower = name.as_str().to_ascii_lowercase();
        if lower.contains("cursor") && value.to_str().is_ok_and(|v| !v.trim().is_empty()) {
            let bare = lower
                .trim_start_matches("x-")
                .replace("next-", "")
                .replace('-', "_");
            for param in param_guesses(&bare, &["cursor"]) {
                out.push(Candidate {
                    evidence: format!("a cursor in the response header {name}; sent back as ?{param}="),
                    pagination: cursor(param, None, None, None, Some(name.as_str().to_owned())),
                });
            }
        }
    }
}

/// An offset candidate when the URL has `offset` or the body a total above
/// the first page's `n` items.
fn offset_candidate(url: &Url, fields: &[Field], n: usize, has_more: Option<&String>) -> Option<Candidate> {
    let total = fields.iter().find(|(p, v)| {
        let name = name_of(p).replace(['_', '-'], "");
        v.as_u64().is_some_and(|t| t as usize > n)
            && matches!(name.as_str(), "total" | "totalcount" | "count" | "totalresults")
    });
    if query(url, "offset").is_none() && total.is_none() {
        return None;
    }
    let limit = query(url, "limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(n as u64)
        .max(1);
    Some(Candidate {
        pagination: Pagination::Offset {
            offset_param: "offset".into(),
            limit_param: "limit".into(),
            limit,
            total: total.map(|(p, _)| p.clone()),
            has_more: if total.is_none() { has_more.cloned() } else { None },
            stop_when: None,
        },
        evidence: match total {
            Some((p, v)) => format!("a total count at {p} ({v}) above the {n} items of the first page"),
            None => "an offset parameter in the URL".to_owned(),
        },
    })
}

/// Page candidates from numeric page parameters in the URL.
fn page_candidates(url: &Url, has_more: Option<&String>, out: &mut Vec<Candidate>) {
    for param in ["page", "p", "page_number"] {
        if let Some(v) = query(url, param).filter(|v| v.parse::<u64>().is_ok()) {
            out.push(Candidate {
                pagination: Pagination::Page {
                    param: param.to_owned(),
                    start: v.parse().unwrap_or(1),
                    total_pages: None,
                    has_more: has_more.cloned(),
                    stop_when: None,
                    page_size: None,
                    page_size_param: None,
                },
                evidence: format!("a page parameter in the URL ({param}={v})"),
            });
        }
    }
}

/// Query parameter names to try for a token found under `name`: the name
/// without its `next` (`next_cursor` → `cursor`, `nextPageToken` →
/// `pageToken`), then `defaults`.
fn param_guesses(name: &str, defaults: &[&str]) -> Vec<String> {
    let lower = name.to_ascii_lowercase();
    let cut = if lower.starts_with("next_") {
        5
    } else if lower.starts_with("next") {
        4
    } else {
        0
    };
    let mut stripped = name[cut..].to_owned();
    if cut > 0
        && let Some(first) = stripped.get(..1).map(str::to_ascii_lowercase)
    {
        stripped.replace_range(..1, &first);
    }
    let mut out: Vec<String> = Vec::new();
    for p in std::iter::once(stripped.as_str()).chain(defaults.iter().copied()) {
        if !p.is_empty()
            && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !out.iter().any(|o| o == p)
        {
            out.push(p.to_owned());
        }
    }
    out
}

fn looks_like_url(text: &str) -> bool {
    text.starts_with("http://") || text.starts_with("https://") || text.starts_with('/') || text.contains('?')
}

fn escape(step: &str) -> String {
    step.replace('~', "~0").replace('/', "~1")
}

/// Calls `visit` on every value (pointer, value), depth first, to `MAX_DEPTH`.
fn walk(value: &Value, pointer: String, depth: usize, visit: &mut dyn FnMut(&str, &Value)) {
    visit(&pointer, value);
    if depth >= MAX_DEPTH {
        return;
    }
    if let Value::Object(map) = value {
        for (k, v) in map {
            walk(v, format!("{pointer}/{}", escape(k)), depth + 1, visit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_largest_array_of_objects_holds_the_items() {
        assert_eq!(items_pointer(&json!([{"a": 1}])), Some((String::new(), 1)));
        let body = json!({"meta": {"tags": [{"t": 1}]}, "data": {"rows": [{"id": 1}, {"id": 2}]}, "nums": [1, 2, 3]});
        assert_eq!(items_pointer(&body), Some(("/data/rows".to_owned(), 2)));
        assert_eq!(items_pointer(&json!({"a": [1, 2]})), None);
    }

    #[test]
    fn keys_prefer_id_then_key_like_names() {
        let items = [
            json!({"name": "a", "uid": 1, "id": 7}),
            json!({"name": "b", "uid": 2, "id": 8}),
        ];
        assert_eq!(key_candidate(&items).as_deref(), Some("/id"));
        let items = [json!({"name": "a", "uid": 1}), json!({"name": "a", "uid": 2})];
        assert_eq!(key_candidate(&items).as_deref(), Some("/uid"));
        let items = [json!({"n": [1]}), json!({"n": [1]})];
        assert_eq!(key_candidate(&items), None);
    }

    #[test]
    fn guesses_strip_next_and_dedupe() {
        assert_eq!(
            param_guesses("next_cursor", &["cursor", "after"]),
            ["cursor", "after"]
        );
        assert_eq!(
            param_guesses("nextPageToken", &["cursor"]),
            ["pageToken", "cursor"]
        );
        assert_eq!(param_guesses("cursor", &["cursor"]), ["cursor"]);
    }
}
