//! HTML scraping: every item of every page, the next link followed, bad documents refused.

mod support;

use std::collections::BTreeSet;

use crawlpipe_core::StageError;
use crawlpipe_sources::mock::{MockConfig, html_item_index};
use crawlpipe_sources::{HttpSourceConfig, ScrapeConfig, ScrapeSource, ScrapedItem};
use support::*;

fn scrape_config(url: String, overlap: bool) -> HttpSourceConfig {
    HttpSourceConfig::new(url).scrape(
        ScrapeConfig::new("section.item")
            .next("link[rel=next] @href")
            .field("title", "h1, h2")
            .field("anchor", "@id")
            .field("link", "a.more @href")
            .field("missing", "h6")
            .overlap(overlap),
    )
}

async fn scrape(config: &HttpSourceConfig) -> (crawlpipe_core::Report, Vec<ScrapedItem>) {
    let source = ScrapeSource::from_config(config, &ctx()).expect("source builds");
    run("scrape", source, fast_retry(2), None).await
}

#[tokio::test]
async fn every_item_of_every_page_is_scraped_with_and_without_overlap() {
    for overlap in [true, false] {
        let mock = MockConfig::default().html(7, 12, 2000);
        let server = server(mock.clone()).await;
        let (report, items) = scrape(&scrape_config(server.url("/html"), overlap)).await;
        assert!(report.outcome.is_completed(), "{:?}", report.outcome);
        assert_eq!(items.len(), 7 * 12);
        let mut seen = BTreeSet::new();
        for it in &items {
            let page: usize = it.url.split_once("page=").map_or(1, |(_, p)| p.parse().unwrap());
            let i = html_item_index(&mock, page, it.index);
            assert!(seen.insert(i), "duplicate item {i}");
            assert_eq!(it.fields["title"].as_deref(), Some(format!("Item {i}").as_str()));
            assert_eq!(it.fields["anchor"].as_deref(), Some(format!("item-{i}").as_str()));
            assert_eq!(it.fields["link"].as_deref(), Some(format!("/item/{i}").as_str()));
            assert_eq!(it.fields["missing"], None);
        }
        assert_eq!(seen, (0..84).collect());
        // Each page exactly once: the prefetch is used, not repeated.
        let mut requests = server.requests();
        requests.sort();
        requests.dedup();
        assert_eq!(requests.len(), server.requests().len(), "{:?}", server.requests());
        assert_eq!(server.request_count(), 7);
    }
}

#[tokio::test]
async fn a_self_referencing_next_link_ends_the_crawl_without_repeating_the_page() {
    let server = server(MockConfig::default()).await;
    let (report, items) = scrape(&scrape_config(server.url("/html/self"), true)).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(items.len(), 10, "the page's items, once");
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn a_next_link_loop_fails_with_a_repeated_cursor_instead_of_looping() {
    let server = server(MockConfig::default()).await;
    let source = ScrapeSource::from_config(&scrape_config(server.url("/html"), true), &ctx()).unwrap();
    let start = crawlpipe_core::Cursor::new(server.url("/html/loop-a"));
    let (report, items) = run("loop", source, fast_retry(1), Some(start)).await;
    let failure = report.outcome.failure().expect("failed");
    assert!(
        matches!(failure.error, StageError::RepeatedCursor { .. }),
        "{:?}",
        failure.error
    );
    assert_eq!(items.len(), 20, "both pages, once each");
    // Working ahead does not fetch a page already worked on.
    assert_eq!(server.requests(), ["/html/loop-a", "/html/loop-b"]);
}

#[tokio::test]
async fn a_fresh_crawl_into_a_link_loop_fetches_the_first_page_once() {
    for overlap in [true, false] {
        let server = server(MockConfig::default()).await;
        let source =
            ScrapeSource::from_config(&scrape_config(server.url("/html/loop-a"), overlap), &ctx()).unwrap();
        assert_eq!(
            crawlpipe_core::Paged::first_cursor(&source).map(|c| c.as_str().to_owned()),
            Some(server.url("/html/loop-a"))
        );
        let (report, items) = run("loop", source, fast_retry(1), None).await;
        let failure = report.outcome.failure().expect("failed");
        match &failure.error {
            StageError::RepeatedCursor { cursor, .. } => {
                assert_eq!(cursor.as_str(), server.url("/html/loop-a"))
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(items.len(), 20, "both pages, once each");
        assert_eq!(
            server.requests(),
            ["/html/loop-a", "/html/loop-b"],
            "overlap {overlap}"
        );
    }
}

#[tokio::test]
async fn a_windows_1252_page_decodes_by_its_header_or_its_meta_charset() {
    use crawlpipe_sources::mock::LATIN1_TEXT;
    let server = server(MockConfig::default()).await;
    for path in ["/html/latin1", "/html/meta-charset", "/html/meta-http-equiv"] {
        let config = HttpSourceConfig::new(server.url(path))
            .scrape(ScrapeConfig::new("section.item").field("title", "h2"));
        let (report, items) = scrape(&config).await;
        assert!(report.outcome.is_completed(), "{path}: {:?}", report.outcome);
        let titles: Vec<String> = items
            .iter()
            .map(|it| it.fields["title"].clone().unwrap())
            .collect();
        let want: Vec<String> = (0..3).map(|i| format!("{LATIN1_TEXT} {i}")).collect();
        assert_eq!(titles, want, "{path}");
    }
}

#[tokio::test]
async fn deeply_nested_html_is_refused_before_parsing() {
    let server = server(MockConfig::default()).await;
    let (report, items) = scrape(&scrape_config(server.url("/html/deep"), true)).await;
    let text = failure_text(&report);
    assert!(text.contains("nested deeper than 512"), "{text}");
    assert!(items.is_empty());
}

#[tokio::test]
async fn an_html_page_over_the_size_cap_is_refused() {
    let server = server(MockConfig::default().html(2, 10, 200_000)).await;
    let mut config = scrape_config(server.url("/html"), true);
    config.max_body_bytes = 100_000;
    let (report, _) = scrape(&config).await;
    let text = failure_text(&report);
    assert!(text.contains("larger than the 100000-byte cap"), "{text}");
}

#[test]
fn a_scraping_source_needs_valid_selectors() {
    let ctx = ctx();
    let bad = HttpSourceConfig::new("https://x.test/").scrape(ScrapeConfig::new("section[").next("a @href"));
    assert!(ScrapeSource::from_config(&bad, &ctx).is_err());
    let none = HttpSourceConfig::new("https://x.test/");
    assert!(ScrapeSource::from_config(&none, &ctx).is_err());
}

#[tokio::test]
async fn server_errors_while_working_ahead_lose_and_duplicate_nothing() {
    use crawlpipe_sources::mock::Faults;
    for overlap in [true, false] {
        let mock = MockConfig::default().html(12, 5, 0).faults(Faults {
            error_every: Some(3),
            ..Faults::default()
        });
        let server = server(mock.clone()).await;
        let mut config = scrape_config(server.url("/html"), overlap);
        config.breaker = Some(crawlpipe_sources::BreakerSettings {
            failures: 1000,
            cooldown_ms: 1,
        });
        let source = ScrapeSource::from_config(&config, &ctx()).unwrap();
        let (report, items) = run("faulty", source, fast_retry(10), None).await;
        assert!(report.outcome.is_completed(), "{:?}", report.outcome);
        let got: BTreeSet<String> = items
            .iter()
            .map(|it| it.fields["anchor"].clone().unwrap())
            .collect();
        assert_eq!(got.len(), items.len(), "duplicates");
        assert_eq!(got, (0..60).map(|i| format!("item-{i}")).collect());
    }
}
