//! Scraping real HTML: the Python documentation shipped by Debian's
//! `python3-doc` package (installed by `benches/setup-html-corpus.sh`, never
//! downloaded at run time), served from a loopback HTTP server.
//!
//! The crawl starts at the tutorial and follows `<link rel="next">` through
//! the whole documentation (about 470 pages, 30-350 KB each); every
//! `<section>` is an item with its heading, anchor and first reference link.

use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use crawlpipe_core::{Pipeline, Sink, SinkError};
use crawlpipe_sources::{HttpContext, HttpSourceConfig, ScrapeConfig, ScrapeSource, ScrapedItem};
use tokio::task::JoinHandle;

/// Where `python3-doc` puts the HTML (a symlink to the versioned directory).
pub const DEFAULT_DIR: &str = "/usr/share/doc/python3-doc/html";

/// The page the crawl starts at.
pub const START: &str = "tutorial/index.html";

/// The corpus directory: `PIPELINE_BENCH_HTML_DIR`, else [`DEFAULT_DIR`];
/// `None` when it has no start page.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir =
        std::env::var_os("PIPELINE_BENCH_HTML_DIR").map_or_else(|| PathBuf::from(DEFAULT_DIR), PathBuf::from);
    dir.join(START).is_file().then_some(dir)
}

/// A static file server for `dir` on 127.0.0.1; dropped with its handle.
#[derive(Debug)]
pub struct CorpusServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl CorpusServer {
    /// Serves `dir` (`.html` as UTF-8 HTML, other files as bytes; no `..`).
    ///
    /// # Panics
    ///
    /// When no loopback port can be bound (a bench setup failure).
    pub async fn start(dir: PathBuf) -> Self {
        let dir = Arc::new(dir);
        let app = axum::Router::new().fallback(move |uri: Uri| {
            let dir = dir.clone();
            async move { serve_file(&dir, &uri).await }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, task }
    }

    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }
}

impl Drop for CorpusServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_file(dir: &Path, uri: &Uri) -> Response {
    let rel = Path::new(uri.path().trim_start_matches('/'));
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let path = dir.join(rel);
    match tokio::fs::read(&path).await {
        Ok(body) => {
            let html = path.extension().is_some_and(|e| e == "html");
            let ty = if html {
                "text/html; charset=utf-8"
            } else {
                "application/octet-stream"
            };
            ([(header::CONTENT_TYPE, ty)], body).into_response()
        }
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The scrape configuration of the corpus.
pub fn scrape_config(server: &CorpusServer) -> HttpSourceConfig {
    HttpSourceConfig::new(server.url(START)).scrape(
        ScrapeConfig::new("section")
            .next("link[rel=next] @href")
            .field("title", "h1, h2, h3, h4")
            .field("anchor", "@id")
            .field("first_link", "a.reference @href"),
    )
}

/// Collects every item, in order.
#[derive(Debug, Default)]
struct Collect(Arc<std::sync::Mutex<Vec<ScrapedItem>>>);

#[async_trait]
impl Sink<ScrapedItem> for Collect {
    async fn write(
        &mut self,
        items: Vec<ScrapedItem>,
        _: Option<&crawlpipe_core::Cursor>,
    ) -> Result<(), SinkError> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend(items);
        Ok(())
    }
}

/// One crawl of the corpus with `config`: its wall time, pages and items.
///
/// # Panics
///
/// When the crawl does not complete (a bench failure).
pub async fn crawl(config: &HttpSourceConfig, ctx: &HttpContext) -> (Duration, u64, Vec<ScrapedItem>) {
    crawl_pages(config, ctx, None).await
}

/// [`crawl`], stopping after `max_pages` pages when given (for profiling).
///
/// # Panics
///
/// When the crawl fails before `max_pages` pages (a bench failure).
pub async fn crawl_pages(
    config: &HttpSourceConfig,
    ctx: &HttpContext,
    max_pages: Option<u64>,
) -> (Duration, u64, Vec<ScrapedItem>) {
    let items = Arc::new(std::sync::Mutex::new(Vec::new()));
    let source = ScrapeSource::from_config(config, ctx).expect("source");
    let start = Instant::now();
    let report = Pipeline::paged("pydocs", source)
        .max_pages(max_pages.unwrap_or(10_000))
        .sink(Collect(items.clone()))
        .spawn()
        .expect("spawn")
        .join()
        .await;
    let elapsed = start.elapsed();
    assert!(
        report.outcome.is_completed() || max_pages == Some(report.progress.pages),
        "{:?}",
        report.outcome
    );
    let items = std::mem::take(&mut *items.lock().unwrap_or_else(|e| e.into_inner()));
    (elapsed, report.progress.pages, items)
}

/// The same crawl by hand, one page at a time on the calling task: reqwest,
/// `scraper`'s full parse, the same selectors read the way the scrape source
/// documents them. Its items are the reference the source must reproduce.
///
/// # Panics
///
/// When a page cannot be fetched or a selector does not compile (a bench failure).
pub async fn reference_crawl(client: &reqwest::Client, start: &str) -> (Duration, u64, Vec<ScrapedItem>) {
    reference_crawl_pages(client, start, None).await
}

/// [`reference_crawl`], stopping after `max_pages` pages when given (for profiling).
///
/// # Panics
///
/// As [`reference_crawl`].
pub async fn reference_crawl_pages(
    client: &reqwest::Client,
    start: &str,
    max_pages: Option<u64>,
) -> (Duration, u64, Vec<ScrapedItem>) {
    use scraper::{ElementRef, Html, Selector};
    let sel = |s: &str| Selector::parse(s).expect("selector");
    let (section, next, title, link) = (
        sel("section"),
        sel("link[rel=next]"),
        sel("h1, h2, h3, h4"),
        sel("a.reference"),
    );
    let text = |el: ElementRef<'_>| {
        el.text()
            .collect::<String>()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let started = Instant::now();
    let (mut items, mut pages) = (Vec::new(), 0);
    let mut url = Some(reqwest::Url::parse(start).expect("start url"));
    while let Some(page) = url.take() {
        if max_pages.is_some_and(|max| pages >= max) {
            break;
        }
        let response = client.get(page.clone()).send().await.expect("get");
        let page = response.url().clone();
        let body = response.text().await.expect("body");
        pages += 1;
        let doc = Html::parse_document(&body);
        for (index, el) in doc.select(&section).enumerate() {
            let mut fields = std::collections::BTreeMap::new();
            fields.insert("title".to_owned(), el.select(&title).next().map(text));
            fields.insert("anchor".to_owned(), el.value().attr("id").map(str::to_owned));
            let first = el.select(&link).next().and_then(|a| a.value().attr("href"));
            fields.insert("first_link".to_owned(), first.map(str::to_owned));
            items.push(ScrapedItem {
                url: page.to_string(),
                index,
                fields,
            });
        }
        url = doc
            .select(&next)
            .find_map(|el| el.value().attr("href"))
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| page.join(l).expect("next link"));
    }
    (started.elapsed(), pages, items)
}
