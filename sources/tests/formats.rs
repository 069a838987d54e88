//! JSON Lines and XML bodies through the same sources, pagination, resume,
//! retries and limits as JSON: exact items from the mock server, and the
//! `Value` and raw paths agreeing.

mod support;

use crawlpipe_core::{Cursor, FetchError, Paged, RawItem, Report};
use crawlpipe_sources::mock::{Faults, Malformed, MockConfig, MockServer};
use crawlpipe_sources::{HttpSourceConfig, JsonSource, Pagination, RawJsonSource, ResponseFormat, XmlConfig};
use serde_json::{Value, json};
use support::*;

fn page_style() -> Pagination {
    Pagination::Page {
        param: "page".into(),
        start: 1,
        total_pages: None,
        has_more: None,
        stop_when: None,
        page_size: None,
        page_size_param: None,
    }
}

fn atom(s: &MockServer) -> HttpSourceConfig {
    HttpSourceConfig::new(s.url("/xml/atom"))
        .xml(XmlConfig::default().array("category"))
        .pagination(Pagination::FeedNext)
}

/// Crawls `config` through both sources; checks they agree and returns the items.
async fn both(config: &HttpSourceConfig) -> (Report, Vec<Value>) {
    let (value_report, values) = crawl(config, fast_retry(3), None).await;
    let raw = RawJsonSource::from_config(config, &ctx()).expect("source builds");
    let (raw_report, raws) = run("test", raw, fast_retry(3), None).await;
    let parsed: Vec<Value> = raws.iter().map(|r: &RawItem| r.to_value().unwrap()).collect();
    assert_eq!(parsed, values, "same items on both paths");
    assert_eq!(
        raw_report.progress.pages, value_report.progress.pages,
        "same pages"
    );
    (value_report, values)
}

/// The items' values at `pointer`, as strings.
fn texts(items: &[Value], pointer: &str) -> Vec<String> {
    items
        .iter()
        .map(|v| {
            v.pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned()
        })
        .collect()
}

fn numbered(n: usize) -> Vec<String> {
    (0..n).map(|i| i.to_string()).collect()
}

#[tokio::test]
async fn an_atom_feed_follows_its_next_links_and_maps_each_entry() {
    let s = server(MockConfig::new(250, 20)).await;
    let (report, items) = both(&atom(&s)).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(report.progress.pages, 13);
    assert_eq!(texts(&items, "/id"), numbered(250));
    assert_eq!(
        items[4],
        json!({
            "id": "4",
            "title": {"@type": "text", "#text": "item-4"},
            "link": {"@rel": "alternate", "@href": format!("{}/item/4", s.base_url())},
            "category": [{"@term": "c1"}],
            "updated": "2024-01-01T00:00:00Z",
            "content": {"@type": "html", "#text": "<p>item 4 & more</p>"},
        })
    );
}

#[tokio::test]
async fn an_rss_feed_pages_by_number_or_by_its_atom_link() {
    let s = server(MockConfig::new(95, 10)).await;
    let by_page = HttpSourceConfig::new(s.url("/xml/rss"))
        .format(ResponseFormat::Xml)
        .items("/rss/channel/item")
        .pagination(page_style());
    let (report, items) = both(&by_page).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(report.progress.pages, 11, "ten pages and the empty one that ends");
    assert_eq!(texts(&items, "/guid/#text"), numbered(95));
    assert_eq!(
        items[0],
        json!({"title": "item-0", "guid": {"@isPermaLink": "false", "#text": "0"},
               "description": "<b>0</b> & more", "dc:creator": "ann"})
    );
    let by_link = HttpSourceConfig::new(s.url("/xml/rss"))
        .format(ResponseFormat::Xml)
        .pagination(Pagination::FeedNext);
    let (report, same) = both(&by_link).await;
    assert_eq!(
        report.progress.pages, 10,
        "no empty page: the last one has no next link"
    );
    assert_eq!(same, items);
}

