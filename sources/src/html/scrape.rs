//! The HTML scraping source.

use std::collections::HashSet;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use crawlpipe_core::{Cursor, FetchError, Page, Paged};
use futures::future::BoxFuture;
use scraper::{Html, Selector};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio_util::task::AbortOnDropHandle;
use url::Url;

use crate::config::HttpSourceConfig;
use crate::error::SourceError;
use crate::html::charset::decode_html;
use crate::html::extract::{Compiled, NextLink, ScrapedItem, extract, find_next, parse_spec};
use crate::html::fast_extract::{FastPlan, extract_streaming};
use crate::html::html_depth::exceeds_depth;
use crate::html::next_scan::NextScan;
use crate::html::parse_pool::ParsePool;
use crate::http::HttpContext;
use crate::http::endpoint::Endpoint;
use crate::paging::page_url::{PageUrl, checked_next, page_url};

/// The most `workers` a scraping source takes (each holds up to four bodies ahead).
const MAX_WORKERS: usize = 1024;

/// Scraped HTML pages as a [`Paged`] source of [`ScrapedItem`]s.
///
/// Each page is fetched like a JSON page (gate, breaker, limits), refused if
/// nested deeper than `max_depth`, then parsed on the blocking pool, at most
/// one page per core at once across all scraping sources (a thread that
/// finishes a page takes the next queued one itself). With `overlap`
/// (the default), a streaming scan (lol_html) predicts the next link right
/// after the download, and the next page's work (download, then parse)
/// starts at that moment, so pages are parsed in parallel; the link the
/// full parse finds is still the one followed (a wrong prediction costs a
/// wasted download), and pages are returned in order. At most 4 × `workers`
/// (default: the number of cores) + 1 pages hold their body at once
/// (downloaded, not yet parsed), so that a slow download does not leave a
/// core without a page to parse; a page parsed before the pages ahead of it
/// waits for its turn with its items only, at most 4 × (4 × `workers` + 1)
/// pages ahead of the consumer, so one long page does not leave the other
/// cores idle. A link to a page already worked on (a loop, which the driver
/// refuses as a repeated cursor) is not worked on ahead.
///
/// Pages are decoded with the charset of the `Content-Type` header, else of a
/// `<meta>` tag in the first 1024 bytes, else as UTF-8.
///
/// # Examples
///
/// ```no_run
/// use crawlpipe_sources::{HttpContext, HttpSourceConfig, ScrapeConfig, ScrapeSource};
///
/// # fn main() -> Result<(), crawlpipe_sources::SourceError> {
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
        config.validate()?;
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
        let workers = match scrape.workers {
            Some(0) => return Err(SourceError::config("workers: must be at least 1")),
            Some(n) if n > MAX_WORKERS => {
                return Err(SourceError::config(format!(
                    "workers: must be at most {MAX_WORKERS}"
                )));
            }
            Some(n) => n,
            None => cores(),
        };
        let scan = next
            .as_ref()
            .filter(|_| scrape.overlap)
            .and_then(|n| NextScan::new(&n.selector_text, n.attr.as_deref().unwrap_or("href")));
        let (endpoint, first) = Endpoint::new(config, ctx)?;
        let jobs = Arc::new(JobContext {
            endpoint: endpoint.clone(),
            compiled: Arc::new(Compiled {
                fast: FastPlan::new(&scrape.item, next.as_ref(), &fields),
                item,
                next,
                fields,
                max_depth: scrape.max_depth,
            }),
            overlap: scrape.overlap,
            // Pages parsed, queued and downloaded ahead (see the type's docs).
            bodies: Arc::new(Semaphore::new(4 * workers + 1)),
            window: Arc::new(Semaphore::new(WINDOW_PER_BODY * (4 * workers + 1))),
            scan,
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

/// How much of a page is scanned for the next link on the async task; a
/// link further down is looked for on the blocking pool.
const SCAN_HEAD_BYTES: usize = 16 * 1024;

/// How many pages, per body held, may be worked on ahead of the consumer.
///
/// Pages take from a few to tens of milliseconds to parse; with room for only
/// the pages being parsed, a long page at the head kept every other core idle
/// once the short pages behind it were done. A finished page waiting for its
/// turn holds its items, not its body or tree.
const WINDOW_PER_BODY: usize = 4;

/// Everything a page job needs.
#[derive(Debug)]
struct JobContext {
    endpoint: Endpoint,
    compiled: Arc<Compiled>,
    overlap: bool,
    /// Pages holding their body (downloaded, not yet parsed): bounds memory.
    bodies: Arc<Semaphore>,
    /// Pages worked on ahead of the consumer, finished or not: bounds the
    /// chain of jobs and the items waiting for their turn.
    window: Arc<Semaphore>,
    /// The streaming next-link scan, with overlap and a selector lol_html compiles.
    scan: Option<NextScan>,
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
            let permit = ctx.window.clone().acquire_owned().await.ok();
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

/// The number of cores this process may use (1 when unknown).
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

impl JobContext {
    /// Starts the job of `next`, the next page after `page`, unless it is not
    /// allowed or was already worked on (a loop, or the page itself: the
    /// driver will refuse it as a repeated cursor).
    fn spawn_next(self: &Arc<Self>, page: &PageUrl, next: &Url) -> Option<Job> {
        self.endpoint.check_allowed(next).ok()?;
        let next = PageUrl::new(&self.endpoint, self.endpoint.cursor_form(next));
        if next.cursor_form == page.cursor_form || self.was_started(&next.cursor_form) {
            return None;
        }
        Some(Job::spawn(self.clone(), next))
    }
}

/// Fetches, parses and extracts one page. With overlap, the next page's job
/// starts as soon as its link is predicted by a streaming scan (before the
/// parse), or else found by the parse (before the extraction); the parse's
/// link is the one returned, and a job started for a wrong prediction is
/// dropped.
fn run_job(ctx: Arc<JobContext>, page: PageUrl) -> BoxFuture<'static, JobOutput> {
    Box::pin(async move {
        let failed = |e| JobOutput {
            result: Err(e),
            next_job: None,
            _permit: None,
        };
        let panicked = |what: &str, e: &dyn std::fmt::Display| {
            FetchError::permanent(format!("{what} {} failed: {e}", ctx.endpoint.show(&page.request)))
        };
        // The semaphores are never closed.
        let body_permit = ctx.bodies.clone().acquire_owned().await.ok();
        let mut fetched = match ctx.endpoint.get(&page.request).await {
            Ok(f) => f,
            Err(e) => return failed(e),
        };
        let page_url = fetched.url.clone();
        let item_url = ctx.endpoint.show(&ctx.endpoint.cursor_form(&page_url));
        let shown = ctx.endpoint.show(&page_url);
        let content_type = fetched
            .headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut next_job = None;
        if let Some(scan) = &ctx.scan {
            // Most sites put the link in the `<head>`: the start of the page
            // is scanned at once, without a hop to the blocking pool.
            let head = &fetched.body[..fetched.body.len().min(SCAN_HEAD_BYTES)];
            let text = decode_html(head, content_type.as_deref());
            let told = if head.len() == fetched.body.len() {
                // A whole page: the end-of-file rules apply, and it tells.
                Some(scan.predict(&text, &page_url))
            } else {
                scan.predict_from_head(&text, &page_url)
            };
            drop(text);
            let predicted = match told {
                Some(predicted) => predicted,
                None => {
                    let (job, body, url, ct) = (
                        ctx.clone(),
                        std::mem::take(&mut fetched.body),
                        page_url.clone(),
                        content_type.clone(),
                    );
                    let scanned = tokio::task::spawn_blocking(move || {
                        let text = decode_html(&body, ct.as_deref());
                        let predicted = job.scan.as_ref().and_then(|scan| scan.predict(&text, &url));
                        drop(text);
                        (body, predicted)
                    })
                    .await;
                    match scanned {
                        Ok((body, predicted)) => {
                            fetched.body = body;
                            predicted
                        }
                        Err(e) => return failed(panicked("scanning", &e)),
                    }
                }
            };
            next_job = predicted.and_then(|next| ctx.spawn_next(&page, &next));
        }
        let compiled = ctx.compiled.clone();
        let (next_tx, next_rx) = oneshot::channel::<NextLink>();
        // Bounding, decoding and parsing are one task of the parse pool, so no
        // more pages are worked on at once than there are cores.
        let parse = ParsePool::shared().run(move || {
            let body = fetched.body;
            if exceeds_depth(&body, compiled.max_depth) {
                return Err(SourceError::TooDeep {
                    url: shown,
                    limit: compiled.max_depth,
                });
            }
            let text = decode_html(&body, content_type.as_deref());
            // Most pages are read in one streaming pass; the others (and
            // configurations with selectors outside its subset) from the tree.
            if let Some((items, next)) = extract_streaming(&compiled, &text, &page_url, &item_url) {
                drop(text);
                drop(body);
                drop(body_permit);
                let _ = next_tx.send(next.clone());
                return Ok((items, next));
            }
            let doc = Html::parse_document(&text);
            drop(text);
            drop(body);
            drop(body_permit);
            let next = find_next(&doc, &compiled, &page_url);
            let _ = next_tx.send(next.clone());
            Ok((extract(&doc, &compiled, &item_url), next))
        });
        if ctx.overlap
            && let Ok(Ok(Some(next))) = next_rx.await
        {
            let predicted_right = next_job.as_ref().is_some_and(|job| {
                ctx.endpoint.check_allowed(&next).is_ok()
                    && job.page.cursor_form == ctx.endpoint.cursor_form(&next)
            });
            if !predicted_right {
                // Dropping a mispredicted job aborts it.
                next_job = ctx.spawn_next(&page, &next);
            }
        }
        let result = match parse.await {
            Ok(Ok(parsed)) => Ok(parsed),
            // Too deep is a property of the document, like its size: permanent.
            Ok(Err(e)) => Err(FetchError::permanent(e)),
            Err(_) => Err(panicked("parsing", &"the parser panicked")),
        };
        JobOutput {
            // A failed page ends the crawl: nothing after it is needed.
            next_job: next_job.filter(|_| result.is_ok()),
            result,
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
