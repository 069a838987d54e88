//! Pagination styles: the first page's URL and each next page's URL.
//!
//! The cursor of a page is always its full URL, built with the style's
//! parameters on top of the start URL's own query, so any checkpoint resumes;
//! a token sent in the body rides in the URL's fragment (see `body_cursor`).

pub(crate) mod body_cursor;
pub(crate) mod link_header;
pub(crate) mod page_url;
pub(crate) mod prefetch;

use serde_json::Value;
use url::Url;

use crate::config::Pagination;
use crate::error::SourceError;
use crate::paging::body_cursor::with_body_token;
use crate::paging::link_header::find_rel;

/// Returns `url` with query parameter `name` set to `value` (replacing every
/// occurrence, keeping the first one's position and every other parameter).
pub(crate) fn with_query_param(url: &Url, name: &str, value: &str) -> Url {
    let mut pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let mut seen = false;
    pairs.retain_mut(|(k, v)| {
        if k != name {
            return true;
        }
        if seen {
            return false;
        }
        seen = true;
        *v = value.to_owned();
        true
    });
    if !seen {
        pairs.push((name.to_owned(), value.to_owned()));
    }
    let mut out = url.clone();
    out.query_pairs_mut().clear().extend_pairs(pairs);
    out
}

/// The value of query parameter `name`, if present.
pub(crate) fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn check_pointer(what: &str, p: &str) -> Result<(), SourceError> {
    if p.is_empty() || p.starts_with('/') {
        Ok(())
    } else {
        Err(SourceError::config(format!(
            "{what} {p:?} is not a JSON pointer (it must be empty or start with '/')"
        )))
    }
}

/// A validated pagination style.
#[derive(Debug, Clone)]
pub(crate) struct Paginator {
    style: Pagination,
}

/// What a page says about the next one.
pub(crate) struct PageView<'a> {
    pub(crate) url: &'a Url,
    pub(crate) headers: &'a reqwest::header::HeaderMap,
    pub(crate) body: &'a Value,
    /// How many items the page has.
    pub(crate) items: usize,
    /// The last item, when [`Paginator::needs_last_item`].
    pub(crate) last_item: Option<&'a Value>,
}

fn pointer<'a>(body: &'a Value, p: &str) -> Option<&'a Value> {
    body.pointer(p).filter(|v| !v.is_null())
}

impl Paginator {
    pub(crate) fn new(style: &Pagination) -> Result<Self, SourceError> {
        match style {
            Pagination::NextUrl { next } => check_pointer("next", next)?,
            Pagination::Cursor {
                param,
                next,
                last_item,
                has_more,
                body_pointer,
                next_header,
            } => {
                match (param, body_pointer) {
                    (Some(p), None) if !p.is_empty() => {}
                    (None, Some(p)) => {
                        if !p.starts_with('/') {
                            return Err(SourceError::config(format!(
                                "pagination.body_pointer {p:?} is not a JSON pointer (it must start with '/')"
                            )));
                        }
                    }
                    _ => {
                        return Err(SourceError::config(
                            "cursor pagination needs exactly one place for the token: \
                             `param` (a query parameter) or `body_pointer` (in the JSON body)",
                        ));
                    }
                }
                match (next, last_item, next_header) {
                    (Some(p), None, None) => check_pointer("next", p)?,
                    (None, Some(p), None) => check_pointer("last_item", p)?,
                    (None, None, Some(h)) => {
                        if reqwest::header::HeaderName::from_bytes(h.as_bytes()).is_err() {
                            return Err(SourceError::config(format!(
                                "pagination.next_header {h:?} is not a header name"
                            )));
                        }
                    }
                    _ => {
                        return Err(SourceError::config(
                            "cursor pagination needs exactly one of `next`, `last_item` and `next_header`",
                        ));
                    }
                }
                if let Some(p) = has_more {
                    check_pointer("has_more", p)?;
                }
                if last_item.is_some() && has_more.is_none() {
                    return Err(SourceError::config(
                        "cursor pagination with `last_item` needs a `has_more` pointer",
                    ));
                }
            }
            Pagination::Offset {
                limit,
                total,
                has_more,
                ..
            } => {
                if *limit == 0 {
                    return Err(SourceError::config("offset pagination needs limit >= 1"));
                }
                if let Some(p) = total {
                    check_pointer("total", p)?;
                }
                if let Some(p) = has_more {
                    check_pointer("has_more", p)?;
                }
            }
            Pagination::Page {
                total_pages,
                has_more,
                ..
            } => {
                if let Some(p) = total_pages {
                    check_pointer("total_pages", p)?;
                }
                if let Some(p) = has_more {
                    check_pointer("has_more", p)?;
                }
            }
            _ => {}
        }
        Ok(Self { style: style.clone() })
    }

