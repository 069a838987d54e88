//! `suggest` recognises bodies that are not a JSON array of items: XML
//! feeds (RSS, Atom), generic XML, JSON Lines and a single object; each
//! suggested block, read back and crawled, yields exactly the collection.

mod support;

use crawlpipe_sources::mock::MockConfig;
use crawlpipe_sources::{Headers, HttpSourceConfig, Pagination, ResponseFormat, suggest};
use serde_json::Value;
use support::*;

/// The block's `key` and its source configuration.
fn read_back(block: &str) -> (Option<String>, HttpSourceConfig) {
    let doc: toml::Table = toml::from_str(block).unwrap_or_else(|e| panic!("{e}\n{block}"));
    let mut table = doc["collection"].as_array().expect("[[collection]]")[0]
        .as_table()
        .expect("a table")
        .clone();
    table.remove("name");
    let key = table.remove("key").and_then(|k| k.as_str().map(str::to_owned));
    let config = toml::Value::Table(table)
        .try_into()
        .unwrap_or_else(|e| panic!("{e}\n{block}"));
    (key, config)
}

#[tokio::test]
async fn feeds_generic_xml_and_json_lines_are_suggested_and_crawl_exactly() {
    let s = server(MockConfig::new(130, 25)).await;
    let cases = [
        (
            "/xml/atom",
            ResponseFormat::Xml,
            "/feed/entry",
            "/id",
            Pagination::FeedNext,
        ),
        (
            "/xml/rss",
            ResponseFormat::Xml,
            "/rss/channel/item",
            "/guid/#text",
            Pagination::FeedNext,
        ),
        (
            "/xml/records",
            ResponseFormat::Xml,
            "/response/records/record",
            "/@id",
            Pagination::NextUrl {
                next: "/response/meta/next".into(),
                has_more: None,
            },
        ),
        (
            "/jsonl?page=1",
            ResponseFormat::JsonLines,
            "",
            "/id",
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
    for (path, format, items, key, pagination) in cases {
        let suggestion = suggest(&s.url(path), &Headers::default(), &ctx()).await.unwrap();
        let block = suggestion.to_string();
        assert_eq!(suggestion.format, format, "{block}");
        let (suggested_key, config) = read_back(&block);
        assert_eq!(config.format, format, "{block}");
        assert_eq!(config.items, items, "{block}");
        assert_eq!(suggested_key.as_deref(), Some(key), "{block}");
        assert_eq!(config.pagination, pagination, "{block}");
        let (report, crawled) = crawl(&config, fast_retry(1), None).await;
        assert!(report.outcome.is_completed(), "{block}: {:?}", report.outcome);
        let keys: Vec<String> = crawled
            .iter()
            .map(|v| match v.pointer(key) {
                Some(Value::String(s)) => s.clone(),
                other => other.map(Value::to_string).unwrap_or_default(),
            })
            .collect();
        let expected: Vec<String> = (0..130).map(|i| i.to_string()).collect();
        assert_eq!(keys, expected, "{block}");
    }
}

#[tokio::test]
async fn a_single_object_is_one_record() {
    let s = server(MockConfig::new(1, 1)).await;
    let suggestion = suggest(&s.url("/object"), &Headers::default(), &ctx())
        .await
        .unwrap();
    let block = suggestion.to_string();
    assert_eq!(suggestion.items, "", "{block}");
    assert_eq!(suggestion.first_page_items, 1);
    assert_eq!(suggestion.key.as_deref(), Some("/id"));
    assert_eq!(suggestion.pagination, None);
    assert!(suggestion.looked_for.is_empty(), "nothing to look for: {block}");
    assert!(block.contains("one object, so one record"), "{block}");
    let (_, config) = read_back(&block);
    assert_eq!(
        config,
        HttpSourceConfig {
            url: config.url.clone(),
            ..HttpSourceConfig::default()
        }
    );
}

#[tokio::test]
async fn a_body_that_is_no_format_says_so() {
    let s = server(MockConfig::new(3, 3)).await;
    let err = suggest(&s.url("/jsonl/bad"), &Headers::default(), &ctx())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not JSON"), "{err}");
}
