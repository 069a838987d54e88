//! Credentials in URLs are credentials too: a token in the start URL's query
//! authenticates every request, but no cursor (so no stored checkpoint), no
//! error, no `Debug` output and no tracing event holds it.

mod support;

use crawlpipe_core::{Cursor, Paged};
use crawlpipe_sources::mock::{Faults, Malformed, MockConfig, MockServer, Outage};
use crawlpipe_sources::{HttpSourceConfig, JsonSource, Pagination, ScrapeConfig, ScrapeSource};
use support::trace::{assert_secret_not_traced, traced};
use support::*;

const TOKEN: &str = "SECRETt0ken42";

async fn token_server(items: usize, faults: Faults) -> MockServer {
    let mut mock = MockConfig::new(items, 100).faults(faults);
    mock.require_access_token = Some(TOKEN.into());
    server(mock).await
}

/// Fetches every page by hand, returning the items and every next cursor
/// (what the sink would store as checkpoints).
async fn walk<P: Paged>(mut source: P) -> (Vec<P::Item>, Vec<Cursor>) {
    let mut items = Vec::new();
    let mut cursors = Vec::new();
    let mut cursor = None;
    loop {
        let page = source.fetch(cursor.as_ref()).await.expect("every page fetches");
        items.extend(page.items);
        match page.next {
            Some(next) => {
                cursors.push(next.clone());
                cursor = Some(next);
            }
            None => return (items, cursors),
        }
    }
}

#[tokio::test]
async fn a_token_in_the_start_url_authenticates_every_page_and_never_reaches_a_cursor() {
    traced();
    let styles = [
        ("/link", "", Pagination::LinkHeader),
        (
            "/next_url",
            "/value",
            Pagination::NextUrl {
                next: "/@odata.nextLink".into(),
                has_more: None,
            },
        ),
        (
            "/cursor",
            "/items",
            Pagination::Cursor {
                param: Some("cursor".into()),
                next: Some("/response_metadata/next_cursor".into()),
                last_item: None,
                has_more: None,
                body_pointer: None,
                next_header: None,
                stop_when: None,
            },
        ),
        (
            "/page",
            "/items",
            Pagination::Page {
                param: "page".into(),
                start: 1,
                total_pages: None,
                has_more: None,
                stop_when: None,
                page_size: None,
                page_size_param: None,
            },
        ),
    ];
    for (path, items, style) in styles {
        let server = token_server(950, Faults::default()).await;
        let config = HttpSourceConfig::new(server.url(&format!("{path}?access_token={TOKEN}&sort=asc")))
            .items(items)
            .pagination(style);
        let source = JsonSource::from_config(&config, &ctx()).unwrap();
        let first = source.first_cursor().expect("a first cursor");
        assert!(!first.as_str().contains("SECRET"), "{first:?}");
        assert!(first.as_str().contains("sort=asc"), "{first:?}");
        assert!(!format!("{source:?}").contains("SECRET"));
        let (got, cursors) = walk(source).await;
        assert_all(&got, 950);
        assert!(!cursors.is_empty());
        for c in &cursors {
            assert!(!c.as_str().contains("SECRET"), "{path}: {c:?}");
        }
        // Every request carried the token (the server refuses any without it).
        assert!(server.requests().iter().all(|r| r.contains(TOKEN)), "{path}");

        let (report, got) = crawl(&config, fast_retry(1), None).await;
        assert!(report.outcome.is_completed(), "{path}: {:?}", report.outcome);
        assert_all(&got, 950);
    }
    assert_secret_not_traced();
}

#[tokio::test]
async fn a_resume_from_a_stored_cursor_still_authenticates() {
    traced();
    let server = token_server(
        600,
        Faults {
            outage: Some(Outage::Requests { from: 3, count: 2 }),
            ..Faults::default()
        },
    )
    .await;
    let config = HttpSourceConfig::new(server.url(&format!("/link?access_token={TOKEN}")))
        .pagination(Pagination::LinkHeader);
    let (report, first) = crawl(&config, fast_retry(2), None).await;
    let text = failure_text(&report);
    assert!(
        !text.contains("SECRET") && text.contains("access_token=***"),
        "{text}"
    );
    assert!(!format!("{:?}", report.outcome).contains("SECRET"));
    assert_all(&first, 200);
    let resume = report.cursor.clone().expect("a resume cursor");
    assert_eq!(resume.as_str(), server.url("/link?page=3"));

    // A new source, as after a restart: the token comes from the configuration.
    let before = server.requests().len();
    let (report, rest) = crawl(&config, fast_retry(2), Some(resume)).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(
        server.requests()[before],
        format!("/link?page=3&access_token={TOKEN}")
    );
    let mut all = first;
    all.extend(rest);
    assert_all(&all, 600);
    assert_secret_not_traced();
}

