//! Configuration as data: every pagination style, defaults equal to
//! `HttpSourceConfig::new`'s, tables merged before deserializing, unknown keys refused.

use crawlpipe_sources::{BreakerSettings, HttpSourceConfig, Pagination};

#[test]
fn every_pagination_style_reads_from_toml() {
    let styles = [
        (r#"{ style = "link_header" }"#, Pagination::LinkHeader),
        (
            r#"{ style = "next_url", next = "/@odata.nextLink" }"#,
            Pagination::NextUrl {
                next: "/@odata.nextLink".into(),
                has_more: None,
            },
        ),
        (
            r#"{ style = "cursor", param = "cursor", next = "/response_metadata/next_cursor" }"#,
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
            r#"{ style = "cursor", param = "starting_after", last_item = "/id", has_more = "/has_more" }"#,
            Pagination::Cursor {
                param: Some("starting_after".into()),
                next: None,
                last_item: Some("/id".into()),
                has_more: Some("/has_more".into()),
                body_pointer: None,
                next_header: None,
                stop_when: None,
            },
        ),
        (
            r#"{ style = "offset", offset_param = "offset", limit_param = "limit", limit = 100, total = "/total" }"#,
            Pagination::Offset {
                offset_param: "offset".into(),
                limit_param: "limit".into(),
                limit: 100,
                total: Some("/total".into()),
                has_more: None,
                stop_when: None,
            },
        ),
        (
            r#"{ style = "page", param = "page", start = 1 }"#,
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
    for (text, want) in styles {
        let doc = format!("url = \"https://x.test/a\"\npagination = {text}\n");
        let config: HttpSourceConfig = toml::from_str(&doc).unwrap();
        assert_eq!(config.pagination, want, "{text}");
    }
}

#[test]
fn full_collection_reads_from_toml() {
    let doc = r#"
        url = "https://x.test/items?state=all"
        items = "/data"
        headers = { Authorization = "Bearer s3cret" }
        pagination = { style = "link_header" }
        min_delay_ms = 250
        jitter_ms = 50
        max_in_flight_per_host = 2
        timeout_ms = 5000
        breaker = { failures = 3, cooldown_ms = 1000 }
        scrape = { item = "section", next = "link[rel=next] @href", fields = { title = "h1, h2", anchor = "@id" } }
    "#;
    let config: HttpSourceConfig = toml::from_str(doc).unwrap();
    assert_eq!(config.breaker_config().failures, 3);
    assert_eq!(config.gate_config().max_in_flight_value(), 2);
    let scrape = config.scrape.as_ref().unwrap();
    assert_eq!(scrape.fields["anchor"], "@id");
    assert!(!format!("{config:?}").contains("s3cret"));
}

#[test]
fn unknown_keys_are_refused() {
    let doc = "url = \"https://x.test\"\nmin_delay = 5\n";
    assert!(toml::from_str::<HttpSourceConfig>(doc).is_err());
    let doc = "url = \"https://x.test\"\npagination = { style = \"page\", pages = 3 }\n";
    assert!(toml::from_str::<HttpSourceConfig>(doc).is_err());
    let doc = "url = \"https://x.test\"\npagination = { style = \"sideways\" }\n";
    assert!(toml::from_str::<HttpSourceConfig>(doc).is_err());
}

#[test]
fn missing_keys_take_the_defaults_of_new() {
    let config: HttpSourceConfig = toml::from_str("url = \"https://x.test/a\"\n").unwrap();
    assert_eq!(config, HttpSourceConfig::new("https://x.test/a"));
    assert_eq!(config.max_in_flight_per_host, 1, "polite by default");
    assert_eq!(config.gate_config().max_in_flight_value(), 1);
    let empty: HttpSourceConfig = toml::from_str("").unwrap();
    assert_eq!(empty, HttpSourceConfig::default());
    let breaker: HttpSourceConfig = toml::from_str("breaker = { failures = 3 }\n").unwrap();
    assert_eq!(
        breaker.breaker,
        Some(BreakerSettings {
            failures: 3,
            cooldown_ms: 30_000
        })
    );
}

#[test]
fn defaults_merged_with_a_collection_table_deserialize() {
    let defaults: toml::Table = toml::from_str(
        "min_delay_ms = 100\nmax_in_flight_per_host = 2\nheaders = { Authorization = \"Bearer t\" }\n",
    )
    .unwrap();
    let collection: toml::Table = toml::from_str(
        "url = \"https://x.test/a\"\nitems = \"/data\"\nmin_delay_ms = 5\npagination = { style = \"link_header\" }\n",
    )
    .unwrap();
    let mut merged = defaults;
    merged.extend(collection);
    let config: HttpSourceConfig = toml::Value::Table(merged).try_into().unwrap();
    let want = HttpSourceConfig {
        min_delay_ms: 5,
        max_in_flight_per_host: 2,
        ..HttpSourceConfig::new("https://x.test/a")
            .items("/data")
            .pagination(Pagination::LinkHeader)
            .header("Authorization", "Bearer t")
    };
    assert_eq!(config, want);
}

#[test]
fn a_body_is_shown_by_its_keys_never_its_values() {
    let config = crawlpipe_sources::HttpSourceConfig::new("https://api.test/search")
        .post(serde_json::json!({ "page_size": 10, "password": "hunter2" }));
    let shown = format!("{config:?}");
    assert!(
        shown.contains("password") && !shown.contains("hunter2"),
        "{shown}"
    );
}
