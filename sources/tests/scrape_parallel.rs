//! Parsing pages in parallel, with the next link predicted by a streaming
//! scan, gives exactly the items of a single-threaded parse of each page,
//! in order, even where the prediction is wrong.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use crawlpipe_sources::{HttpSourceConfig, ScrapeConfig, ScrapeSource, ScrapedItem};
use scraper::{ElementRef, Html, Selector};
use support::{ctx, fast_retry, run};

/// Page `n` of a varied site; `None` past the last page.
fn page(n: usize, last: usize) -> Option<(String, &'static str)> {
    if n > last {
        return None;
    }
    let next = format!("/p/{}", n + 1);
    let link = |s: &str| {
        if n < last {
            s.replace("NEXT", &next)
        } else {
            String::new()
        }
    };
    // Where and how the next link is written varies; some places mislead a
    // scan that builds no tree.
    let (head, nav) = match n % 6 {
        0 => (link(r#"<link rel="next" href="NEXT">"#), String::new()),
        1 => (
            String::new(),
            link(r#"<nav class="pager"><a class="next" href=" NEXT ">next</a></nav>"#),
        ),
        // A paragraph is closed by the <div>: the first link is not in a pager.
        2 => (
            String::new(),
            link(
                r#"<p class="pager"><div><a class="next" href="/p/999">no</a></div><nav class="pager"><a class="next" href="NEXT">next</a></nav>"#,
            ),
        ),
        3 => (
            String::new(),
            link(
                r#"<!-- <nav class="pager"><a class="next" href="/p/998"></a></nav> --><script>var s = '<nav class="pager"><a class="next" href="/p/997">';</script><nav class="pager"><a class="next" href="NEXT">n</a></nav>"#,
            ),
        ),
        // A character reference: no prediction, the parse decodes it.
        4 => (
            link(r#"<link rel="next" href="NEXT?from=4&amp;x=1">"#),
            String::new(),
        ),
        _ => (
            link(&format!(r#"<link rel="next" href="../p/{}">"#, n + 1)),
            String::new(),
        ),
    };
    let mut body = String::new();
    for i in 0..(n % 7) * 3 + 1 {
        let nested = if i % 4 == 3 {
            "<section id=\"inner\"><h3>Inner  text</h3></section>"
        } else {
            ""
        };
        let title = if i % 5 == 4 {
            String::new()
        } else {
            format!("<h2>Title {n}.{i} &amp; caf&eacute;</h2>")
        };
        body.push_str(&format!(
            "<section id=\"s{n}-{i}\" class=\"item\">{title}<p>Body <b>{i}</b>\n text</p>\
             <a class=\"ref\" href=\"/ref/{n}/{i}\">r</a>{nested}</section>"
        ));
    }
    let padding = "<p>filler text for a page of some size</p>".repeat(n % 5 * 200);
    let (html, ty) = if n % 9 == 8 {
        (
            format!(
                "<html><head><meta charset=\"windows-1252\">{head}</head><body>{nav}{body}{padding}</body></html>"
            ),
            "text/html",
        )
    } else {
        (
            format!(
                "<!DOCTYPE html><html><head><title>Page {n}</title>{head}</head><body>{body}{nav}{padding}</body></html>"
            ),
            "text/html; charset=utf-8",
        )
    };
    Some((html, ty))
}

const LAST: usize = 40;

async fn serve(State(hits): State<Arc<Mutex<Vec<usize>>>>, Path(n): Path<usize>) -> Response {
    hits.lock().unwrap().push(n);
    match page(n, LAST) {
        Some((html, ty)) => ([(header::CONTENT_TYPE, ty)], html).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn start() -> (String, Arc<Mutex<Vec<usize>>>) {
    let hits = Arc::new(Mutex::new(Vec::new()));
    let app = axum::Router::new()
        .route("/p/{n}", axum::routing::get(serve))
        .with_state(hits.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, hits)
}

fn config(base: &str) -> ScrapeConfig {
    let _ = base;
    ScrapeConfig::new("section.item")
        .next("link[rel=next], .pager a.next @href")
        .field("title", "h1, h2, h3")
        .field("anchor", "@id")
        .field("ref", "a.ref @href")
        .field("text", "p")
}

/// The documented extraction, one page at a time, with `scraper` directly.
fn reference(base: &str) -> Vec<ScrapedItem> {
    let sel = |s: &str| Selector::parse(s).unwrap();
    let (item, next, title, anchor_ref, text) = (
        sel("section.item"),
        sel("link[rel=next], .pager a.next"),
        sel("h1, h2, h3"),
        sel("a.ref"),
        sel("p"),
    );
    let words = |el: ElementRef<'_>| {
        el.text()
            .collect::<String>()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut out = Vec::new();
    let mut url = Some(url::Url::parse(&format!("{base}/p/0")).unwrap());
    while let Some(page_url) = url.take() {
        let n: usize = page_url.path().rsplit('/').next().unwrap().parse().unwrap();
        let (html, _) = page(n, LAST).unwrap();
        // The windows-1252 pages hold only ASCII and entities: the text is the same.
        let doc = Html::parse_document(&html);
        for (index, el) in doc.select(&item).enumerate() {
            let fields = BTreeMap::from([
                ("title".to_owned(), el.select(&title).next().map(words)),
                ("anchor".to_owned(), el.value().attr("id").map(str::to_owned)),
                (
                    "ref".to_owned(),
                    el.select(&anchor_ref)
                        .next()
                        .and_then(|a| a.value().attr("href"))
                        .map(str::to_owned),
                ),
                ("text".to_owned(), el.select(&text).next().map(words)),
            ]);
            out.push(ScrapedItem {
                url: page_url.to_string(),
                index,
                fields,
            });
        }
        url = doc
            .select(&next)
            .find_map(|el| el.value().attr("href"))
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| page_url.join(l).unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_parsing_gives_the_items_of_a_single_threaded_parse_in_order() {
    let (base, hits) = start().await;
    let want = reference(&base);
    assert!(want.len() > 300, "{}", want.len());
    let variants = [
        ("default", config(&base)),
        ("four workers", config(&base).workers(4)),
        ("one worker", config(&base).workers(1)),
        ("sequential", config(&base).overlap(false)),
    ];
    let mut mispredicted_fetches = 0;
    for (name, scrape) in variants {
        hits.lock().unwrap().clear();
        let http = HttpSourceConfig::new(format!("{base}/p/0")).scrape(scrape.clone());
        let source = ScrapeSource::from_config(&http, &ctx()).unwrap();
        let (report, items) = run("varied", source, fast_retry(1), None).await;
        assert!(report.outcome.is_completed(), "{name}: {:?}", report.outcome);
        assert_eq!(report.progress.pages, LAST as u64 + 1, "{name}");
        assert!(
            items == want,
            "{name}: the items differ from the single-threaded parse"
        );
        let hits = hits.lock().unwrap().clone();
        // Every page of the chain exactly once; only a misleading link may add a wasted fetch.
        for n in 0..=LAST {
            assert_eq!(
                hits.iter().filter(|&&h| h == n).count(),
                1,
                "{name}: page {n} in {hits:?}"
            );
        }
        assert!(hits.iter().all(|&h| h <= LAST || h == 999), "{name}: {hits:?}");
        if scrape.overlap {
            mispredicted_fetches += hits.iter().filter(|&&h| h == 999).count();
        } else {
            assert_eq!(hits.len(), LAST + 1, "{name}: nothing is fetched ahead");
        }
    }
    // The misleading pager was predicted and fetched ahead (a job that had
    // not sent its request yet when the parse found the real link is
    // dropped before it does), yet the items above were exact.
    assert!(mispredicted_fetches > 0, "no wrong prediction was ever fetched");
}

#[test]
fn zero_workers_is_a_configuration_error() {
    let http = HttpSourceConfig::new("http://127.0.0.1:9/").scrape(config("").workers(0));
    let err = ScrapeSource::from_config(&http, &ctx()).unwrap_err();
    assert!(err.to_string().contains("workers"), "{err}");
}
