//! The HTML scraping source.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use futures::future::BoxFuture;
use pipeline_core::{Cursor, FetchError, Page, Paged};
use scraper::{ElementRef, Html, Selector};
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio::task::JoinHandle;
use url::Url;

use crate::config::HttpSourceConfig;
use crate::error::SourceError;
use crate::html_depth::exceeds_depth;
use crate::http::{Endpoint, HttpContext};
use crate::json_source::{checked_next, cursor_url};

/// One scraped item: its fields, the page it came from and its place there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScrapedItem {
    /// The URL of the page (after redirects).
    pub url: String,
    /// The item's index on its page, from 0.
    pub index: usize,
    /// Field name → value (`None` when the selector or attribute matched nothing).
    pub fields: BTreeMap<String, Option<String>>,
}

impl ScrapedItem {
    /// The item as a JSON object: `{"url", "index", "fields": {…}}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "url": self.url, "index": self.index, "fields": self.fields })
    }
}

/// A selector spec: `"h1, h2"` (text), `"a.title @href"` (attribute), `"@id"` (the item's own).
#[derive(Debug)]
struct Spec {
    selector: Option<Selector>,
    attr: Option<String>,
}

fn parse_spec(what: &str, spec: &str) -> Result<Spec, SourceError> {
    let spec = spec.trim();
    let (selector, attr) = match spec.rfind('@') {
        Some(at) if at == 0 || spec[..at].ends_with(char::is_whitespace) => {
            let attr = spec[at + 1..].trim();
            if attr.is_empty()
                || !attr
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.'))
            {
                return Err(SourceError::config(format!(
                    "{what}: {attr:?} is not an attribute name"
                )));
            }
            (spec[..at].trim(), Some(attr.to_ascii_lowercase()))
        }
        _ => (spec, None),
    };
    let selector = if selector.is_empty() {
        None
    } else {
        Some(
            Selector::parse(selector)
                .map_err(|e| SourceError::config(format!("{what}: selector {selector:?} is invalid: {e}")))?,
        )
    };
    if selector.is_none() && attr.is_none() {
        return Err(SourceError::config(format!("{what}: empty selector")));
    }
    Ok(Spec { selector, attr })
}

#[derive(Debug)]
struct Compiled {
    item: Selector,
    next: Option<Spec>,
    fields: Vec<(String, Spec)>,
    max_depth: usize,
}

/// Scraped HTML pages as a [`Paged`] source of [`ScrapedItem`]s.
///
/// Each page is fetched like a JSON page (gate, breaker, limits), refused if
/// nested deeper than `max_depth`, then parsed on a blocking thread. The next
/// link is found before the items are extracted; with `overlap` (the
/// default), the next page's work (download, then parse) starts at that
/// moment, so it runs while this page's items are extracted. At most two
/// pages are worked on at once.
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
#[derive(Debug)]
pub struct ScrapeSource {
    endpoint: Endpoint,
    first: Url,
    jobs: Arc<JobContext>,
    pending: Option<Job>,
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
        });
        Ok(Self {
            endpoint,
            first,
            jobs,
            pending: None,
        })
    }
}

/// What the blocking parse sends back first: the next link, before items.
type NextLink = Result<Option<Url>, String>;

fn find_next(doc: &Html, compiled: &Compiled, page: &Url) -> NextLink {
    let Some(spec) = &compiled.next else {
        return Ok(None);
    };
    let Some(selector) = &spec.selector else {
        return Ok(None);
    };
    let attr = spec.attr.as_deref().unwrap_or("href");
    let Some(link) = doc
        .select(selector)
        .find_map(|el| el.value().attr(attr))
        .map(str::trim)
        .filter(|l| !l.is_empty())
    else {
        return Ok(None);
    };
    page.join(link)
        .map(Some)
        .map_err(|e| format!("next link {link:?} is not a URL: {e}"))
}

fn field_value(item: ElementRef<'_>, spec: &Spec) -> Option<String> {
    let target = match &spec.selector {
        Some(sel) => item.select(sel).next()?,
        None => item,
    };
    match &spec.attr {
        Some(attr) => target.value().attr(attr).map(str::to_owned),
        None => {
            let text: String = target.text().collect();
            Some(text.split_whitespace().collect::<Vec<_>>().join(" "))
        }
    }
}

fn extract(doc: &Html, compiled: &Compiled, page: &Url) -> Vec<ScrapedItem> {
    doc.select(&compiled.item)
        .enumerate()
        .map(|(index, el)| ScrapedItem {
            url: page.to_string(),
            index,
            fields: compiled
                .fields
                .iter()
                .map(|(name, spec)| (name.clone(), field_value(el, spec)))
                .collect(),
        })
        .collect()
}

/// Everything a page job needs.
#[derive(Debug)]
struct JobContext {
    endpoint: Endpoint,
    compiled: Arc<Compiled>,
    overlap: bool,
    /// Pages being worked on ahead of the consumer (bounds the chain of jobs).
    ahead: Arc<Semaphore>,
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
#[derive(Debug)]
struct Job {
    url: Url,
    task: JoinHandle<JobOutput>,
}

impl std::fmt::Debug for JobOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobOutput").finish_non_exhaustive()
    }
}

