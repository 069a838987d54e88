//! Request shapes of real APIs: the query string as written, date windows
//! (every page of every window, resumable), `{now…}` values, page numbers
//! and offsets written into the URL, scalar cursors and stop flags, pages
//! ending short, empty or with 204, `last_item` cursors without
//! `has_more`, form bodies.

mod support;

use crawlpipe_core::{Cursor, Paged};
use crawlpipe_sources::dates::Timestamp;
use crawlpipe_sources::mock::{MockConfig, event_time};
use crawlpipe_sources::{HttpSourceConfig, JsonSource};
use serde_json::json;
use support::*;

fn config(toml: &str) -> HttpSourceConfig {
    toml::from_str(toml).expect("valid config")
}

#[tokio::test]
async fn parameters_the_crawler_sets_leave_the_rest_of_the_query_as_written() {
    let server = server(MockConfig::new(25, 10)).await;
    let c = config(&format!(
        r#"
        url = "{}"
        items = "/items"
        pagination = {{ style = "page" }}
        "#,
        server.url("/page?fields=List(id,name)&q=(a:b,c:d)")
    ));
    let (report, items) = crawl(&c, fast_retry(1), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 25);
    assert_eq!(
        server.requests(),
        (1..=4)
            .map(|p| format!("/page?fields=List(id,name)&q=(a:b,c:d)&page={p}"))
            .collect::<Vec<_>>()
    );
}

fn windows_config(url: String, extra: &str) -> HttpSourceConfig {
    config(&format!(
        r#"
        url = "{url}"
        items = "/events"
        pagination = {{ style = "page", has_more = "/has_more" }}
        windows = {{ start = "2024-01-01", end = "2024-01-04", step = "1d", start_param = "from", end_param = "to", format = "date"{extra} }}
        "#
    ))
}

#[tokio::test]
async fn date_windows_walk_every_page_of_every_window() {
    // An event every hour from 2024-01-01: three one-day windows hold 0..72.
    let server = server(MockConfig::new(100, 10)).await;
    let (report, items) = crawl(
        &windows_config(server.url("/events?v=(1)"), ""),
        fast_retry(1),
        None,
    )
    .await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 72);
    let requests = server.requests();
    assert_eq!(requests.len(), 9, "{requests:?}");
    assert_eq!(requests[0], "/events?v=(1)&from=2024-01-01&to=2024-01-02&page=1");
    assert_eq!(requests[2], "/events?v=(1)&from=2024-01-01&to=2024-01-02&page=3");
    assert_eq!(requests[3], "/events?v=(1)&from=2024-01-02&to=2024-01-03&page=1");
    assert_eq!(requests[8], "/events?v=(1)&from=2024-01-03&to=2024-01-04&page=3");
    assert_eq!(items[24]["at"], json!(event_time(24).to_string()));
}

#[tokio::test]
async fn every_page_of_every_window_resumes_exactly() {
    let server = server(MockConfig::new(100, 10)).await;
    let c = windows_config(server.url("/events"), "");
    // Walk the cursors as a crawl would, then resume from each one.
    let mut source = JsonSource::from_config(&c, &ctx()).unwrap();
    let mut cursors = vec![source.first_cursor().unwrap()];
    let mut seen = 0;
    loop {
        let page = source.fetch(cursors.last()).await.unwrap();
        seen += page.items.len();
        match page.next {
            Some(next) => cursors.push(next),
            None => break,
        }
    }
    assert_eq!(seen, 72);
    assert_eq!(cursors.len(), 9);
    assert!(
        cursors[3].as_str().contains("#window="),
        "{}",
        cursors[3].as_str()
    );
    for (k, cursor) in cursors.iter().enumerate() {
        let (report, items) = crawl(&c, fast_retry(1), Some(cursor.clone())).await;
        assert!(report.outcome.is_completed(), "{:?}", report.outcome);
        // Pages hold 10 events and every window 24: page k starts at its window's k-th page.
        let (window, page) = (k / 3, k % 3);
        let first = (window * 24 + page * 10) as u64;
        assert_eq!(
            ids(&items),
            (first..72).collect::<Vec<_>>(),
            "resumed from {}",
            cursor.as_str()
        );
    }
}

