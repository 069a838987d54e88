//! From cursors to page URLs and from next links to cursors.
//!
//! A cursor is a page URL in cursor form (without the start URL's secret
//! parameters, see `cursor_secrets`); the request adds them back. Both
//! directions check the allowed hosts: a stored checkpoint is outside input
//! too, and so is every next link.

use crawlpipe_core::{Cursor, FetchError};
use url::Url;

use crate::http::endpoint::Endpoint;
use crate::http::parse_http_url;

/// A page's URL as its cursor holds it and as it is requested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PageUrl {
    /// Without the start URL's secret parameters.
    pub(crate) cursor_form: Url,
    /// With them: what is sent.
    pub(crate) request: Url,
}

impl PageUrl {
    pub(crate) fn new(endpoint: &Endpoint, cursor_form: Url) -> Self {
        Self {
            request: endpoint.request_url(&cursor_form),
            cursor_form,
        }
    }
}

/// The page a cursor names (`None`: the first page, `first` in cursor form).
pub(crate) fn page_url(
    endpoint: &Endpoint,
    first: &Url,
    cursor: Option<&Cursor>,
) -> Result<PageUrl, FetchError> {
    let Some(cursor) = cursor else {
        return Ok(PageUrl::new(endpoint, first.clone()));
    };
    let shown = || endpoint.show_text(cursor.as_str());
    let url = parse_http_url(cursor.as_str())
        .map_err(|e| FetchError::invalid(format!("cursor {:?} is not a page URL: {e}", shown())))?;
    endpoint
        .check_allowed(&url)
        .map_err(|e| FetchError::invalid(format!("cursor {:?} refused: {e}", shown())))?;
    // A checkpoint written before secrets were kept out of cursors may still
    // hold one: the cursor form drops it, the request adds the configured one.
    Ok(PageUrl::new(endpoint, endpoint.cursor_form(&url)))
}

/// The cursor of a next-page link found on `page`, `None` when it leads back
/// to the page itself (common on the last page of a site): following it
/// could only repeat the page.
pub(crate) fn checked_next(
    endpoint: &Endpoint,
    page: &Url,
    next: &Url,
) -> Result<Option<Cursor>, FetchError> {
    let next_form = endpoint.cursor_form(next);
    if next_form == endpoint.cursor_form(page) {
        tracing::warn!(host = %endpoint.host, "next link points to the page itself; treating it as the last page");
        return Ok(None);
    }
    endpoint.check_allowed(next).map_err(|e| {
        FetchError::invalid(format!(
            "{}: next page {} will not be followed: {e}",
            endpoint.show(page),
            endpoint.show(next)
        ))
    })?;
    Ok(Some(Cursor::new(String::from(next_form))))
}
