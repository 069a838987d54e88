//! `suggest` against every GET style of the mock server: the suggested
//! block, read back as a configuration and crawled, yields exactly the
//! collection.

mod support;

use crawlpipe_sources::mock::MockConfig;
use crawlpipe_sources::{Headers, HttpSourceConfig, Pagination, suggest};
use support::*;

/// The `[[collection]]` block as the crawl binary reads it: its own keys
/// (`name`, `key`) taken out, the rest an `HttpSourceConfig`.
fn read_back(block: &str) -> (toml::Table, HttpSourceConfig) {
    let doc: toml::Table = toml::from_str(block).unwrap_or_else(|e| panic!("{e}\n{block}"));
    let mut table = doc["collection"].as_array().expect("[[collection]]")[0]
        .as_table()
        .expect("a table")
        .clone();
    let own: toml::Table = ["name", "key"]
        .iter()
        .filter_map(|k| table.remove(*k).map(|v| ((*k).to_owned(), v)))
        .collect();
    let config = toml::Value::Table(table)
        .try_into()
        .unwrap_or_else(|e| panic!("{e}\n{block}"));
    (own, config)
}

#[tokio::test]
async fn every_style_is_suggested_and_the_block_crawls_the_whole_collection() {
    let cases = [
        ("/link", "link_header"),
        ("/next_url", "next_url"),
        (
            "/cursor",
            "style = \"cursor\", param = \"cursor\", next = \"/response_metadata/next_cursor\"",
        ),
        ("/stripe", "last_item = \"/id\""),
        ("/offset", "style = \"offset\""),
        ("/page?page=1", "style = \"page\""),
        ("/header_cursor", "next_header = \"x-next-cursor\""),
    ];
    for (path, want) in cases {
        let server = server(MockConfig::new(450, 100)).await;
        let suggestion = suggest(&server.url(path), &Headers::default(), &ctx())
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let block = suggestion.to_string();
        assert!(block.contains(want), "{path}:\n{block}");
        assert!(block.contains("# pagination: "), "{path}:\n{block}");
        let (own, config) = read_back(&block);
        assert_eq!(own["key"].as_str(), Some("/id"), "{path}:\n{block}");
        let (report, items) = crawl(&config, fast_retry(1), None).await;
        assert!(
            report.outcome.is_completed(),
            "{path}: {:?}\n{block}",
            report.outcome
        );
        if path == "/stripe" {
            let ids: Vec<String> = items
                .iter()
                .map(|v| v["id"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(
                ids,
                (0..450)
                    .map(crawlpipe_sources::mock::stripe_id)
                    .collect::<Vec<_>>()
            );
        } else {
            assert_all(&items, 450);
        }
    }
}

#[tokio::test]
async fn a_single_page_says_no_pagination_was_found_and_what_was_looked_for() {
    let server = server(MockConfig::new(60, 100)).await;
    let suggestion = suggest(&server.url("/page"), &Headers::default(), &ctx())
        .await
        .unwrap();
    assert_eq!(suggestion.pagination, None);
    let block = suggestion.to_string();
    assert!(
        block.contains("none found") && block.contains("Link header"),
        "{block}"
    );
    let (own, config) = read_back(&block);
    assert_eq!(own["name"].as_str(), Some("page"));
    assert_eq!(config.pagination, Pagination::None);
    let (report, items) = crawl(&config, fast_retry(1), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 60);
}

#[tokio::test]
async fn headers_are_sent_and_named_but_their_values_never_shown() {
    let mut mock = MockConfig::new(150, 100);
    mock.require_bearer = Some("SECRETt".into());
    let server = server(mock).await;
    let mut headers = Headers::default();
    headers.0.insert("Authorization".into(), "Bearer SECRETt".into());
    let suggestion = suggest(&server.url("/link"), &headers, &ctx()).await.unwrap();
    let block = suggestion.to_string();
    assert!(
        block.contains("headers sent: Authorization") && !block.contains("SECRET"),
        "{block}"
    );
    assert!(!format!("{suggestion:?}").contains("SECRET"));

    let err = suggest(&server.url("/link"), &Headers::default(), &ctx())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("HTTP 401"), "{err}");
    let err = suggest(
        &server.url("/link?access_token=SECRETq"),
        &Headers::default(),
        &ctx(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("access_token=***") && !err.contains("SECRET"),
        "{err}"
    );

    let plain = support::server(MockConfig::default()).await;
    let err = suggest(&plain.url("/html"), &Headers::default(), &ctx())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not JSON"), "{err}");
}

#[tokio::test]
async fn a_single_object_body_is_suggested_as_one_record() {
    let server = server(MockConfig::new(10, 5)).await;
    let suggestion = suggest(&server.url("/shapes/store"), &Headers::default(), &ctx())
        .await
        .unwrap();
    let block = suggestion.to_string();
    assert!(block.contains("one object"), "{block}");
    let (own, config) = read_back(&block);
    assert_eq!(own["key"].as_str(), Some("/id"), "{block}");
    assert_eq!(config.pagination, Pagination::None, "{block}");
    let (report, items) = crawl(&config, fast_retry(1), None).await;
    assert!(report.outcome.is_completed(), "{:?}\n{block}", report.outcome);
    assert_eq!(items, [serde_json::json!({"id": 1, "name": "The Store"})]);
}
