//! The paginated JSON source.

use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;
use crawlpipe_core::{Cursor, FetchError, Page, PageValidator, Paged, Validation, Validators};
use serde_json::Value;
use url::Url;

use crate::config::HttpSourceConfig;
use crate::dates::config_at;
use crate::dates::windows::{Window, Windows};
use crate::error::SourceError;
use crate::format::{FormatItem, PageFormat};
use crate::http::conditional::{self, Conditional};
use crate::http::endpoint::Endpoint;
use crate::http::request::Request;
use crate::http::{Fetched, HttpContext};
use crate::json::body_errors::{bad_records, no_records, not_json};
use crate::json::records::RecordPath;
use crate::paging::body_cursor::RequestTemplate;
use crate::paging::page_url::{PageUrl, checked_next, page_url};
use crate::paging::prefetch::Prefetch;
use crate::paging::{PageView, Paginator, fragment};
use jiff::Timestamp;

/// A paginated JSON API as a [`Paged`] source of `serde_json::Value` items.
///
/// The body may also be JSON Lines or XML ([`HttpSourceConfig::format`]):
/// each line, or each item element mapped to JSON
/// ([`XmlConfig`](crate::XmlConfig)), is an item, with the same requests,
/// pagination, cursors and limits.
///
/// Each `fetch` waits at the host's gate, checks its breaker, GETs (or
/// POSTs, with the configured JSON body) the page (deadline, body cap,
/// allowed redirects), takes the items at the configured pointer and builds
/// the next page's URL, which is the next cursor. A token sent in the body
/// rides in the cursor's fragment (`…/search#cursor=abc`), so a stored
/// cursor rebuilds its request after a restart.
///
/// A GraphQL answer with `errors` and no `data` fails the page, named by the
/// first message: permanent for authentication and validation errors,
/// otherwise invalid (retried like a glitch).
///
/// A complete response that does not hold a page (not JSON, an HTML error
/// page served with 200 by a proxy, no items array) is
/// [`FetchError::Invalid`]: the driver retries it like a glitch and fails the
/// collection only when it persists.
///
/// Cursors are page URLs without the start URL's secret query parameters
/// (see [`HttpSourceConfig::secret_params`]); each request adds them back.
///
/// # Examples
///
/// ```no_run
/// use crawlpipe_core::Pipeline;
/// use crawlpipe_core::testkit::CollectSink;
/// use crawlpipe_sources::{HttpContext, HttpSourceConfig, JsonSource, Pagination};
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
pub struct JsonSource {
    endpoint: Endpoint,
    /// The first page's URL in cursor form.
    first: Url,
    /// The start URL in cursor form, placeholders for page numbers
    /// unrendered: each window's series starts from it.
    base: Url,
    windows: Option<Windows>,
    records: RecordPath,
    format: PageFormat,
    paginator: Paginator,
    template: RequestTemplate,
    speculate: bool,
    pending: Option<Prefetch>,
    /// `conditional = true` and the requests are deterministic.
    may_validate: bool,
    /// The validators store, once the pipeline handed it over.
    conditional: Option<Conditional>,
}

impl JsonSource {
    /// Builds the source from its configuration, sharing `ctx`'s client, gates and breakers.
    ///
    /// `{now…}` placeholders in the URL, body and header values, and
    /// `now`-relative window bounds, are evaluated now (see
    /// [`dates`](crate::dates)): a source is built for each run.
    ///
    /// # Errors
    ///
    /// [`SourceError::Config`] for a bad URL, pointer, header, credential,
    /// method and body, pagination style or date window, naming the key.
    pub fn from_config(config: &HttpSourceConfig, ctx: &HttpContext) -> Result<Self, SourceError> {
        Self::from_config_at(config, ctx, Timestamp::now())
    }

    /// [`from_config`](Self::from_config) for a run started at `now`.
    ///
    /// # Errors
    ///
    /// As [`from_config`](Self::from_config).
    pub fn from_config_at(
        config: &HttpSourceConfig,
        ctx: &HttpContext,
        now: Timestamp,
    ) -> Result<Self, SourceError> {
        config.validate()?;
        let rendered = config_at(config, now)?;
        // Requests holding the run's time never repeat: no validators.
        let may_validate =
            config.conditional && config.windows.is_none() && matches!(rendered, Cow::Borrowed(_));
        let config = &rendered;
        let format = PageFormat::new(config)?;
        let records = RecordPath::new(config)?;
        let paginator = Paginator::new(&config.pagination)?;
        let template = RequestTemplate::new(config)?;
        let (endpoint, mut start) = Endpoint::new(config, ctx)?;
        // A fragment is never sent; in a cursor it carries a body token.
        start.set_fragment(None);
        let paginator = paginator.with_template(&start);
        let windows = config
            .windows
            .as_ref()
            .map(|w| w.resolve(now))
            .transpose()
            .map_err(|e| SourceError::config(e.to_string()))?;
        let first = match &windows {
            Some(w) => {
                // No window at all (start not before end): an empty first
                // window, which fetches nothing.
                let window = w.first().unwrap_or(Window {
                    start: w.end(),
                    end: w.end(),
                });
                paginator.first_url(&w.apply(&start, window))
            }
            None => paginator.first_url(&start),
        };
        Ok(Self {
            first,
            base: start,
            windows,
            endpoint,
            records,
            format,
            paginator,
            template,
            speculate: config.speculate,
            pending: None,
            may_validate,
            conditional: None,
        })
    }

