//! The checks of a pagination style's keys, before any request.

use crate::config::Pagination;
use crate::error::SourceError;

fn check_pointer(what: &str, p: &str) -> Result<(), SourceError> {
    if p.is_empty() || p.starts_with('/') {
        Ok(())
    } else {
        Err(SourceError::config(format!(
            "pagination.{what} {p:?} is not a JSON pointer (it must be empty or start with '/')"
        )))
    }
}

fn check_optional(what: &str, p: Option<&String>) -> Result<(), SourceError> {
    p.map_or(Ok(()), |p| check_pointer(what, p))
}

/// Checks `style`'s keys, naming the first one that is wrong.
pub(crate) fn check_style(style: &Pagination) -> Result<(), SourceError> {
    match style {
        Pagination::NextUrl { next, has_more } => {
            check_pointer("next", next)?;
            check_optional("has_more", has_more.as_ref())?;
        }
        Pagination::Cursor {
            param,
            next,
            last_item,
            has_more,
            body_pointer,
            next_header,
            stop_when,
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
            check_optional("has_more", has_more.as_ref())?;
            check_optional("stop_when", stop_when.as_ref())?;
        }
        Pagination::Offset {
            limit,
            total,
            has_more,
            stop_when,
            ..
        } => {
            if *limit == 0 {
                return Err(SourceError::config("offset pagination needs limit >= 1"));
            }
            check_optional("total", total.as_ref())?;
            check_optional("has_more", has_more.as_ref())?;
            check_optional("stop_when", stop_when.as_ref())?;
        }
        Pagination::Page {
            total_pages,
            has_more,
            stop_when,
            page_size,
            page_size_param,
            ..
        } => {
            check_optional("total_pages", total_pages.as_ref())?;
            check_optional("has_more", has_more.as_ref())?;
            check_optional("stop_when", stop_when.as_ref())?;
            if *page_size == Some(0) {
                return Err(SourceError::config("pagination.page_size must be at least 1"));
            }
            if page_size_param.is_some() && page_size.is_none() {
                return Err(SourceError::config(
                    "pagination.page_size_param needs pagination.page_size (the value it sends)",
                ));
            }
        }
        _ => {}
    }
    Ok(())
}
