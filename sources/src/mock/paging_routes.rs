//! The mock server's JSON pagination styles (`/link`, `/next_url`,
//! `/cursor`, `/stripe`, `/offset`, `/page`), two JSON pages linking to each
//! other, and malformed pages (`/invalid/…`): see the table in `mod.rs`.

use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::routes::{bad_request, echo_token, items_page, json_response, num, page_param, page_range, query};
use super::{MockConfig, MockState, item, stripe_id};

/// The response of a pagination-style route, `None` when `uri` is not one.
pub(super) fn route(state: &MockState, uri: &Uri) -> Option<Response> {
    let config = &state.config;
    let echo = echo_token(config);
    Some(match uri.path() {
        "/link" => link(config, &state.base, &echo, uri),
        "/next_url" => next_url(config, &state.base, &echo, uri),
        "/cursor" => cursor(config, uri),
        "/stripe" => stripe(config, uri),
        "/next_more" => next_more(config, uri),
        "/offset" => offset(config, uri),
        "/page" => items_page(config, page_param(uri)),
        "/json/loop-a" => json_response(
            StatusCode::OK,
            &json!({ "items": [item(0), item(1)], "next": format!("/json/loop-b?x=1{echo}") }),
        ),
        "/json/loop-b" => json_response(
            StatusCode::OK,
            &json!({ "items": [item(2), item(3)], "next": format!("/json/loop-a?x=1{echo}") }),
        ),
        "/invalid/json" => (StatusCode::OK, "{\"items\": [1, 2,").into_response(),
        "/invalid/not-array" => json_response(StatusCode::OK, &json!({ "items": "unavailable" })),
        "/invalid/cursor" => json_response(
            StatusCode::OK,
            &json!({ "items": [item(0)], "response_metadata": { "next_cursor": { "page": 42 } } }),
        ),
        _ => return None,
    })
}

/// `/next_more?page=N`: a next link on every page, the last included, so
/// only `has_more` ends the collection.
fn next_more(config: &MockConfig, uri: &Uri) -> Response {
    let page = num(uri, "page").unwrap_or(1).max(1);
    let items: Vec<Value> = page_range(config, page - 1).map(item).collect();
    json_response(
        StatusCode::OK,
        &json!({
            "items": items,
            "has_more": page < pages(config),
            "next_page": format!("/next_more?page={}", page + 1),
        }),
    )
}

/// How many pages of `per_page` the collection has.
fn pages(config: &MockConfig) -> usize {
    config.items.div_ceil(config.per_page)
}

/// `/link?page=N`: an array, the next and last pages in a `Link` header.
fn link(config: &MockConfig, base: &str, echo: &str, uri: &Uri) -> Response {
    let pages = pages(config);
    let page = num(uri, "page").unwrap_or(1).max(1);
    let items: Vec<Value> = page_range(config, page - 1).map(item).collect();
    let mut response = json_response(StatusCode::OK, &Value::Array(items));
    let mut links = vec![format!(r#"</link?page={pages}>; rel="last""#)];
    if page < pages {
        // Relative and absolute links alternate; a quoted comma tests the parser.
        let target = if page.is_multiple_of(2) {
            format!("{base}/link?page={}{echo}", page + 1)
        } else {
            format!("/link?page={}{echo}", page + 1)
        };
        links.insert(0, format!(r#"<{target}>; title="next, please"; rel="next""#));
    }
    if let Ok(v) = HeaderValue::from_str(&links.join(", ")) {
        response.headers_mut().insert(header::LINK, v);
    }
    response
}

/// `/next_url?page=N`: OData's `value` and `@odata.nextLink`.
fn next_url(config: &MockConfig, base: &str, echo: &str, uri: &Uri) -> Response {
    let page = num(uri, "page").unwrap_or(1).max(1);
    let items: Vec<Value> = page_range(config, page - 1).map(item).collect();
    let mut body = json!({ "value": items });
    if page < pages(config) {
        body["@odata.nextLink"] = if page.is_multiple_of(2) {
            json!(format!("{base}/next_url?page={}{echo}", page + 1))
        } else {
            json!(format!("next_url?page={}{echo}", page + 1))
        };
    } else if page.is_multiple_of(2) {
        body["@odata.nextLink"] = Value::Null;
    }
    json_response(StatusCode::OK, &body)
}

/// `/cursor?cursor=T`: Slack's `response_metadata.next_cursor`.
fn cursor(config: &MockConfig, uri: &Uri) -> Response {
    let start = match query(uri, "cursor") {
        None => 0,
        Some(c) => match c.strip_prefix("c_").and_then(|s| s.parse::<usize>().ok()) {
            Some(s) => s,
            None => return bad_request("bad cursor"),
        },
    };
    let end = (start + config.per_page).min(config.items);
    let items: Vec<Value> = (start..end).map(item).collect();
    let next = if end < config.items {
        format!("c_{end}")
    } else {
        String::new()
    };
    json_response(
        StatusCode::OK,
        &json!({ "ok": true, "items": items, "response_metadata": { "next_cursor": next } }),
    )
}

/// `/stripe?starting_after=ID`: Stripe's list objects.
fn stripe(config: &MockConfig, uri: &Uri) -> Response {
    let limit = num(uri, "limit").unwrap_or(config.per_page).max(1);
    let start = match query(uri, "starting_after") {
        None => 0,
        Some(id) => match id.strip_prefix("obj_").and_then(|s| s.parse::<usize>().ok()) {
            Some(i) => i + 1,
            None => return bad_request("bad starting_after"),
        },
    };
    let end = (start + limit).min(config.items);
    let data: Vec<Value> = (start..end)
        .map(|i| json!({ "id": stripe_id(i), "n": i }))
        .collect();
    json_response(
        StatusCode::OK,
        &json!({ "object": "list", "data": data, "has_more": end < config.items }),
    )
}

/// `/offset?offset=O&limit=L`: `results` and a `total`.
fn offset(config: &MockConfig, uri: &Uri) -> Response {
    let offset = num(uri, "offset").unwrap_or(0);
    let limit = num(uri, "limit").unwrap_or(config.per_page).clamp(1, 1000);
    let start = offset.min(config.items);
    let end = (start + limit).min(config.items);
    let results: Vec<Value> = (start..end).map(item).collect();
    json_response(
        StatusCode::OK,
        &json!({ "results": results, "total": config.items, "has_more": end < config.items }),
    )
}
