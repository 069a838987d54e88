//! The mock server's scripted error answers, for per-status and per-body
//! rules, and children whose parent points at a deleted resource.
//!
//! | route | what |
//! |---|---|
//! | `/scripted?page=P&on_page=K&status=S[&message=M][&times=T][&retry_after=R]` | `page` style (`{"items", "has_more"}`, the mock's items); page `K` answers status `S` (200 included) with `{"message": M}` and no items, the first `T` times it is asked for (every time without `times`), with `Retry-After: R` when given |
//! | `/children/item-I` | one page `{"items": [{"id": I*10+j, "parent": I}]}`, j < 2; **404** `{"message": "Not Found"}` when `I % 10 == 7` (a deleted resource) |

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::MockState;
use super::routes::{items_page, json_response, query};

/// Children per parent at `/children/item-I`.
pub const CHILDREN_PER_PARENT: usize = 2;

/// Whether parent `i`'s resource at `/children/item-I` is deleted (404).
pub fn child_deleted(i: usize) -> bool {
    i % 10 == 7
}

/// Child `j` of parent `i` at `/children/item-I`.
pub fn child_item(i: usize, j: usize) -> Value {
    json!({ "id": i * 10 + j, "parent": i })
}

/// How often each scripted URL was asked for.
#[derive(Debug, Default)]
pub(super) struct Scripted(Mutex<HashMap<String, u64>>);

impl Scripted {
    fn count(&self, url: &str) -> u64 {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(url.to_owned()).or_default();
        *n += 1;
        *n
    }
}

/// The response of a scripted route, `None` otherwise.
pub(super) fn route(state: &MockState, uri: &Uri) -> Option<Response> {
    let path = uri.path();
    if path == "/scripted" {
        return Some(scripted(state, uri));
    }
    let parent = path.strip_prefix("/children/item-")?;
    let Ok(i) = parent.parse::<usize>() else {
        return Some(json_response(
            StatusCode::NOT_FOUND,
            &json!({ "message": "Not Found" }),
        ));
    };
    if child_deleted(i) {
        return Some(json_response(
            StatusCode::NOT_FOUND,
            &json!({ "message": "Not Found" }),
        ));
    }
    let items: Vec<Value> = (0..CHILDREN_PER_PARENT).map(|j| child_item(i, j)).collect();
    Some(json_response(StatusCode::OK, &json!({ "items": items })))
}

fn scripted(state: &MockState, uri: &Uri) -> Response {
    let num = |name: &str| query(uri, name).and_then(|v| v.parse::<u64>().ok());
    let config = &state.config;
    let page = num("page").unwrap_or(1).max(1) as usize;
    let times = num("times");
    let asked = state.scripted.count(&uri.to_string());
    if num("on_page") == Some(page as u64) && times.is_none_or(|t| asked <= t) {
        let status = num("status")
            .and_then(|s| u16::try_from(s).ok())
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let message = query(uri, "message").unwrap_or_else(|| "scripted".to_owned());
        let mut response = json_response(status, &json!({ "message": message }));
        if let Some(r) = num("retry_after") {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(r));
        }
        return response;
    }
    items_page(config, page)
}