#[tokio::test]
async fn generic_xml_pages_with_a_pointer_into_the_rest_of_the_document() {
    let s = server(MockConfig::new(45, 10)).await;
    let config = HttpSourceConfig::new(s.url("/xml/records"))
        .format(ResponseFormat::Xml)
        .items("/response/records/record")
        .pagination(Pagination::NextUrl {
            next: "/response/meta/next".into(),
            has_more: None,
        });
    let (report, items) = both(&config).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(report.progress.pages, 5);
    assert_eq!(texts(&items, "/@id"), numbered(45));
    assert_eq!(items[7], json!({"@id": "7", "name": "item-7"}));
}

#[tokio::test]
async fn a_latin1_feed_is_decoded_by_its_declaration() {
    let s = server(MockConfig::new(3, 3)).await;
    let config = HttpSourceConfig::new(s.url("/xml/latin1")).format(ResponseFormat::Xml);
    let (_, items) = both(&config).await;
    assert_eq!(texts(&items, "/title"), ["Café 0", "Café 1", "Café 2"]);
}

#[tokio::test]
async fn json_lines_pages_until_an_empty_one() {
    let s = server(MockConfig::new(230, 50)).await;
    let config = HttpSourceConfig::new(s.url("/jsonl"))
        .format(ResponseFormat::JsonLines)
        .pagination(page_style());
    let (report, items) = both(&config).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(report.progress.pages, 6);
    assert_all(&items, 230);
    assert_eq!(items[3], crawlpipe_sources::mock::item(3));
}

#[tokio::test]
async fn a_bad_line_names_the_page_and_the_line() {
    let s = server(MockConfig::new(3, 3)).await;
    let config = HttpSourceConfig::new(s.url("/jsonl/bad")).format(ResponseFormat::JsonLines);
    let (report, items) = crawl(&config, fast_retry(2), None).await;
    assert!(items.is_empty());
    let text = failure_text(&report);
    assert!(
        text.contains("/jsonl/bad") && text.contains("line 2 is not valid JSON"),
        "{text}"
    );
}