    /// Where this run's date windows end (`None` without windows): an
    /// incremental crawl's next run starts there.
    pub fn windows_end(&self) -> Option<Timestamp> {
        self.windows.as_ref().map(Windows::end)
    }

    /// The first page's URL in cursor form (the start URL's secret query
    /// parameters left out): what [`Paged::first_cursor`] returns.
    pub fn first_url(&self) -> &str {
        self.first.as_str()
    }

    /// Sends `page`'s request, using a speculative fetch if one was started
    /// for it, and (with `speculate`) starts fetching the predicted next page
    /// meanwhile.
    async fn download(
        &mut self,
        mut request: Request,
        page: &PageUrl,
        base: &Url,
    ) -> Result<Fetched, FetchError> {
        // A speculative fetch (sent unconditionally) answers the page in full.
        let conditional = std::mem::take(&mut request.conditional);
        let ready = self.pending.take().filter(|p| *p.request() == request);
        request.conditional = conditional;
        if self.speculate
            && let Some(next) = self.paginator.predict_next(&page.cursor_form, base)
            && self.endpoint.check_allowed(&next).is_ok()
        {
            let next = PageUrl::new(&self.endpoint, next);
            let next = self.template.request(&next.request)?;
            self.pending = Some(Prefetch::spawn(&self.endpoint, next));
        }
        match ready {
            Some(p) => p.result().await,
            None => self.endpoint.send(&request).await,
        }
    }

    /// Sends conditional requests with `validators` when the configuration
    /// allows them (see [`HttpSourceConfig::conditional`]).
    pub(crate) fn use_validators_store(&mut self, validators: Arc<dyn Validators>) {
        if self.may_validate {
            self.conditional = Some(Conditional::new(validators));
        }
    }

    /// Where a page's records are.
    pub(crate) fn records(&self) -> &RecordPath {
        &self.records
    }

    /// The window of the page at `url` and the URL its series started
    /// from (the start URL without windows).
    fn series(&self, url: &Url) -> Result<(Option<Window>, Url), FetchError> {
        let Some(windows) = &self.windows else {
            return Ok((None, self.base.clone()));
        };
        let window =
            Windows::of(url).map_err(|e| FetchError::invalid(format!("{}: {e}", self.endpoint.show(url))))?;
        Ok((Some(window), windows.apply(&self.base, window)))
    }

    /// The first page of the window after `window`, if any.
    fn next_window(&self, window: Option<Window>) -> Option<Url> {
        let (windows, window) = (self.windows.as_ref()?, window?);
        let next = windows.after(window)?;
        Some(self.paginator.first_url(&windows.apply(&self.base, next)))
    }