#[tokio::test]
async fn errors_show_urls_with_credentials_redacted() {
    traced();
    let server = server(MockConfig::new(300, 100).faults(Faults {
        malformed_page: Some((
            format!("/page?page=2&access_token={TOKEN}"),
            Malformed::HtmlErrorPage,
        )),
        ..Faults::default()
    }))
    .await;
    let port = server.addr().port();
    let cases = [
        (format!("/status/404?access_token={TOKEN}"), "HTTP 404"),
        (format!("/status/500?api_key={TOKEN}"), "HTTP 500"),
        (format!("/redirect/off-host?token={TOKEN}"), "redirect to"),
    ];
    for (path, expected) in cases {
        let (report, _) = crawl(&HttpSourceConfig::new(server.url(&path)), fast_retry(2), None).await;
        let text = failure_text(&report);
        assert!(text.contains(expected) && text.contains("=***"), "{text}");
        assert!(!text.contains("SECRET"), "{text}");
    }
    let with_user = HttpSourceConfig::new(format!("http://me:{TOKEN}@127.0.0.1:{port}/status/503"));
    let (report, _) = crawl(&with_user, fast_retry(1), None).await;
    let text = failure_text(&report);
    assert!(text.contains("me:***@") && !text.contains("SECRET"), "{text}");

    let malformed = page_config(&server);
    let malformed = HttpSourceConfig {
        url: server.url(&format!("/page?access_token={TOKEN}")),
        ..malformed
    };
    let (report, items) = crawl(&malformed, fast_retry(2), None).await;
    let text = failure_text(&report);
    assert!(text.contains("HTML page") && !text.contains("SECRET"), "{text}");
    assert_all(&items, 100);

    let bad = HttpSourceConfig::new(format!("ftp://me:{TOKEN}@x.test/?token={TOKEN}"));
    let err = JsonSource::from_config(&bad, &ctx()).unwrap_err().to_string();
    assert!(
        err.contains("not http or https") && !err.contains("SECRET"),
        "{err}"
    );
    // The capture works: the failures above were traced, with their URLs.
    let traced = String::from_utf8_lossy(&traced().lock().unwrap()).into_owned();
    assert!(
        traced.contains("fetch failed") && traced.contains("access_token=***"),
        "{traced}"
    );
    assert_secret_not_traced();
}

#[tokio::test]
async fn scraping_with_a_token_in_the_url_keeps_it_out_of_cursors_and_items() {
    traced();
    let mut mock = MockConfig::default().html(4, 3, 0);
    mock.require_access_token = Some(TOKEN.into());
    let server = server(mock).await;
    let config = HttpSourceConfig::new(server.url(&format!("/html?access_token={TOKEN}"))).scrape(
        ScrapeConfig::new("section.item")
            .next("link[rel=next] @href")
            .field("anchor", "@id"),
    );
    let source = ScrapeSource::from_config(&config, &ctx()).unwrap();
    assert_eq!(source.first_cursor().unwrap().as_str(), server.url("/html"));
    let (items, cursors) = walk(source).await;
    assert_eq!(items.len(), 12);
    assert_eq!(cursors.len(), 3);
    for c in &cursors {
        assert!(!c.as_str().contains("SECRET"), "{c:?}");
    }
    for it in &items {
        assert!(!it.url.contains("SECRET"), "{}", it.url);
    }
    assert_eq!(items[3].url, server.url("/html?page=2"));
    // robots.txt is asked for without the start URL's query (so without the
    // token; its 401 allows everything), then each page.
    assert_eq!(server.requests()[0], "/robots.txt");
    assert_eq!(server.request_count(), 1 + 4, "{:?}", server.requests());
    assert_secret_not_traced();
}

#[test]
fn extra_secret_params_from_a_file_add_to_the_defaults() {
    let config: HttpSourceConfig =
        toml::from_str("url = \"https://x.test/?my_sig=abc&token=t\"\nsecret_params = [\"my_sig\"]\n")
            .unwrap();
    assert!(config.secret_params.iter().any(|p| p == "my_sig"));
    assert!(config.secret_params.iter().any(|p| p == "access_token"));
    let shown = crawlpipe_sources::redact::redact_url(&config.url, &config.secret_params);
    assert_eq!(shown, "https://x.test/?my_sig=***&token=***");
}