impl Job {
    fn spawn(ctx: Arc<JobContext>, url: Url) -> Self {
        let target = url.clone();
        let task = tokio::spawn(async move {
            // The semaphore is never closed.
            let permit = ctx.ahead.clone().acquire_owned().await.ok();
            let mut output = run_job(ctx, target).await;
            output._permit = permit;
            output
        });
        Self { url, task }
    }

    async fn output(mut self) -> JobOutput {
        match (&mut self.task).await {
            Ok(output) => output,
            Err(e) => JobOutput {
                result: Err(FetchError::permanent(format!(
                    "scraping {} failed: {e}",
                    self.url
                ))),
                next_job: None,
                _permit: None,
            },
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Fetches, parses and extracts one page. With overlap, the next page's job
/// starts as soon as the next link is found, while this page's items are
/// still being extracted, so one page is parsed while the other is extracted.
fn run_job(ctx: Arc<JobContext>, url: Url) -> BoxFuture<'static, JobOutput> {
    Box::pin(async move {
        let failed = |e| JobOutput {
            result: Err(e),
            next_job: None,
            _permit: None,
        };
        let fetched = match ctx.endpoint.get(&url).await {
            Ok(f) => f,
            Err(e) => return failed(e),
        };
        let page_url = fetched.url.clone();
        let compiled = ctx.compiled.clone();
        let (next_tx, next_rx) = oneshot::channel::<NextLink>();
        // Parsing is CPU work: keep it off the async workers.
        let parse = tokio::task::spawn_blocking(move || {
            if exceeds_depth(&fetched.body, compiled.max_depth) {
                return Err(SourceError::TooDeep {
                    url: page_url.to_string(),
                    limit: compiled.max_depth,
                });
            }
            let text = String::from_utf8_lossy(&fetched.body);
            let doc = Html::parse_document(&text);
            let next = find_next(&doc, &compiled, &page_url);
            let _ = next_tx.send(next.clone());
            Ok((extract(&doc, &compiled, &page_url), next))
        });
        let mut next_job = None;
        if ctx.overlap
            && let Ok(Ok(Some(next))) = next_rx.await
            && next != url
            && ctx.endpoint.check_allowed(&next).is_ok()
        {
            next_job = Some(Job::spawn(ctx.clone(), next));
        }
        let result = match parse.await {
            Ok(Ok(parsed)) => Ok(parsed),
            Ok(Err(e)) => Err(FetchError::invalid(e.to_string())),
            Err(e) => Err(FetchError::permanent(format!("parsing {url} failed: {e}"))),
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
        let url = cursor_url(&self.endpoint, &self.first, cursor)?;
        let job = match self.pending.take() {
            Some(job) if job.url == url => job,
            _ => Job::spawn(self.jobs.clone(), url.clone()),
        };
        let output = job.output().await;
        self.pending = output.next_job;
        let (items, next) = output.result?;
        let next = match next.map_err(|reason| FetchError::invalid(format!("{url}: {reason}")))? {
            Some(n) => checked_next(&self.endpoint, &url, n)?,
            None => None,
        };
        tracing::debug!(host = %self.endpoint.host, items = items.len(), "HTML page scraped");
        Ok(Page::new(items, next))
    }

    fn host(&self) -> Option<&str> {
        Some(&self.endpoint.host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compiled(item: &str, next: Option<&str>, fields: &[(&str, &str)]) -> Compiled {
        Compiled {
            item: Selector::parse(item).unwrap(),
            next: next.map(|n| parse_spec("next", n).unwrap()),
            fields: fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), parse_spec(k, v).unwrap()))
                .collect(),
            max_depth: 512,
        }
    }

    const PAGE: &str = r#"<html><head><link rel="next" href="/p?page=2"></head><body>
        <section id="a"><h1>  First   title </h1><a class="t" href="/x">x</a></section>
        <section id="b"><h2>Second</h2></section></body></html>"#;

    #[test]
    fn fields_take_text_attributes_and_the_items_own_attributes() {
        let c = compiled(
            "section",
            Some("link[rel=next] @href"),
            &[("title", "h1, h2"), ("anchor", "@id"), ("link", "a.t @href")],
        );
        let doc = Html::parse_document(PAGE);
        let page = Url::parse("https://s.test/p?page=1").unwrap();
        let items = extract(&doc, &c, &page);
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].fields["title"].as_deref(), Some("First title"));
        assert_eq!(items[0].fields["anchor"].as_deref(), Some("a"));
        assert_eq!(items[0].fields["link"].as_deref(), Some("/x"));
        assert_eq!(items[1].fields["link"], None);
        assert_eq!(items[1].index, 1);
        assert_eq!(
            find_next(&doc, &c, &page).unwrap().unwrap().as_str(),
            "https://s.test/p?page=2"
        );
    }

    #[test]
    fn specs_are_validated() {
        assert!(parse_spec("f", "a @").is_err());
        assert!(parse_spec("f", "a[").is_err());
        assert!(parse_spec("f", "").is_err());
        assert!(parse_spec("f", "a @bad name").is_err());
        let s = parse_spec("f", "a[href^='mailto:@'] @href").unwrap();
        assert_eq!(s.attr.as_deref(), Some("href"));
        let s = parse_spec("f", "a[data-x='a@b']").unwrap();
        assert!(s.attr.is_none());
    }
}
