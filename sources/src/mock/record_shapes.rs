//! The mock server's record shapes: single objects, wildcard paths,
//! records that are an object's values, missing items, composite keys and
//! keyless items. Pages are `page` style (from 1, `per_page` items, empty
//! past the end).
//!
//! | route | body |
//! |---|---|
//! | `/shapes/me` | `{"me": {"id": "me", "name": "Ana"}, "meta": {"version": 1}}` |
//! | `/shapes/store` | the body is one object: `{"id": 1, "name": "The Store"}` |
//! | `/shapes/things/{id}` | `{"id": id, "detail": "thing id"}` (a number `id` as a number) |
//! | `/shapes/adaccounts?page=P` | `{"adaccounts": [{"adaccount": {"id": "act_I", "n": I}}]}`, `items` of them |
//! | `/shapes/rates?page=P` | `{"rates": {"2024-01-DD": {"eur": I}}}`: [`shape_rate_date`] of `items` days |
//! | `/shapes/sparse?page=P` | `{"data": [{"id": I}]}`; a page past the end has no `data` at all |
//! | `/shapes/tasks?page=P` | `{"items": [{"project_id", "id", "title"}]}`: [`shape_task`] `0..items` (ids repeat across projects) |
//! | `/shapes/projects?page=P` | `{"items": [{"id": P, "name": "project-P"}]}`, `P` in `1..=tree_repos` |
//! | `/shapes/projects/{p}/members?page=N` | `{"items": [{"email", "role"}]}`: [`shape_member`] `0..items`, the same emails in every project |
//! | `/shapes/mixed_ids?page=P` | `{"items": [{"id"}]}`: [`shape_mixed`] `0..items`, integer ids with some strings |
//! | `/shapes/stats?page=P` | `{"items": [{"day", "count"}]}`: [`shape_stat`] `0..items`, no key, some items equal |

use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::MockState;
use super::routes::{json_response, query};

/// The date (`2024-MM-DD`) of rate `i` (from 0), one a day from 2024-01-01.
pub fn shape_rate_date(i: usize) -> String {
    let day = i % 28;
    let month = 1 + (i / 28) % 12;
    format!("2024-{month:02}-{:02}", day + 1)
}

/// Task `i` (from 0): projects 1 to 3 in turn, ids repeating across them.
pub fn shape_task(i: usize) -> Value {
    json!({ "project_id": 1 + i % 3, "id": i / 3, "title": format!("task {i}") })
}

/// Member `j` (from 0) of any project: the same emails in every project.
pub fn shape_member(j: usize) -> Value {
    json!({ "email": format!("user{j}@example.test"), "role": if j.is_multiple_of(2) { "dev" } else { "ops" } })
}

/// Item `i` (from 0) of `/shapes/mixed_ids`: id `i` (an integer), but
/// `"name-i"` for every fifth and `"1"` (the text of item 1's id) for item 3.
pub fn shape_mixed(i: usize) -> Value {
    match i {
        3 => json!({ "id": "1", "n": i }),
        i if i % 5 == 4 => json!({ "id": format!("name-{i}"), "n": i }),
        i => json!({ "id": i, "n": i }),
    }
}

/// Stat `i` (from 0): no key; stats `i` and `i + 4` are equal.
pub fn shape_stat(i: usize) -> Value {
    json!({ "day": format!("d{}", i % 4), "count": i % 4 })
}

fn page_of(uri: &Uri) -> usize {
    query(uri, "page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1)
}

/// The indexes `0..total` on page `page` (from 1).
fn on_page(state: &MockState, uri: &Uri, total: usize) -> std::ops::Range<usize> {
    let per = state.config.per_page.max(1);
    let start = (page_of(uri) - 1).saturating_mul(per).min(total);
    start..(start + per).min(total)
}

fn items(list: impl Iterator<Item = Value>) -> Response {
    json_response(StatusCode::OK, &json!({ "items": list.collect::<Vec<_>>() }))
}

/// The response of a `/shapes/…` route, `None` when `uri` is not one.
pub(super) fn route(state: &MockState, uri: &Uri) -> Option<Response> {
    let n = state.config.items;
    let path = uri.path().strip_prefix("/shapes/")?;
    let segments: Vec<&str> = path.split('/').collect();
    Some(match segments.as_slice() {
        ["me"] => json_response(
            StatusCode::OK,
            &json!({ "me": { "id": "me", "name": "Ana" }, "meta": { "version": 1 } }),
        ),
        ["store"] => json_response(StatusCode::OK, &json!({ "id": 1, "name": "The Store" })),
        ["things", id] => {
            let id_value = id.parse::<u64>().map_or_else(|_| json!(id), |n| json!(n));
            json_response(
                StatusCode::OK,
                &json!({ "id": id_value, "detail": format!("thing {id}") }),
            )
        }
        ["adaccounts"] => {
            let accounts: Vec<Value> = on_page(state, uri, n)
                .map(|i| json!({ "adaccount": { "id": format!("act_{i}"), "n": i } }))
                .collect();
            json_response(StatusCode::OK, &json!({ "adaccounts": accounts }))
        }
        ["rates"] => {
            let rates: Map<String, Value> = on_page(state, uri, n)
                .map(|i| (shape_rate_date(i), json!({ "eur": i })))
                .collect();
            json_response(StatusCode::OK, &json!({ "rates": rates }))
        }
        ["sparse"] => {
            let range = on_page(state, uri, n);
            if range.is_empty() {
                json_response(StatusCode::OK, &json!({ "meta": { "empty": true } }))
            } else {
                let data: Vec<Value> = range.map(|i| json!({ "id": i })).collect();
                json_response(StatusCode::OK, &json!({ "data": data }))
            }
        }
        ["tasks"] => items(on_page(state, uri, n).map(shape_task)),
        ["projects"] => {
            let projects = state.config.tree_repos;
            items(
                on_page(state, uri, projects)
                    .map(|i| json!({ "id": i + 1, "name": format!("project-{}", i + 1) })),
            )
        }
        ["projects", p, "members"] if p.parse::<usize>().is_ok() => {
            items(on_page(state, uri, n).map(shape_member))
        }
        ["stats"] => items(on_page(state, uri, n).map(shape_stat)),
        ["mixed_ids"] => items(on_page(state, uri, n).map(shape_mixed)),
        _ => return None,
    })
}
