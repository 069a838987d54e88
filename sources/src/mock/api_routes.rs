//! The mock server's routes shaped like real APIs: a POST body cursor
//! (Notion style), a GraphQL connection (GitHub style), a cursor in a
//! response header. (The token endpoints are in `auth_routes.rs`.)

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::routes::{bad_request, json_response, query};
use super::{MockState, item};

/// The cursor of the `/search` page starting at item `start`.
pub fn search_cursor(start: usize) -> String {
    format!("n_{start}")
}

/// The GraphQL `endCursor` after item `index` (GitHub-like, opaque).
pub fn graphql_cursor(index: usize) -> String {
    format!("Y3Vyc29y{index}")
}

/// The message of the mock's GraphQL answer to a query that does not ask
/// for `issues`.
pub const GRAPHQL_ERROR: &str = "Field 'isues' doesn't exist on type 'Repository'";

/// The header carrying the next cursor on `/header_cursor`.
pub const NEXT_CURSOR_HEADER: &str = "X-Next-Cursor";

fn not_post() -> Response {
    (StatusCode::METHOD_NOT_ALLOWED, "POST only").into_response()
}

fn json_body(body: &Bytes) -> Option<Value> {
    serde_json::from_slice(body).ok()
}

/// The response of an API-shaped route, `None` when `uri` is not one.
pub(super) fn route(
    state: &MockState,
    method: &Method,
    _headers: &HeaderMap,
    uri: &Uri,
    body: &Bytes,
) -> Option<Response> {
    let config = &state.config;
    let per = config.per_page;
    Some(match uri.path() {
        "/search" => {
            if method != Method::POST {
                return Some(not_post());
            }
            let Some(request) = json_body(body) else {
                return Some(bad_request("body is not JSON"));
            };
            let size = request["page_size"]
                .as_u64()
                .map_or(per, |n| n as usize)
                .clamp(1, 1000);
            let start = match request.get("start_cursor") {
                None | Some(Value::Null) => 0,
                Some(Value::String(c)) => match c.strip_prefix("n_").and_then(|s| s.parse::<usize>().ok()) {
                    Some(s) => s,
                    None => return Some(bad_request("bad start_cursor")),
                },
                Some(_) => return Some(bad_request("start_cursor is not a string")),
            };
            let end = start.saturating_add(size).min(config.items);
            let results: Vec<Value> = (start.min(end)..end).map(item).collect();
            let more = end < config.items;
            json_response(
                StatusCode::OK,
                &json!({
                    "object": "list",
                    "results": results,
                    "next_cursor": if more { json!(search_cursor(end)) } else { Value::Null },
                    "has_more": more,
                }),
            )
        }
        "/graphql" => {
            if method != Method::POST {
                return Some(not_post());
            }
            let Some(request) = json_body(body) else {
                return Some(bad_request("body is not JSON"));
            };
            let asks_issues = request["query"].as_str().is_some_and(|q| q.contains("issues"));
            if !asks_issues {
                return Some(json_response(
                    StatusCode::OK,
                    &json!({ "errors": [{ "message": GRAPHQL_ERROR, "locations": [{ "line": 1, "column": 9 }] }] }),
                ));
            }
            let first = request
                .pointer("/variables/first")
                .and_then(Value::as_u64)
                .map_or(per, |n| n as usize);
            let start = match request.pointer("/variables/after") {
                None | Some(Value::Null) => 0,
                Some(Value::String(c)) => {
                    match c.strip_prefix("Y3Vyc29y").and_then(|s| s.parse::<usize>().ok()) {
                        Some(i) => i + 1,
                        None => return Some(bad_request("bad cursor")),
                    }
                }
                Some(_) => return Some(bad_request("after is not a string")),
            };
            let end = start.saturating_add(first.clamp(1, 100)).min(config.items);
            let nodes: Vec<Value> = (start.min(end)..end).map(item).collect();
            // As GitHub does, the last page still has an endCursor.
            let end_cursor = if end > start {
                json!(graphql_cursor(end - 1))
            } else {
                Value::Null
            };
            json_response(
                StatusCode::OK,
                &json!({ "data": { "repo": { "issues": {
                    "nodes": nodes,
                    "pageInfo": { "endCursor": end_cursor, "hasNextPage": end < config.items },
                } } } }),
            )
        }
        "/header_cursor" => {
            let start = match query(uri, "cursor") {
                None => 0,
                Some(c) => match c.strip_prefix("h_").and_then(|s| s.parse::<usize>().ok()) {
                    Some(s) => s,
                    None => return Some(bad_request("bad cursor")),
                },
            };
            let end = start.saturating_add(per).min(config.items);
            let items: Vec<Value> = (start.min(end)..end).map(item).collect();
            let mut response = json_response(StatusCode::OK, &Value::Array(items));
            // The last page sends the header empty.
            let next = if end < config.items {
                format!("h_{end}")
            } else {
                String::new()
            };
            if let Ok(v) = HeaderValue::from_str(&next) {
                response.headers_mut().insert(NEXT_CURSOR_HEADER, v);
            }
            response
        }
        _ => return None,
    })
}