#[tokio::test]
async fn window_bounds_relative_to_now_and_in_epoch_seconds() {
    let server = server(MockConfig::new(100, 50)).await;
    let c = config(&format!(
        r#"
        url = "{}"
        items = "/events"
        pagination = {{ style = "page", has_more = "/has_more" }}
        windows = {{ start = "now-2d", step = "1d", start_param = "from", end_param = "to", format = "epoch" }}
        "#,
        server.url("/events")
    ));
    let now = event_time(60);
    let source = JsonSource::from_config_at(&c, &ctx(), now).unwrap();
    assert_eq!(source.windows_end(), Some(now));
    let (report, items) = run("w", source, fast_retry(1), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    // [now-2d, now) holds events 12..60.
    assert_eq!(ids(&items), (12..60).collect::<Vec<_>>());
    let (s, m) = (event_time(12).as_second(), event_time(36).as_second());
    assert_eq!(server.requests()[0], format!("/events?from={s}&to={m}&page=1"));
}

#[tokio::test]
async fn an_empty_range_of_windows_fetches_nothing() {
    let server = server(MockConfig::new(10, 10)).await;
    let c = windows_config(server.url("/events"), "").windows(crawlpipe_sources::dates::DateWindows::new(
        "2024-01-05",
        "1d",
        "from",
        "to",
    ));
    let source =
        JsonSource::from_config_at(&c, &ctx(), Timestamp::from_second(1_704_067_200).unwrap()).unwrap();
    let (report, items) = run("w", source, fast_retry(1), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert!(items.is_empty());
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn now_placeholders_are_filled_when_the_source_is_built() {
    let server = server(MockConfig::new(5, 10)).await;
    let c = config(&format!(
        r#"
        url = "{}"
        items = "/items"
        "#,
        server.url("/page?since={now-1d|date}&until={now|epoch}&q=(x)")
    ));
    let now: Timestamp = "2024-03-01T12:00:00Z".parse().unwrap();
    let source = JsonSource::from_config_at(&c, &ctx(), now).unwrap();
    let (report, items) = run("n", source, fast_retry(1), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 5);
    assert_eq!(
        server.requests(),
        ["/page?since=2024-02-29&until=1709294400&q=(x)"]
    );
}

#[tokio::test]
async fn page_numbers_and_offsets_are_written_into_the_url() {
    let server = server(MockConfig::new(25, 10)).await;
    let c = config(&format!(
        r#"
        url = "{}"
        items = "/items"
        pagination = {{ style = "page" }}
        "#,
        server.url("/numbered/{page}/info.json")
    ));
    let (report, items) = crawl(&c, fast_retry(1), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 25);
    assert_eq!(
        server.requests(),
        (1..=4)
            .map(|p| format!("/numbered/{p}/info.json"))
            .collect::<Vec<_>>()
    );
    // A stored cursor resumes at its page.
    let resume = Cursor::new(format!("{}#n=3", server.url("/numbered/3/info.json")));
    let (_, items) = crawl(&c, fast_retry(1), Some(resume)).await;
    assert_eq!(ids(&items), (20..25).collect::<Vec<_>>());

    let c = config(&format!(
        r#"
        url = "{}"
        pagination = {{ style = "offset", limit = 10 }}
        "#,
        server.url("/slice?range={offset},{limit}&x=(y)")
    ));
    let before = server.requests().len();
    let (report, items) = crawl(&c, fast_retry(1), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 25);
    assert_eq!(
        server.requests()[before..],
        [
            "/slice?range=0,10&x=(y)",
            "/slice?range=10,10&x=(y)",
            "/slice?range=20,10&x=(y)"
        ]
    );
}

#[tokio::test]
async fn numeric_cursors_and_an_inverted_stop_flag() {
    let server = server(MockConfig::new(25, 10)).await;
    let c = config(&format!(
        r#"
        url = "{}"
        items = "/items"
        pagination = {{ style = "cursor", param = "page", next = "/next_page", stop_when = "/end_of_stream" }}
        "#,
        server.url("/scalar")
    ));
    let (report, items) = crawl(&c, fast_retry(1), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 25);
    assert_eq!(server.requests(), ["/scalar", "/scalar?page=2", "/scalar?page=3"]);
}

#[tokio::test]
async fn the_page_style_ends_on_a_short_page_an_empty_body_or_a_204() {
    for (end, extra, requests) in [
        ("short", ", page_size = 10, page_size_param = \"per_page\"", 3),
        ("empty", "", 4),
        ("204", "", 4),
    ] {
        let server = server(MockConfig::new(25, 10)).await;
        let c = config(&format!(
            r#"
            url = "{}"
            items = "/items"
            pagination = {{ style = "page"{extra} }}
            "#,
            server.url(&format!("/ending?end={end}"))
        ));
        let (report, items) = crawl(&c, fast_retry(1), None).await;
        assert!(report.outcome.is_completed(), "{end}: {:?}", report.outcome);
        assert_all(&items, 25);
        assert_eq!(
            server.requests().len(),
            requests,
            "{end}: {:?}",
            server.requests()
        );
    }
}

#[tokio::test]
async fn last_item_cursors_end_on_an_empty_page_without_has_more() {
    let server = server(MockConfig::new(25, 10)).await;
    let c = config(&format!(
        r#"
        url = "{}"
        pagination = {{ style = "cursor", param = "after", last_item = "/id" }}
        "#,
        server.url("/after")
    ));
    let (report, items) = crawl(&c, fast_retry(1), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 25);
    assert_eq!(
        server.requests(),
        ["/after", "/after?after=9", "/after?after=19", "/after?after=24"]
    );
}

#[tokio::test]
async fn form_bodies_carry_the_configured_values_and_the_body_cursor() {
    let server = server(MockConfig::new(25, 10)).await;
    let c = config(&format!(
        r#"
        url = "{}"
        method = "POST"
        body_format = "form"
        body = {{ q = "a b&c", kinds = ["x", "y"], page = 1 }}
        items = "/items"
        pagination = {{ style = "cursor", next = "/next", body_pointer = "/page" }}
        "#,
        server.url("/form")
    ));
    let (report, items) = crawl(&c, fast_retry(1), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 25);
    assert_eq!(
        server.posted(),
        [
            json!("kinds=x&kinds=y&page=1&q=a+b%26c"),
            json!("kinds=x&kinds=y&page=2&q=a+b%26c"),
            json!("kinds=x&kinds=y&page=3&q=a+b%26c"),
        ]
    );
    let nested = config(&format!(
        r#"
        url = "{}"
        method = "POST"
        body_format = "form"
        body = {{ filter = {{ a = 1 }} }}
        "#,
        server.url("/form")
    ));
    let err = JsonSource::from_config(&nested, &ctx()).unwrap_err().to_string();
    assert!(err.contains("\"filter\""), "{err}");
}

#[tokio::test]
async fn bad_windows_are_refused_naming_the_key() {
    let server = server(MockConfig::new(1, 1)).await;
    for (extra, key) in [
        ("step = \"0s\"", "windows.step"),
        ("step = \"1d\", end = \"later\"", "windows.end"),
    ] {
        let c = config(&format!(
            r#"
            url = "{}"
            windows = {{ start = "2024-01-01", start_param = "from", {extra} }}
            "#,
            server.url("/events")
        ));
        let err = JsonSource::from_config(&c, &ctx()).unwrap_err().to_string();
        assert!(err.contains(key), "{err}");
    }
}

#[tokio::test]
async fn windows_can_be_sent_in_a_post_body() {
    let server = server(MockConfig::new(100, 20)).await;
    let c = config(&format!(
        r#"
        url = "{}"
        method = "POST"
        body = {{ range = {{ kind = "all" }} }}
        items = "/events"
        pagination = {{ style = "page", has_more = "/has_more" }}
        windows = {{ start = "2024-01-01", end = "2024-01-03", step = "1d", start_body = "/range/from", end_body = "/range/to" }}
        "#,
        server.url("/events")
    ));
    let (report, items) = crawl(&c, fast_retry(1), None).await;
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    assert_all(&items, 48);
    let posted = server.posted();
    assert_eq!(posted.len(), 4);
    assert_eq!(
        posted[2],
        json!({ "range": { "kind": "all", "from": "2024-01-02T00:00:00Z", "to": "2024-01-03T00:00:00Z" } })
    );
    assert_eq!(
        server.requests(),
        [
            "/events?page=1",
            "/events?page=2",
            "/events?page=1",
            "/events?page=2"
        ]
    );
}