    /// The first page's URL: the start URL plus the style's parameters.
    pub(crate) fn first_url(&self, start: &Url) -> Url {
        match &self.style {
            Pagination::Offset {
                offset_param,
                limit_param,
                limit,
                ..
            } => {
                let url = with_query_param(start, limit_param, &limit.to_string());
                if query_param(&url, offset_param).is_some() {
                    url
                } else {
                    with_query_param(&url, offset_param, "0")
                }
            }
            Pagination::Page {
                param, start: first, ..
            } => {
                if query_param(start, param).is_some() {
                    start.clone()
                } else {
                    with_query_param(start, param, &first.to_string())
                }
            }
            _ => start.clone(),
        }
    }

    /// The URL the next page will have if `url` is not the last page, for
    /// styles where it does not depend on the response (offset, page).
    pub(crate) fn predict_next(&self, url: &Url) -> Option<Url> {
        match &self.style {
            Pagination::Offset {
                offset_param, limit, ..
            } => {
                let offset: u64 = query_param(url, offset_param)?.parse().ok()?;
                Some(with_query_param(
                    url,
                    offset_param,
                    &offset.checked_add(*limit)?.to_string(),
                ))
            }
            Pagination::Page { param, start, .. } => {
                let current: u64 = match query_param(url, param) {
                    Some(v) => v.parse().ok()?,
                    None => *start,
                };
                Some(with_query_param(url, param, &current.checked_add(1)?.to_string()))
            }
            _ => None,
        }
    }

    /// Whether [`next`](Self::next) reads the page's last item.
    pub(crate) fn needs_last_item(&self) -> bool {
        matches!(
            &self.style,
            Pagination::Cursor {
                last_item: Some(_),
                ..
            }
        )
    }