#[tokio::test]
async fn a_feed_resumes_at_its_cursor() {
    let s = server(MockConfig::new(100, 10)).await;
    let config = atom(&s);
    let mut source = JsonSource::from_config(&config, &ctx()).unwrap();
    let first = source.fetch(None).await.unwrap();
    let second = source.fetch(first.next.as_ref()).await.unwrap();
    let resume = second.next.expect("a third page");
    assert!(
        resume.as_str().ends_with("/xml/atom?page=3"),
        "{}",
        resume.as_str()
    );
    let (report, items) = crawl(&config, fast_retry(1), Some(Cursor::new(resume.as_str()))).await;
    assert!(report.outcome.is_completed());
    assert_eq!(
        texts(&items, "/id"),
        (20..100).map(|i| i.to_string()).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_cut_off_feed_is_retried_and_nothing_is_lost() {
    // Requests 2 and 5 are 200s whose XML is cut off mid-document.
    let faults = Faults {
        malformed_on: vec![(2, Malformed::TruncatedJson), (5, Malformed::TruncatedJson)],
        ..Faults::default()
    };
    let s = server(MockConfig::new(60, 10).faults(faults)).await;
    let (report, items) = crawl(&atom(&s), fast_retry(3), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(texts(&items, "/id"), numbered(60));
    assert_eq!(s.request_count(), 8, "six pages and two retries");
}

#[tokio::test]
async fn xml_nested_deeper_than_the_limit_fails_at_once() {
    let s = server(MockConfig::new(1, 1)).await;
    let config = HttpSourceConfig::new(s.url("/xml/deep"))
        .xml(XmlConfig::default())
        .items("/a/a");
    let (report, _) = crawl(&config, fast_retry(3), None).await;
    let text = failure_text(&report);
    assert!(text.contains("XML nested deeper than 64 elements"), "{text}");
    assert_eq!(s.request_count(), 1, "permanent: not retried");
    let mut source = JsonSource::from_config(&config, &ctx()).unwrap();
    assert!(matches!(
        source.fetch(None).await,
        Err(FetchError::Permanent { .. })
    ));
}

#[tokio::test]
async fn the_body_cap_holds_for_xml() {
    let s = server(MockConfig::new(500, 500)).await;
    let mut config = atom(&s);
    config.max_body_bytes = 10_000;
    let (report, items) = crawl(&config, fast_retry(1), None).await;
    assert!(items.is_empty());
    assert!(
        failure_text(&report).contains("10000-byte cap"),
        "{}",
        failure_text(&report)
    );
}

#[tokio::test]
async fn an_html_error_page_is_not_taken_for_a_feed() {
    let html = |on: Vec<u64>| Faults {
        malformed_on: on.into_iter().map(|n| (n, Malformed::HtmlErrorPage)).collect(),
        ..Faults::default()
    };
    let faults = html(vec![1]);
    let s = server(MockConfig::new(10, 10).faults(faults)).await;
    let (report, items) = crawl(&atom(&s), fast_retry(3), None).await;
    assert!(report.outcome.is_completed(), "retried: {:?}", report.outcome);
    assert_eq!(items.len(), 10);
    let s = server(MockConfig::new(10, 10).faults(html(vec![1, 2]))).await;
    let (report, _) = crawl(&atom(&s), fast_retry(2), None).await;
    let text = failure_text(&report);
    assert!(text.contains("HTML page, not XML"), "{text}");
}

#[test]
fn formats_that_do_not_fit_the_rest_are_refused_naming_the_key() {
    let base = || HttpSourceConfig::new("http://127.0.0.1:9/x");
    let cases = [
        (base().format(ResponseFormat::JsonLines).items("/data"), "items"),
        (
            base()
                .format(ResponseFormat::JsonLines)
                .pagination(Pagination::NextUrl {
                    next: "/n".into(),
                    has_more: None,
                }),
            "pagination",
        ),
        (base().pagination(Pagination::FeedNext), "pagination"),
        (
            HttpSourceConfig {
                items_missing: crawlpipe_sources::ItemsMissing::Empty,
                ..base().format(ResponseFormat::Xml)
            },
            "items_missing",
        ),
        (base().xml(XmlConfig::default().max_depth(65)), "xml.max_depth"),
        (base().xml(XmlConfig::default().max_depth(0)), "xml.max_depth"),
        (base().format(ResponseFormat::Xml).items("rss/item"), "items"),
        (
            base()
                .format(ResponseFormat::Json)
                .xml(XmlConfig::default())
                .format(ResponseFormat::Json),
            "",
        ),
    ];
    for (config, key) in cases {
        let checked = config.check_format();
        if key.is_empty() {
            assert!(checked.is_ok(), "{checked:?}");
            continue;
        }
        let err = checked.unwrap_err();
        assert_eq!(err.key, key, "{err}");
        let built = JsonSource::from_config(&config, &ctx()).unwrap_err().to_string();
        assert!(built.contains(key), "{built}");
    }
}

#[test]
fn the_toml_keys_deserialize_into_the_model() {
    let config: HttpSourceConfig = toml::from_str(
        "url = \"http://x/\"\nformat = \"xml\"\nitems = \"/rss/channel/item\"\nxml = { max_depth = 10, arrays = [\"category\"] }\npagination = { style = \"feed_next\" }\n",
    )
    .unwrap();
    assert_eq!(config.format, ResponseFormat::Xml);
    assert_eq!(config.xml, XmlConfig::default().max_depth(10).array("category"));
    assert_eq!(config.pagination, Pagination::FeedNext);
    let lines: HttpSourceConfig = toml::from_str("format = \"ndjson\"").unwrap();
    assert_eq!(lines.format, ResponseFormat::JsonLines);
    let bad = toml::from_str::<HttpSourceConfig>("format = \"yaml\"")
        .unwrap_err()
        .to_string();
    assert!(bad.contains("yaml") && bad.contains("jsonl"), "{bad}");
}
