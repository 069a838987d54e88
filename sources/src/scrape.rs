//! The HTML scraping source.

use std::collections::HashSet;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::future::BoxFuture;
use pipeline_core::{Cursor, FetchError, Page, Paged};
use scraper::{Html, Selector};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio_util::task::AbortOnDropHandle;
use url::Url;

use crate::charset::decode_html;
use crate::config::HttpSourceConfig;
use crate::endpoint::Endpoint;
use crate::error::SourceError;
use crate::extract::{Compiled, NextLink, ScrapedItem, extract, find_next, parse_spec};
use crate::html_depth::exceeds_depth;
use crate::http::HttpContext;
use crate::page_url::{PageUrl, checked_next, page_url};

/// Scraped HTML pages as a [`Paged`] source of [`ScrapedItem`]s.
///
/// Each page is fetched like a JSON page (gate, breaker, limits), refused if
/// nested deeper than `max_depth`, then parsed on a blocking thread. The next
/// link is found before the items are extracted; with `overlap` (the
/// default), the next page's work (download, then parse) starts at that
/// moment, so it runs while this page's items are extracted. At most two
/// pages are worked on at once, and a link to a page already worked on (a
/// loop, which the driver refuses as a repeated cursor) is not worked on ahead.
///
/// Pages are decoded with the charset of the `Content-Type` header, else of a
/// `<meta>` tag in the first 1024 bytes, else as UTF-8.
///
/// # Examples
///
/// ```no_run
/// use sources::{HttpContext, HttpSourceConfig, ScrapeConfig, ScrapeSource};
///
/// # fn main() -> Result<(), sources::SourceError> {
/// let config = HttpSourceConfig::new("https://blog.example.com/")
///     .scrape(ScrapeConfig::new("article").next("a.next @href").field("title", "h2").field("link", "h2 a @href"));
/// let source = ScrapeSource::from_config(&config, &HttpContext::new()?)?;
/// # let _ = source;
/// # Ok(()) }
/// ```
pub struct ScrapeSource {
    endpoint: Endpoint,
    /// The start URL in cursor form.
    first: Url,
    jobs: Arc<JobContext>,
    pending: Option<Job>,
}

impl std::fmt::Debug for ScrapeSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScrapeSource")
            .field("endpoint", &self.endpoint)
            .field("first", &self.endpoint.show(&self.first))
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

impl ScrapeSource {
    /// Builds the source from a configuration whose `scrape` is set.
    ///
    /// # Errors
    ///
    /// [`SourceError::Config`] when `scrape` is missing, a selector or
    /// attribute is invalid, or the URL or headers are.
    pub fn from_config(config: &HttpSourceConfig, ctx: &HttpContext) -> Result<Self, SourceError> {
        let scrape = config
            .scrape
            .as_ref()
            .ok_or_else(|| SourceError::config("a scraping source needs a `scrape` table"))?;
        let item = Selector::parse(&scrape.item)
            .map_err(|e| SourceError::config(format!("item: selector {:?} is invalid: {e}", scrape.item)))?;
        let next = scrape
            .next
            .as_deref()
            .map(|s| parse_spec("next", s))
            .transpose()?;
        if next.as_ref().is_some_and(|n| n.selector.is_none()) {
            return Err(SourceError::config("next: a selector is needed"));
        }
        let fields = scrape
            .fields
            .iter()
            .map(|(name, spec)| Ok((name.clone(), parse_spec(&format!("field {name}"), spec)?)))
            .collect::<Result<Vec<_>, SourceError>>()?;
        let (endpoint, first) = Endpoint::new(config, ctx)?;
        let jobs = Arc::new(JobContext {
            endpoint: endpoint.clone(),
            compiled: Arc::new(Compiled {
                item,
                next,
                fields,
                max_depth: scrape.max_depth,
            }),
            overlap: scrape.overlap,
            // The page being consumed and the one being worked on ahead.
            ahead: Arc::new(Semaphore::new(2)),
            started: Mutex::new(HashSet::new()),
        });
        Ok(Self {
            endpoint,
            first,
            jobs,
            pending: None,
        })
    }
}

/// Everything a page job needs.
#[derive(Debug)]
struct JobContext {
    endpoint: Endpoint,
    compiled: Arc<Compiled>,
    overlap: bool,
    /// Pages being worked on ahead of the consumer (bounds the chain of jobs).
    ahead: Arc<Semaphore>,
    /// Hashes of the pages (in cursor form) a job was started for.
    started: Mutex<HashSet<u64>>,
}

fn page_hash(page: &Url) -> u64 {
    let mut h = DefaultHasher::new();
    page.as_str().hash(&mut h);
    h.finish()
}

impl JobContext {
    /// Records that a job was started for `page` (in cursor form).
    fn mark_started(&self, page: &Url) {
        self.started
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(page_hash(page));
    }

    /// Whether a job was ever started for `page` (in cursor form).
    fn was_started(&self, page: &Url) -> bool {
        self.started
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&page_hash(page))
    }
}