    /// One page of `I`s: the shared path of [`JsonSource`] and
    /// [`RawJsonSource`](crate::RawJsonSource).
    pub(crate) async fn fetch_page<I: PageItems + FormatItem>(
        &mut self,
        cursor: Option<&Cursor>,
    ) -> Result<Page<I>, FetchError> {
        let page = page_url(&self.endpoint, &self.first, cursor)?;
        let (window, base) = self.series(&page.cursor_form)?;
        if window.is_some_and(|w| w.start >= w.end) {
            return Ok(Page::new(Vec::new(), None));
        }
        let mut request = self.template.request(&page.request)?;
        let (digest, known) = match &self.conditional {
            Some(c) => {
                let digest = conditional::digest(&request, &page.cursor_form);
                let known = c.lookup(&digest).await;
                (Some(digest), known)
            }
            None => (None, None),
        };
        if let Some(known) = &known {
            request.conditional = conditional::request_headers(known);
        }
        let fetched = self.download(request, &page, &base).await?;
        if fetched.status == 304
            && let Some(known) = known
        {
            tracing::debug!(host = %self.endpoint.host, "page not modified");
            let next = known.next.clone();
            return Ok(Page::new(Vec::new(), next).with_validation(Some(Validation::NotModified(known))));
        }
        let validated = digest.and_then(|request| {
            let (etag, last_modified) = conditional::answer_validators(&fetched.headers)?;
            Some((request, etag, last_modified))
        });
        // Shown (redacted) only in errors: redacting costs a URL parse.
        let shown = || self.endpoint.show(&page.request);
        // A 204 or an empty body is a page without items: its series ends.
        if fetched.body.trim_ascii().is_empty() {
            let next = self.next_window(window);
            return Ok(Page::new(Vec::new(), next.map(|n| Cursor::new(String::from(n)))));
        }
        let split = match &self.format {
            PageFormat::Json => I::split(self, &fetched, &shown),
            other => other.split(&fetched, &shown),
        };
        let (body, items) = match split {
            Ok(page) => page,
            // A 2xx that is not a page may be an error in disguise (`on_body`).
            Err(e) if self.endpoint.rules.reads_bodies() => {
                let rules = &self.endpoint.rules;
                return Err(rules.on_page(fetched.method, &shown(), fetched.status, &fetched.body, e));
            }
            Err(e) => return Err(e),
        };
        let last = if self.paginator.needs_last_item() {
            items.last().map(I::to_value).transpose().map_err(|e| {
                FetchError::invalid(format!("{}: the last item could not be read: {e}", shown()))
            })?
        } else {
            None
        };
        let view = PageView {
            url: &page.request,
            base: &base,
            headers: &fetched.headers,
            body: &body,
            items: items.len(),
            last_item: last.as_ref(),
        };
        let next = self.paginator.next(&view).map_err(|reason| {
            FetchError::invalid(format!("{}: {}", shown(), self.endpoint.show_text(&reason)))
        })?;
        let next = match next {
            // A link read from the body has no fragment: the page's window goes on.
            Some(n) if window.is_some() => {
                let n = fragment::carry(&page.request, &n, &["window"]);
                checked_next(&self.endpoint, &page.request, &n)?
            }
            Some(n) => checked_next(&self.endpoint, &page.request, &n)?,
            None => self.next_window(window).map(|n| Cursor::new(String::from(n))),
        };
        tracing::debug!(host = %self.endpoint.host, items = items.len(), "page fetched");
        let validation = validated.map(|(request, etag, last_modified)| {
            Validation::Fetched(PageValidator {
                request,
                etag,
                last_modified,
                next: next.clone(),
            })
        });
        Ok(Page::new(items, next).with_validation(validation))
    }
}

/// The items of a page, as a source yields them.
pub(crate) trait PageItems: Sized + Send + 'static {
    /// The body (for the paginator) and the items of a complete response,
    /// or why it is not a page.
    /// `shown` is the page's URL as shown in errors.
    fn split(
        source: &JsonSource,
        fetched: &Fetched,
        shown: &dyn Fn() -> String,
    ) -> Result<(Value, Vec<Self>), FetchError>;

    /// One item as a `Value` (for a `last_item` cursor).
    fn to_value(&self) -> Result<Value, serde_json::Error>;
}

impl PageItems for Value {
    fn split(
        source: &JsonSource,
        fetched: &Fetched,
        shown: &dyn Fn() -> String,
    ) -> Result<(Value, Vec<Value>), FetchError> {
        let mut body: Value =
            serde_json::from_slice(&fetched.body).map_err(|e| not_json(fetched, shown, &e))?;
        let records = source.records();
        match records.select(&mut body) {
            Ok(selected) if selected.missed && selected.records.is_empty() => {
                no_records(&body, shown).map(|()| (body, Vec::new()))
            }
            Ok(selected) => Ok((body, selected.records)),
            Err(problem) => Err(bad_records(&body, shown, records.pointer(), &problem)),
        }
    }

    fn to_value(&self) -> Result<Value, serde_json::Error> {
        Ok(self.clone())
    }
}

impl std::fmt::Debug for JsonSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonSource")
            .field("endpoint", &self.endpoint)
            .field("first", &self.endpoint.show(&self.first))
            .field("windows", &self.windows)
            .field("items", &self.records.pointer())
            .field("format", &self.format)
            .field("paginator", &self.paginator)
            .field("template", &self.template)
            .field("speculate", &self.speculate)
            .field("pending", &self.pending)
            .field("conditional", &self.conditional.is_some())
            .finish()
    }
}

#[async_trait]
impl Paged for JsonSource {
    type Item = Value;

    async fn fetch(&mut self, cursor: Option<&Cursor>) -> Result<Page<Value>, FetchError> {
        self.fetch_page(cursor).await
    }

    fn first_cursor(&self) -> Option<Cursor> {
        Some(Cursor::new(self.first.as_str()))
    }

    fn host(&self) -> Option<&str> {
        Some(&self.endpoint.host)
    }

    fn use_validators(&mut self, validators: Arc<dyn Validators>) {
        self.use_validators_store(validators);
    }
}
