//! The paginated JSON source.

use async_trait::async_trait;
use pipeline_core::{Cursor, FetchError, Page, Paged};
use serde_json::Value;
use url::Url;

use crate::config::HttpSourceConfig;
use crate::error::SourceError;
use crate::http::{Endpoint, Fetched, HttpContext, Prefetch, parse_http_url};
use crate::pagination::{PageView, Paginator, kind_of};

/// A paginated JSON API as a [`Paged`] source of `serde_json::Value` items.
///
/// Each `fetch` waits at the host's gate, checks its breaker, GETs the page
/// (deadline, body cap, allowed redirects), takes the items at the configured
/// pointer and builds the next page's URL, which is the next cursor.
///
/// # Examples
///
/// ```no_run
/// use pipeline_core::Pipeline;
/// use pipeline_core::testkit::CollectSink;
/// use sources::{HttpContext, HttpSourceConfig, JsonSource, Pagination};
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let ctx = HttpContext::new()?;
/// let config: HttpSourceConfig = serde_json::from_value(serde_json::json!({
///     "url": "https://api.example.com/items?state=all",
///     "items": "/data",
///     "pagination": { "style": "cursor", "param": "cursor", "next": "/next_cursor" },
/// }))?;
/// let source = JsonSource::from_config(&config, &ctx)?;
/// let report = Pipeline::paged("items", source).sink(CollectSink::new()).spawn()?.join().await;
/// # let _ = report;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct JsonSource {
    endpoint: Endpoint,
    first: Url,
    items: String,
    paginator: Paginator,
    speculate: bool,
    pending: Option<Prefetch>,
}

impl JsonSource {
    /// Builds the source from its configuration, sharing `ctx`'s client, gates and breakers.
    ///
    /// # Errors
    ///
    /// [`SourceError::Config`] for a bad URL, pointer, header or pagination style.
    pub fn from_config(config: &HttpSourceConfig, ctx: &HttpContext) -> Result<Self, SourceError> {
        if !config.items.is_empty() && !config.items.starts_with('/') {
            return Err(SourceError::config(format!(
                "items {:?} is not a JSON pointer (it must be empty or start with '/')",
                config.items
            )));
        }
        let paginator = Paginator::new(&config.pagination)?;
        let (endpoint, start) = Endpoint::new(config, ctx)?;
        Ok(Self {
            first: paginator.first_url(&start),
            endpoint,
            items: config.items.clone(),
            paginator,
            speculate: config.speculate,
            pending: None,
        })
    }

    /// The first page's URL (the cursor of a fresh crawl).
    pub fn first_url(&self) -> &str {
        self.first.as_str()
    }

    /// GETs `url`, using a speculative fetch if one was started for it, and
    /// (with `speculate`) starts fetching the predicted next page meanwhile.
    async fn download(&mut self, url: &Url) -> Result<Fetched, FetchError> {
        let ready = self.pending.take().filter(|p| p.url() == url);
        if self.speculate
            && let Some(next) = self.paginator.predict_next(url)
            && self.endpoint.check_allowed(&next).is_ok()
        {
            self.pending = Some(Prefetch::spawn(&self.endpoint, next));
        }
        match ready {
            Some(p) => p.result().await,
            None => self.endpoint.get(url).await,
        }
    }
}

/// The URL a cursor names, checked against the allowed hosts (a stored
/// checkpoint is outside input too).
pub(crate) fn cursor_url(
    endpoint: &Endpoint,
    first: &Url,
    cursor: Option<&Cursor>,
) -> Result<Url, FetchError> {
    let Some(cursor) = cursor else {
        return Ok(first.clone());
    };
    let url = parse_http_url(cursor.as_str())
        .map_err(|e| FetchError::invalid(format!("cursor is not a page URL: {e}")))?;
    endpoint
        .check_allowed(&url)
        .map_err(|e| FetchError::invalid(format!("cursor {url} refused: {e}")))?;
    Ok(url)
}

/// Checks that a next-page URL may be followed. A next link to the page
/// itself (common on the last page of a site) ends the collection: following
/// it could only repeat the page.
pub(crate) fn checked_next(endpoint: &Endpoint, page: &Url, next: Url) -> Result<Option<Cursor>, FetchError> {
    if next == *page {
        tracing::warn!(host = %endpoint.host, "next link points to the page itself; treating it as the last page");
        return Ok(None);
    }
    endpoint
        .check_allowed(&next)
        .map_err(|e| FetchError::invalid(format!("{page}: next page {next} will not be followed: {e}")))?;
    Ok(Some(Cursor::new(String::from(next))))
}

#[async_trait]
impl Paged for JsonSource {
    type Item = Value;

    async fn fetch(&mut self, cursor: Option<&Cursor>) -> Result<Page<Value>, FetchError> {
        let url = cursor_url(&self.endpoint, &self.first, cursor)?;
        let fetched = self.download(&url).await?;
        let mut body: Value = serde_json::from_slice(&fetched.body)
            .map_err(|e| FetchError::invalid(format!("{url}: body is not valid JSON: {e}")))?;
        let items = match body.pointer_mut(&self.items).map(Value::take) {
            Some(Value::Array(items)) => items,
            Some(other) => {
                return Err(FetchError::invalid(format!(
                    "{url}: items at {:?} is {}, not an array",
                    self.items,
                    kind_of(&other)
                )));
            }
            None => {
                return Err(FetchError::invalid(format!(
                    "{url}: no items at {:?}",
                    self.items
                )));
            }
        };
        let view = PageView {
            url: &url,
            headers: &fetched.headers,
            body: &body,
            items: &items,
        };
        let next = self
            .paginator
            .next(&view)
            .map_err(|reason| FetchError::invalid(format!("{url}: {reason}")))?;
        let next = match next {
            Some(n) => checked_next(&self.endpoint, &url, n)?,
            None => None,
        };
        tracing::debug!(host = %self.endpoint.host, items = items.len(), "JSON page fetched");
        Ok(Page::new(items, next))
    }

    fn host(&self) -> Option<&str> {
        Some(&self.endpoint.host)
    }
}