/// What a page job produced.
struct JobOutput {
    result: Result<(Vec<ScrapedItem>, NextLink), FetchError>,
    /// The next page's job, started as soon as its link was known.
    next_job: Option<Job>,
    /// Released when the consumer takes this output.
    _permit: Option<OwnedSemaphorePermit>,
}

/// One page being fetched, parsed and extracted in the background; aborted
/// (with the jobs it started) when dropped unused.
struct Job {
    page: PageUrl,
    task: AbortOnDropHandle<JobOutput>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for JobOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobOutput").finish_non_exhaustive()
    }
}

impl Job {
    fn spawn(ctx: Arc<JobContext>, page: PageUrl) -> Self {
        ctx.mark_started(&page.cursor_form);
        let target = page.clone();
        let task = tokio::spawn(async move {
            // The semaphore is never closed.
            let permit = ctx.ahead.clone().acquire_owned().await.ok();
            let mut output = run_job(ctx, target).await;
            output._permit = permit;
            output
        });
        Self {
            page,
            task: AbortOnDropHandle::new(task),
        }
    }

    async fn output(mut self, endpoint: &Endpoint) -> JobOutput {
        match (&mut self.task).await {
            Ok(output) => output,
            Err(e) => JobOutput {
                result: Err(FetchError::permanent(format!(
                    "scraping {} failed: {e}",
                    endpoint.show(&self.page.request)
                ))),
                next_job: None,
                _permit: None,
            },
        }
    }
}

/// Fetches, parses and extracts one page. With overlap, the next page's job
/// starts as soon as the next link is found, while this page's items are
/// still being extracted, so one page is parsed while the other is extracted.
fn run_job(ctx: Arc<JobContext>, page: PageUrl) -> BoxFuture<'static, JobOutput> {
    Box::pin(async move {
        let failed = |e| JobOutput {
            result: Err(e),
            next_job: None,
            _permit: None,
        };
        let fetched = match ctx.endpoint.get(&page.request).await {
            Ok(f) => f,
            Err(e) => return failed(e),
        };
        let page_url = fetched.url.clone();
        let item_url = ctx.endpoint.show(&ctx.endpoint.cursor_form(&page_url));
        let shown = ctx.endpoint.show(&page_url);
        let compiled = ctx.compiled.clone();
        let (next_tx, next_rx) = oneshot::channel::<NextLink>();
        // Parsing is CPU work: keep it off the async workers.
        let parse = tokio::task::spawn_blocking(move || {
            if exceeds_depth(&fetched.body, compiled.max_depth) {
                return Err(SourceError::TooDeep {
                    url: shown,
                    limit: compiled.max_depth,
                });
            }
            let content_type = fetched
                .headers
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok());
            let text = decode_html(&fetched.body, content_type);
            let doc = Html::parse_document(&text);
            let next = find_next(&doc, &compiled, &page_url);
            let _ = next_tx.send(next.clone());
            Ok((extract(&doc, &compiled, &item_url), next))
        });
        let mut next_job = None;
        if ctx.overlap
            && let Ok(Ok(Some(next))) = next_rx.await
            && ctx.endpoint.check_allowed(&next).is_ok()
        {
            let next = PageUrl::new(&ctx.endpoint, ctx.endpoint.cursor_form(&next));
            // A link to a page already worked on is a loop (or the page
            // itself): the driver will refuse it, so do not fetch it again.
            if next.cursor_form != page.cursor_form && !ctx.was_started(&next.cursor_form) {
                next_job = Some(Job::spawn(ctx.clone(), next));
            }
        }
        let result = match parse.await {
            Ok(Ok(parsed)) => Ok(parsed),
            // Too deep is a property of the document, like its size: permanent.
            Ok(Err(e)) => Err(FetchError::permanent(e)),
            Err(e) => Err(FetchError::permanent(format!(
                "parsing {} failed: {e}",
                ctx.endpoint.show(&page.request)
            ))),
        };
        JobOutput {
            result,
            next_job,
            _permit: None,
        }
    })
}

#[async_trait]
impl Paged for ScrapeSource {
    type Item = ScrapedItem;

    async fn fetch(&mut self, cursor: Option<&Cursor>) -> Result<Page<ScrapedItem>, FetchError> {
        let page = page_url(&self.endpoint, &self.first, cursor)?;
        let job = match self.pending.take() {
            Some(job) if job.page == page => job,
            _ => Job::spawn(self.jobs.clone(), page.clone()),
        };
        let output = job.output(&self.endpoint).await;
        self.pending = output.next_job;
        let (items, next) = output.result?;
        let next = match next {
            Ok(Some(n)) => checked_next(&self.endpoint, &page.request, &n)?,
            Ok(None) => None,
            Err(reason) => {
                return Err(FetchError::invalid(format!(
                    "{}: {}",
                    self.endpoint.show(&page.request),
                    self.endpoint.show_text(&reason)
                )));
            }
        };
        tracing::debug!(host = %self.endpoint.host, items = items.len(), "HTML page scraped");
        Ok(Page::new(items, next))
    }

    fn first_cursor(&self) -> Option<Cursor> {
        Some(Cursor::new(self.first.as_str()))
    }

    fn host(&self) -> Option<&str> {
        Some(&self.endpoint.host)
    }
}
