//! Record shapes: a single object is one record, `*` paths, an object's
//! values keeping their member name, and a missing items pointer meaning no
//! records; the `Value` and raw-JSON sources agree on each.

mod support;

use crawlpipe_core::{RawItem, Report};
use crawlpipe_sources::mock::{MockConfig, MockServer, shape_rate_date};
use crawlpipe_sources::{HttpSourceConfig, ItemsMissing, Pagination, RawJsonSource};
use serde_json::{Value, json};
use support::*;

/// Crawls `config` through both sources, checks they agree on the parsed
/// items, pages and outcome; returns the raw items too.
async fn both(config: &HttpSourceConfig) -> (Report, Vec<Value>, Vec<RawItem>) {
    let (value_report, values) = crawl(config, fast_retry(1), None).await;
    let raw = RawJsonSource::from_config(config, &ctx()).expect("source builds");
    let (raw_report, raws) = run("test", raw, fast_retry(1), None).await;
    let parsed: Vec<Value> = raws.iter().map(|r| r.to_value().unwrap()).collect();
    assert_eq!(parsed, values, "same items");
    assert_eq!(
        raw_report.progress.pages, value_report.progress.pages,
        "same pages"
    );
    assert_eq!(
        format!("{:?}", raw_report.outcome),
        format!("{:?}", value_report.outcome),
        "same outcome"
    );
    (raw_report, values, raws)
}

fn page() -> Pagination {
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

async fn mock(items: usize, per_page: usize) -> MockServer {
    server(MockConfig::new(items, per_page)).await
}

#[tokio::test]
async fn an_object_at_the_pointer_is_one_record_with_its_text_kept() {
    let s = mock(10, 5).await;
    let config = HttpSourceConfig::new(s.url("/shapes/me")).items("/me");
    let (report, values, raws) = both(&config).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(values, [json!({"id": "me", "name": "Ana"})]);
    assert_eq!(raws[0].as_str(), r#"{"id":"me","name":"Ana"}"#);
}

#[tokio::test]
async fn an_object_body_with_an_empty_pointer_is_one_record() {
    let s = mock(10, 5).await;
    for path in ["/shapes/store", "/shapes/things/42"] {
        let config = HttpSourceConfig::new(s.url(path));
        let (report, values, _) = both(&config).await;
        assert!(report.outcome.is_completed(), "{path}: {:?}", report.outcome);
        assert_eq!(values.len(), 1, "{path}");
    }
    let (_, values, _) = both(&HttpSourceConfig::new(s.url("/shapes/things/42"))).await;
    assert_eq!(values, [json!({"id": 42, "detail": "thing 42"})]);
}

#[tokio::test]
async fn a_wildcard_path_takes_a_pointer_inside_every_element() {
    let s = mock(23, 5).await;
    let config = HttpSourceConfig::new(s.url("/shapes/adaccounts"))
        .items("/adaccounts/*/adaccount")
        .pagination(page());
    let (report, values, _) = both(&config).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    let want: Vec<Value> = (0..23)
        .map(|i| json!({"id": format!("act_{i}"), "n": i}))
        .collect();
    assert_eq!(values, want);
    assert_eq!(
        report.progress.pages, 6,
        "five full pages and the empty one that ends"
    );
}

#[tokio::test]
async fn the_values_of_an_object_are_records_that_keep_their_member_name() {
    let s = mock(12, 5).await;
    let config = HttpSourceConfig::new(s.url("/shapes/rates"))
        .items("/rates/*")
        .items_map_key("date")
        .pagination(page());
    let (report, values, _) = both(&config).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    let want: Vec<Value> = (0..12)
        .map(|i| json!({"date": shape_rate_date(i), "eur": i}))
        .collect();
    assert_eq!(values, want);
}

#[tokio::test]
async fn a_missing_items_pointer_fails_by_default_and_is_empty_when_configured() {
    let s = mock(12, 5).await;
    let config = HttpSourceConfig::new(s.url("/shapes/sparse"))
        .items("/data")
        .pagination(page());
    let (report, values, _) = both(&config).await;
    assert!(
        failure_text(&report).contains("no items at \"/data\""),
        "{:?}",
        report.outcome
    );
    assert_eq!(values.len(), 12, "the pages before the missing one still flow");
    let config = config.items_missing(ItemsMissing::Empty);
    let (report, values, _) = both(&config).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_eq!(ids(&values), (0..12).collect::<Vec<u64>>());
}

#[tokio::test]
async fn items_map_key_without_a_wildcard_is_a_config_error() {
    let config = HttpSourceConfig::new("http://127.0.0.1:9/x")
        .items("/rates")
        .items_map_key("date");
    let err = RawJsonSource::from_config(&config, &ctx())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("items_map_key") && err.contains("needs a `*`"),
        "{err}"
    );
}

#[tokio::test]
async fn a_scalar_at_the_pointer_still_fails_the_page() {
    let s = mock(10, 5).await;
    let config = HttpSourceConfig::new(s.url("/shapes/me")).items("/me/name");
    let (report, _, _) = both(&config).await;
    assert!(
        failure_text(&report).contains("is a string, not an array or object"),
        "{:?}",
        report.outcome
    );
}

#[test]
fn items_keys_deserialize_from_toml() {
    let config: HttpSourceConfig = toml::from_str(
        "url = \"http://x.test/\"\nitems = \"/rates/*\"\nitems_map_key = \"date\"\nitems_missing = \"empty\"\n",
    )
    .unwrap();
    assert_eq!(config.items_missing, ItemsMissing::Empty);
    assert_eq!(config.items_map_key.as_deref(), Some("date"));
    let bad = toml::from_str::<HttpSourceConfig>("items_missing = \"skip\"\n").unwrap_err();
    assert!(bad.to_string().contains("items_missing") || bad.to_string().contains("unknown variant"));
}
