//! Pagination styles: the first page's URL and each next page's URL.
//!
//! The cursor of a page is always its full URL, built with the style's
//! parameters on top of the start URL's own query, so any checkpoint resumes;
//! a token sent in the body rides in the URL's fragment (see `body_cursor`).

pub(crate) mod body_cursor;
pub(crate) mod fragment;
pub(crate) mod link_header;
pub(crate) mod page_template;
pub(crate) mod page_url;
pub(crate) mod pagination;
pub(crate) mod pagination_check;
pub(crate) mod prefetch;
pub mod query_string;

use serde_json::Value;
use url::Url;

use crate::config::Pagination;
use crate::error::SourceError;
use crate::paging::body_cursor::with_body_token;
use crate::paging::link_header::find_rel;
use crate::paging::pagination_check::check_style;

/// Returns `url` with query parameter `name` set to `value` (replacing every
/// occurrence, keeping the first one's position and every other parameter
/// byte for byte: see [`query_string`]).
pub(crate) fn with_query_param(url: &Url, name: &str, value: &str) -> Url {
    query_string::set_param(url, name, value)
}

/// The value of query parameter `name`, if present.
pub(crate) fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A validated pagination style.
#[derive(Debug, Clone)]
pub(crate) struct Paginator {
    style: Pagination,
    /// The page number or offset is written into the URL (`{page}`,
    /// `{offset}`), not sent as a parameter (see `page_template`).
    templated: bool,
}

