//! The styles' first and next URLs, page by page.
use super::*;
use reqwest::header::{HeaderMap, HeaderValue, LINK};
use serde_json::json;

fn u(s: &str) -> Url {
    Url::parse(s).unwrap()
}

fn next(p: &Pagination, url: &str, headers: &HeaderMap, body: Value) -> Result<Option<String>, String> {
    let items: Vec<Value> = body
        .pointer("/items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let url = u(url);
    Paginator::new(p)
        .unwrap()
        .next(&PageView {
            url: &url,
            base: &url,
            headers,
            body: &body,
            items: items.len(),
            last_item: items.last(),
        })
        .map(|o| o.map(|u| u.to_string()))
}

#[test]
fn setting_a_param_keeps_the_others_and_replaces_duplicates() {
    let url = u("https://a.test/x?state=all&page=2&sort=asc&page=9");
    assert_eq!(
        with_query_param(&url, "page", "3").as_str(),
        "https://a.test/x?state=all&page=3&sort=asc"
    );
    assert_eq!(
        with_query_param(&u("https://a.test/x"), "cursor", "a b&c").as_str(),
        "https://a.test/x?cursor=a+b%26c"
    );
    assert_eq!(query_param(&url, "sort").as_deref(), Some("asc"));
}

#[test]
fn first_urls_carry_the_style_parameters() {
    let start = u("https://a.test/x?q=1");
    let offset = Paginator::new(&Pagination::Offset {
        offset_param: "offset".into(),
        limit_param: "limit".into(),
        limit: 50,
        total: None,
        has_more: None,
        stop_when: None,
    })
    .unwrap();
    assert_eq!(
        offset.first_url(&start).as_str(),
        "https://a.test/x?q=1&limit=50&offset=0"
    );
    let page = Paginator::new(&Pagination::Page {
        param: "p".into(),
        start: 0,
        total_pages: None,
        has_more: None,
        stop_when: None,
        page_size: None,
        page_size_param: None,
    })
    .unwrap();
    assert_eq!(page.first_url(&start).as_str(), "https://a.test/x?q=1&p=0");
    assert_eq!(
        page.first_url(&u("https://a.test/x?p=4")).as_str(),
        "https://a.test/x?p=4"
    );
}

#[test]
fn link_header_next_is_resolved_against_the_page() {
    let mut h = HeaderMap::new();
    h.insert(LINK, HeaderValue::from_static(r#"</x?page=3>; rel="next""#));
    assert_eq!(
        next(&Pagination::LinkHeader, "https://a.test/x?page=2", &h, json!([]))
            .unwrap()
            .as_deref(),
        Some("https://a.test/x?page=3")
    );
    assert_eq!(
        next(
            &Pagination::LinkHeader,
            "https://a.test/x",
            &HeaderMap::new(),
            json!([])
        ),
        Ok(None)
    );
}

#[test]
fn next_url_ends_on_null_missing_or_empty_and_refuses_non_strings() {
    let p = Pagination::NextUrl {
        next: "/links/next".into(),
        has_more: None,
    };
    let h = HeaderMap::new();
    let at = "https://a.test/v1/x";
    assert_eq!(
        next(&p, at, &h, json!({"links": {"next": "y?after=2"}}))
            .unwrap()
            .as_deref(),
        Some("https://a.test/v1/y?after=2")
    );
    assert_eq!(next(&p, at, &h, json!({"links": {"next": null}})), Ok(None));
    assert_eq!(next(&p, at, &h, json!({"links": {}})), Ok(None));
    assert_eq!(next(&p, at, &h, json!({"links": {"next": ""}})), Ok(None));
    assert!(
        next(&p, at, &h, json!({"links": {"next": 5}}))
            .unwrap_err()
            .contains("not a string")
    );
}

#[test]
fn next_url_with_has_more_ends_when_it_is_false_whatever_next_holds() {
    let p = Pagination::NextUrl {
        next: "/next_page".into(),
        has_more: Some("/has_more".into()),
    };
    let h = HeaderMap::new();
    let at = "https://a.test/cards";
    assert_eq!(
        next(
            &p,
            at,
            &h,
            json!({"has_more": true, "next_page": "/cards?page=2"})
        )
        .unwrap()
        .as_deref(),
        Some("https://a.test/cards?page=2")
    );
    let last = json!({"has_more": false, "next_page": "/cards?page=3"});
    assert_eq!(next(&p, at, &h, last), Ok(None));
    assert_eq!(next(&p, at, &h, json!({"next_page": "/cards?page=3"})), Ok(None));
    assert!(
        next(&p, at, &h, json!({"has_more": 1, "next_page": "x"}))
            .unwrap_err()
            .contains("has_more")
    );
}

#[test]
fn cursor_token_goes_back_as_a_parameter() {
    let p = Pagination::Cursor {
        param: Some("cursor".into()),
        next: Some("/meta/next".into()),
        last_item: None,
        has_more: None,
        body_pointer: None,
        next_header: None,
        stop_when: None,
    };
    let h = HeaderMap::new();
    let at = "https://a.test/x?limit=5&cursor=old";
    assert_eq!(
        next(&p, at, &h, json!({"meta": {"next": "abc="}}))
            .unwrap()
            .as_deref(),
        Some("https://a.test/x?limit=5&cursor=abc%3D")
    );
    assert_eq!(next(&p, at, &h, json!({"meta": {"next": ""}})), Ok(None));
    assert_eq!(
        next(&p, at, &h, json!({"meta": {"next": 7}})).unwrap().as_deref(),
        Some("https://a.test/x?limit=5&cursor=7")
    );
    assert!(next(&p, at, &h, json!({"meta": {"next": [7]}})).is_err());
}

#[test]
fn last_item_cursor_follows_has_more() {
    let p = Pagination::Cursor {
        param: Some("starting_after".into()),
        next: None,
        last_item: Some("/id".into()),
        has_more: Some("/has_more".into()),
        body_pointer: None,
        next_header: None,
        stop_when: None,
    };
    let h = HeaderMap::new();
    let at = "https://a.test/x";
    assert_eq!(
        next(
            &p,
            at,
            &h,
            json!({"items": [{"id": "a"}, {"id": "b"}], "has_more": true})
        )
        .unwrap()
        .as_deref(),
        Some("https://a.test/x?starting_after=b")
    );
    assert_eq!(
        next(&p, at, &h, json!({"items": [{"id": "a"}], "has_more": false})),
        Ok(None)
    );
    assert!(next(&p, at, &h, json!({"items": [], "has_more": true})).is_err());
    assert!(next(&p, at, &h, json!({"items": [{"id": "a"}], "has_more": "yes"})).is_err());
}

#[test]
fn offset_ends_at_total_or_short_page() {
    let with_total = Pagination::Offset {
        offset_param: "offset".into(),
        limit_param: "limit".into(),
        limit: 2,
        total: Some("/total".into()),
        has_more: None,
        stop_when: None,
    };
    let h = HeaderMap::new();
    let at = "https://a.test/x?limit=2&offset=2";
    assert_eq!(
        next(&with_total, at, &h, json!({"items": [1, 2], "total": 5}))
            .unwrap()
            .as_deref(),
        Some("https://a.test/x?limit=2&offset=4")
    );
    assert_eq!(
        next(&with_total, at, &h, json!({"items": [1, 2], "total": 4})),
        Ok(None)
    );
    assert!(next(&with_total, at, &h, json!({"items": [1, 2], "total": "many"})).is_err());
    let short = Pagination::Offset {
        offset_param: "offset".into(),
        limit_param: "limit".into(),
        limit: 2,
        total: None,
        has_more: None,
        stop_when: None,
    };
    assert!(next(&short, at, &h, json!({"items": [1, 2]})).unwrap().is_some());
    assert_eq!(next(&short, at, &h, json!({"items": [1]})), Ok(None));
}

#[test]
fn page_numbers_end_at_an_empty_page_or_total_pages() {
    let p = Pagination::Page {
        param: "page".into(),
        start: 1,
        total_pages: None,
        has_more: None,
        stop_when: None,
        page_size: None,
        page_size_param: None,
    };
    let h = HeaderMap::new();
    assert_eq!(
        next(&p, "https://a.test/x?page=1", &h, json!({"items": [1]}))
            .unwrap()
            .as_deref(),
        Some("https://a.test/x?page=2")
    );
    assert_eq!(
        next(&p, "https://a.test/x?page=9", &h, json!({"items": []})),
        Ok(None)
    );
    let t = Pagination::Page {
        param: "page".into(),
        start: 1,
        total_pages: Some("/pages".into()),
        has_more: None,
        stop_when: None,
        page_size: None,
        page_size_param: None,
    };
    assert_eq!(
        next(
            &t,
            "https://a.test/x?page=3",
            &h,
            json!({"items": [1], "pages": 3})
        ),
        Ok(None)
    );
    assert!(
        next(
            &t,
            "https://a.test/x?page=2",
            &h,
            json!({"items": [1], "pages": 3})
        )
        .unwrap()
        .is_some()
    );
}

#[test]
fn invalid_styles_are_refused_at_build_time() {
    assert!(
        Paginator::new(&Pagination::NextUrl {
            next: "next".into(),
            has_more: None
        })
        .is_err()
    );
    assert!(
        Paginator::new(&Pagination::Cursor {
            param: Some("c".into()),
            next: None,
            last_item: None,
            has_more: None,
            body_pointer: None,
            next_header: None,
            stop_when: None,
        })
        .is_err()
    );
    assert!(
        Paginator::new(&Pagination::Offset {
            offset_param: "o".into(),
            limit_param: "l".into(),
            limit: 0,
            total: None,
            has_more: None,
            stop_when: None,
        })
        .is_err()
    );
}

fn cursor(
    next: Option<&str>,
    last_item: Option<&str>,
    has_more: Option<&str>,
    stop_when: Option<&str>,
) -> Pagination {
    Pagination::Cursor {
        param: Some("c".into()),
        next: next.map(Into::into),
        last_item: last_item.map(Into::into),
        has_more: has_more.map(Into::into),
        body_pointer: None,
        next_header: None,
        stop_when: stop_when.map(Into::into),
    }
}

#[test]
fn cursors_of_any_scalar_type_and_inverted_stop_flags() {
    let h = HeaderMap::new();
    let at = "https://a.test/x?f=(a:b)";
    let p = cursor(Some("/next_page"), None, None, None);
    assert_eq!(
        next(&p, at, &h, json!({"next_page": 2})).unwrap().as_deref(),
        Some("https://a.test/x?f=(a:b)&c=2")
    );
    assert!(next(&p, at, &h, json!({"next_page": {"a": 1}})).is_err());
    let p = cursor(Some("/next"), None, None, Some("/end_of_stream"));
    assert_eq!(
        next(&p, at, &h, json!({"next": "t", "end_of_stream": true})),
        Ok(None)
    );
    assert!(
        next(&p, at, &h, json!({"next": "t", "end_of_stream": false}))
            .unwrap()
            .is_some()
    );
    assert!(next(&p, at, &h, json!({"next": "t"})).unwrap().is_some());
    assert!(next(&p, at, &h, json!({"next": "t", "end_of_stream": "yes"})).is_err());
}

#[test]
fn last_item_cursors_without_has_more_end_on_an_empty_page() {
    let h = HeaderMap::new();
    let p = cursor(None, Some("/id"), None, None);
    assert!(Paginator::new(&p).is_ok());
    assert_eq!(
        next(&p, "https://a.test/x", &h, json!({"items": [{"id": 7}]}))
            .unwrap()
            .as_deref(),
        Some("https://a.test/x?c=7")
    );
    assert_eq!(
        next(&p, "https://a.test/x?c=7", &h, json!({"items": []})),
        Ok(None)
    );
}

#[test]
fn page_style_ends_on_a_short_page_and_templates_carry_the_number() {
    let h = HeaderMap::new();
    let p = Pagination::Page {
        param: "page".into(),
        start: 1,
        total_pages: None,
        has_more: None,
        stop_when: None,
        page_size: Some(2),
        page_size_param: Some("per_page".into()),
    };
    let paginator = Paginator::new(&p).unwrap();
    assert_eq!(
        paginator.first_url(&u("https://a.test/x")).as_str(),
        "https://a.test/x?per_page=2&page=1"
    );
    assert!(
        next(&p, "https://a.test/x?page=1", &h, json!({"items": [1, 2]}))
            .unwrap()
            .is_some()
    );
    assert_eq!(
        next(&p, "https://a.test/x?page=1", &h, json!({"items": [1]})),
        Ok(None)
    );

    let base = u("https://a.test/{page}/info.json?q=(x)");
    let templated = Paginator::new(&p).unwrap().with_template(&base);
    let first = templated.first_url(&base);
    assert_eq!(first.as_str(), "https://a.test/1/info.json?q=(x)&per_page=2#n=1");
    let body = json!({"items": [1, 2]});
    let view = PageView {
        url: &first,
        base: &base,
        headers: &h,
        body: &body,
        items: 2,
        last_item: None,
    };
    let second = templated.next(&view).unwrap().unwrap();
    assert_eq!(second.as_str(), "https://a.test/2/info.json?q=(x)&per_page=2#n=2");
    assert_eq!(
        templated.predict_next(&second, &base).unwrap().as_str(),
        "https://a.test/3/info.json?q=(x)&per_page=2#n=3"
    );
}