    /// The next page's URL, `None` at the end, `Err(reason)` for a malformed page.
    pub(crate) fn next(&self, page: &PageView<'_>) -> Result<Option<Url>, String> {
        let resolve = |link: &str| {
            page.url
                .join(link)
                .map(Some)
                .map_err(|e| format!("next link {link:?} is not a URL: {e}"))
        };
        match &self.style {
            Pagination::None => Ok(None),
            Pagination::LinkHeader => {
                let values = page
                    .headers
                    .get_all(reqwest::header::LINK)
                    .iter()
                    .filter_map(|v| v.to_str().ok());
                match find_rel(values, "next") {
                    Some(link) if !link.is_empty() => resolve(&link),
                    _ => Ok(None),
                }
            }
            Pagination::FeedNext => match crate::format::feed_next::next_link(page.body).map(str::trim) {
                Some(link) if !link.is_empty() => resolve(link),
                _ => Ok(None),
            },
            Pagination::NextUrl { next } => match pointer(page.body, next) {
                None => Ok(None),
                Some(Value::String(s)) if s.is_empty() => Ok(None),
                Some(Value::String(s)) => resolve(s),
                Some(other) => Err(format!(
                    "next URL at {next} is not a string but {}",
                    kind_of(other)
                )),
            },
            Pagination::Cursor {
                param,
                next,
                last_item,
                has_more,
                body_pointer: _,
                next_header,
            } => {
                if let Some(p) = has_more
                    && !more(page.body, p)?
                {
                    return Ok(None);
                }
                let token = if let Some(p) = next {
                    match pointer(page.body, p) {
                        None => return Ok(None),
                        Some(Value::String(s)) => s.clone(),
                        Some(other) => {
                            return Err(format!("cursor at {p} is not a string but {}", kind_of(other)));
                        }
                    }
                } else if let Some(h) = next_header {
                    match page.headers.get(h.as_str()).map(|v| v.to_str()) {
                        None => return Ok(None),
                        Some(Ok(v)) => v.trim().to_owned(),
                        Some(Err(_)) => return Err(format!("header {h} is not visible ASCII")),
                    }
                } else {
                    let p = last_item.as_deref().unwrap_or_default();
                    let Some(last) = page.last_item else {
                        return Err("has_more is true but the page has no items".to_owned());
                    };
                    match pointer(last, p) {
                        Some(Value::String(s)) => s.clone(),
                        Some(Value::Number(n)) => n.to_string(),
                        Some(other) => {
                            return Err(format!("last item's {p} is not a string but {}", kind_of(other)));
                        }
                        None => return Err(format!("last item has no {p}")),
                    }
                };
                if token.is_empty() {
                    return Ok(None);
                }
                Ok(Some(match param {
                    Some(param) => with_query_param(page.url, param, &token),
                    None => with_body_token(page.url, &token),
                }))
            }
            Pagination::Offset {
                offset_param,
                limit,
                total,
                has_more,
                ..
            } => {
                let offset: u64 = match query_param(page.url, offset_param) {
                    Some(v) => v
                        .parse()
                        .map_err(|_| format!("{offset_param}={v:?} in the URL is not a number"))?,
                    None => 0,
                };
                let n = page.items as u64;
                if n == 0 {
                    return Ok(None);
                }
                let next = offset.saturating_add(n);
                let ends = match (total, has_more) {
                    (Some(p), _) if next >= count_at(page.body, p)? => true,
                    (_, Some(p)) => !more(page.body, p)?,
                    (Some(_), None) => false,
                    (None, None) => n < *limit,
                };
                Ok((!ends).then(|| with_query_param(page.url, offset_param, &next.to_string())))
            }
            Pagination::Page {
                param,
                start,
                total_pages,
                has_more,
            } => {
                let current: u64 = match query_param(page.url, param) {
                    Some(v) => v
                        .parse()
                        .map_err(|_| format!("{param}={v:?} in the URL is not a number"))?,
                    None => *start,
                };
                if page.items == 0 {
                    return Ok(None);
                }
                if let Some(p) = has_more
                    && !more(page.body, p)?
                {
                    return Ok(None);
                }
                if let Some(p) = total_pages {
                    let pages = count_at(page.body, p)?;
                    // Pages are numbered from `start`.
                    if current.saturating_sub(*start).saturating_add(1) >= pages {
                        return Ok(None);
                    }
                }
                Ok(Some(with_query_param(
                    page.url,
                    param,
                    &current.saturating_add(1).to_string(),
                )))
            }
        }
    }
}

/// Whether the `has_more` flag at `p` says there are more pages: false,
/// null or missing say no. The strings `"true"` and `"false"` count as
/// booleans (an XML body's values are strings).
fn more(body: &Value, p: &str) -> Result<bool, String> {
    match pointer(body, p) {
        None | Some(Value::Bool(false)) => Ok(false),
        Some(Value::Bool(true)) => Ok(true),
        Some(Value::String(s)) if s == "true" || s == "false" => Ok(s == "true"),
        Some(other) => Err(format!("has_more at {p} is not a boolean but {}", kind_of(other))),
    }
}

fn count_at(body: &Value, p: &str) -> Result<u64, String> {
    match pointer(body, p) {
        // A string of digits counts (an XML body's values are strings).
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str()?.trim().parse().ok())
            .ok_or_else(|| format!("{p} is not a non-negative integer but {}", kind_of(v))),
        None => Err(format!("{p} is missing")),
    }
}

/// A short description of a JSON value's type, for error messages.
pub(crate) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests;
