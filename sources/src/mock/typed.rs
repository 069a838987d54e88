//! The mock server's typed items, for typed-table tests: every column
//! type, a nested array, a field that first appears on page 7 and one whose
//! type changes on page 9.
//!
//! | route | items |
//! |---|---|
//! | `/typed?page=P[&v=V][&bad=I][&late_from=L][&flex_from=F][&huge=J]` (from 1) | `{"items": [`[`typed_item`]`], "has_more"}`, `page` style: the configured items and pages; item `J`'s `comments` is `1e400` and its `labels` arrays nested 200 deep, and the page has `"meta": {"weight": 1e400, "pages": N}` ([`UNREADABLE_COMMENTS`], [`unreadable_labels`]): valid JSON a `serde_json::Value` cannot hold |

use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::MockState;
use super::routes::{json_response, page_range, query};

/// How the typed items vary (the route's query parameters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypedShape {
    /// `v`: item `i` has `(i + v) % 4` labels (default 0).
    pub version: usize,
    /// `bad`: this item's `comments` is `"many"`, not a number.
    pub bad: Option<usize>,
    /// `late_from`: the page (from 1) where `late` appears (default 7).
    pub late_from: usize,
    /// `flex_from`: the page where `flex` turns from an integer into a string (default 9).
    pub flex_from: usize,
}

impl Default for TypedShape {
    fn default() -> Self {
        Self {
            version: 0,
            bad: None,
            late_from: 7,
            flex_from: 9,
        }
    }
}

/// Item `i` (from 0, `per_page` a page) of `shape`.
pub fn typed_item(i: usize, per_page: usize, shape: TypedShape) -> Value {
    let TypedShape {
        version: v,
        bad,
        late_from,
        flex_from,
    } = shape;
    let page = i / per_page.max(1) + 1;
    let labels: Vec<Value> = (0..(i + v) % 4)
        .map(|l| json!({"name": format!("label-{l}"), "weight": l}))
        .collect();
    let mut item = json!({
        "id": i,
        "title": format!("issue {i}"),
        "comments": if bad == Some(i) { json!("many") } else { json!(i * 3) },
        "score": i as f64 + 0.5,
        "open": i.is_multiple_of(2),
        "created_at": format!("2024-05-01T{:02}:{:02}:00+02:00", 2 + (i / 60) % 20, i % 60),
        "day": format!("2024-05-{:02}", 1 + i % 28),
        "labels": labels,
        "user": {"login": format!("user-{}", i % 5)},
        "flex": if page >= flex_from { json!(format!("s{i}")) } else { json!(i) },
    });
    if page >= late_from {
        item["late"] = json!(format!("late-{i}"));
    }
    item
}

/// The `comments` of the `huge` item of `/typed`: valid JSON beyond `f64`'s range.
pub const UNREADABLE_COMMENTS: &str = "1e400";

/// The `labels` of the `huge` item of `/typed`: arrays nested 200 deep,
/// past serde_json's recursion limit (128).
pub fn unreadable_labels() -> String {
    format!("{}{}", "[".repeat(200), "]".repeat(200))
}

/// The response of `/typed`, `None` for any other route.
pub(super) fn route(state: &MockState, uri: &Uri) -> Option<Response> {
    if uri.path() != "/typed" {
        return None;
    }
    let config = &state.config;
    let num = |name| query(uri, name).and_then(|p| p.parse::<usize>().ok());
    let page = num("page").unwrap_or(1).max(1);
    let d = TypedShape::default();
    let shape = TypedShape {
        version: num("v").unwrap_or(d.version),
        bad: num("bad"),
        late_from: num("late_from").unwrap_or(d.late_from),
        flex_from: num("flex_from").unwrap_or(d.flex_from),
    };
    let pages = config.items.div_ceil(config.per_page.max(1));
    let huge = num("huge");
    let items: Vec<Value> = page_range(config, page - 1)
        .map(|i| {
            let mut item = typed_item(i, config.per_page, shape);
            if huge == Some(i) {
                // Stand-ins for what `json!` cannot build, replaced in the text.
                item["comments"] = json!("@@unreadable:comments@@");
                item["labels"] = json!("@@unreadable:labels@@");
            }
            item
        })
        .collect();
    let mut body = json!({ "items": items, "has_more": page < pages });
    if huge.is_none() {
        return Some(json_response(StatusCode::OK, &body));
    }
    // The envelope too, off the paginator's fields.
    body["meta"] = json!({ "weight": "@@unreadable:comments@@", "pages": pages });
    let text = body
        .to_string()
        .replace("\"@@unreadable:comments@@\"", UNREADABLE_COMMENTS)
        .replace("\"@@unreadable:labels@@\"", &unreadable_labels());
    Some(
        (
            StatusCode::OK,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            text,
        )
            .into_response(),
    )
}