/// What a page says about the next one.
pub(crate) struct PageView<'a> {
    pub(crate) url: &'a Url,
    /// The URL the page's series started from, placeholders unrendered
    /// (templated page numbers are rendered into it).
    pub(crate) base: &'a Url,
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
        check_style(style)?;
        Ok(Self {
            style: style.clone(),
            templated: false,
        })
    }

    /// Writes the page number or offset into `start` where it has the
    /// placeholder (`{page}` for the `page` style, `{offset}` for `offset`).
    #[must_use]
    pub(crate) fn with_template(mut self, start: &Url) -> Self {
        self.templated = match &self.style {
            Pagination::Page { .. } => page_template::has(start, "page"),
            Pagination::Offset { .. } => page_template::has(start, "offset"),
            _ => false,
        };
        self
    }

    /// The URL of page (or offset) `n` of the series starting at `base`.
    fn numbered(&self, base: &Url, url: &Url, n: u64) -> Url {
        match &self.style {
            Pagination::Offset {
                offset_param, limit, ..
            } => {
                if self.templated {
                    page_template::render(base, &[("offset", n), ("limit", *limit)])
                } else {
                    with_query_param(url, offset_param, &n.to_string())
                }
            }
            Pagination::Page {
                page_size: Some(size),
                page_size_param: Some(p),
                ..
            } if self.templated => {
                page_template::render(&with_query_param(base, p, &size.to_string()), &[("page", n)])
            }
            Pagination::Page { .. } if self.templated => page_template::render(base, &[("page", n)]),
            Pagination::Page { param, .. } => with_query_param(url, param, &n.to_string()),
            _ => url.clone(),
        }
    }

    /// The number (page or offset) of the page at `url`; `default` when the
    /// URL does not say.
    fn current(&self, url: &Url, param: &str, default: u64) -> Result<u64, String> {
        if self.templated {
            return page_template::number(url);
        }
        match query_param(url, param) {
            Some(v) => v
                .parse()
                .map_err(|_| format!("{param}={v:?} in the URL is not a number")),
            None => Ok(default),
        }
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
                if self.templated {
                    return self.numbered(start, start, 0);
                }
                let url = with_query_param(start, limit_param, &limit.to_string());
                if query_param(&url, offset_param).is_some() {
                    url
                } else {
                    with_query_param(&url, offset_param, "0")
                }
            }
            Pagination::Page {
                param,
                start: first,
                page_size,
                page_size_param,
                ..
            } => {
                let start = match (page_size, page_size_param) {
                    (Some(n), Some(p)) => with_query_param(start, p, &n.to_string()),
                    _ => start.clone(),
                };
                if self.templated {
                    page_template::render(&start, &[("page", *first)])
                } else if query_param(&start, param).is_some() {
                    start
                } else {
                    with_query_param(&start, param, &first.to_string())
                }
            }
            _ => start.clone(),
        }
    }

    /// The URL the next page will have if `url` is not the last page, for
    /// styles where it does not depend on the response (offset, page).
    pub(crate) fn predict_next(&self, url: &Url, base: &Url) -> Option<Url> {
        match &self.style {
            Pagination::Offset {
                offset_param, limit, ..
            } => {
                let offset = self.current(url, offset_param, 0).ok()?;
                Some(self.numbered(base, url, offset.checked_add(*limit)?))
            }
            Pagination::Page { param, start, .. } => {
                let current = self.current(url, param, *start).ok()?;
                Some(self.numbered(base, url, current.checked_add(1)?))
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
            Pagination::NextUrl {
                has_more: Some(p), ..
            } if !more(page.body, p)? => Ok(None),
            Pagination::NextUrl { next, .. } => match pointer(page.body, next) {
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
                stop_when,
            } => {
                if stops(page.body, has_more.as_deref(), stop_when.as_deref())? {
                    return Ok(None);
                }
                let Some(token) = cursor_token(page, next, next_header, last_item, has_more)? else {
                    return Ok(None);
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
                stop_when,
                ..
            } => {
                let offset = self.current(page.url, offset_param, 0)?;
                let n = page.items as u64;
                if n == 0 || stops(page.body, None, stop_when.as_deref())? {
                    return Ok(None);
                }
                let next = offset.saturating_add(n);
                let ends = match (total, has_more) {
                    (Some(p), _) if next >= count_at(page.body, p)? => true,
                    (_, Some(p)) => !more(page.body, p)?,
                    (Some(_), None) => false,
                    (None, None) => n < *limit,
                };
                Ok((!ends).then(|| self.numbered(page.base, page.url, next)))
            }
            Pagination::Page {
                param,
                start,
                total_pages,
                has_more,
                stop_when,
                page_size,
                ..
            } => {
                let current = self.current(page.url, param, *start)?;
                if page.items == 0
                    || page_size.is_some_and(|size| (page.items as u64) < size)
                    || stops(page.body, has_more.as_deref(), stop_when.as_deref())?
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
                Ok(Some(self.numbered(
                    page.base,
                    page.url,
                    current.saturating_add(1),
                )))
            }
        }
    }
}

/// The next token of a `cursor` page, from the body, a header or the last
/// item; `None` at the end.
fn cursor_token(
    page: &PageView<'_>,
    next: &Option<String>,
    next_header: &Option<String>,
    last_item: &Option<String>,
    has_more: &Option<String>,
) -> Result<Option<String>, String> {
    if let Some(p) = next {
        return match pointer(page.body, p) {
            None => Ok(None),
            Some(v) => scalar_text(v)
                .map(Some)
                .ok_or_else(|| format!("cursor at {p} is not a string or number but {}", kind_of(v))),
        };
    }
    if let Some(h) = next_header {
        return match page.headers.get(h.as_str()).map(|v| v.to_str()) {
            None => Ok(None),
            Some(Ok(v)) => Ok(Some(v.trim().to_owned())),
            Some(Err(_)) => Err(format!("header {h} is not visible ASCII")),
        };
    }
    let p = last_item.as_deref().unwrap_or_default();
    let Some(last) = page.last_item else {
        // Without `has_more`, an empty page is the end.
        return match has_more {
            None => Ok(None),
            Some(_) => Err("has_more is true but the page has no items".to_owned()),
        };
    };
    match pointer(last, p) {
        Some(v) => scalar_text(v)
            .map(Some)
            .ok_or_else(|| format!("last item's {p} is not a string or number but {}", kind_of(v))),
        None => Err(format!("last item has no {p}")),
    }
}

/// A token as text: a string as it is, a number or boolean as its JSON
/// text (`"next_page": 2` works like `"2"`); `None` for arrays and objects.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Whether the page says the stream has ended: `has_more` false (or
/// missing), or `stop_when` true.
fn stops(body: &Value, has_more: Option<&str>, stop_when: Option<&str>) -> Result<bool, String> {
    if let Some(p) = has_more
        && !more(body, p)?
    {
        return Ok(true);
    }
    match stop_when.map(|p| (p, pointer(body, p))) {
        None | Some((_, None | Some(Value::Bool(false)))) => Ok(false),
        Some((_, Some(Value::Bool(true)))) => Ok(true),
        Some((p, Some(other))) => Err(format!(
            "stop_when at {p} is not a boolean but {}",
            kind_of(other)
        )),
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
