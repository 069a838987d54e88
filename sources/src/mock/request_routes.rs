//! Routes for request shapes: date-windowed events, page numbers and
//! offsets written into the URL, scalar cursors and stop flags, pages that
//! end short, empty or with 204, `last_item` cursors without `has_more`,
//! form bodies and an echo of what a request carried.
//!
//! | route | shape |
//! |---|---|
//! | `/events?from=T&to=T&page=P` | events of `[from, to)` (RFC 3339, a date, or epoch seconds; a POST gives them in its body as `{"range": {"from", "to"}}`), `per_page` a page: `{"events": [{"id", "at"}], "has_more"}`; event `i` is at [`event_time`]`(i)` |
//! | `/numbered/{P}/info.json` | page `P` (from 1) as `{"items": [...]}`, empty past the end |
//! | `/slice?range=O,N` | items `O..O+N` as an array |
//! | `/scalar?page=P` | `{"items", "next_page": P + 1 (a number, always), "end_of_stream": last page}` |
//! | `/ending?page=P&end=short\|empty\|204` | full pages of `per_page`, then: a short last page, an empty body, or a 204 |
//! | `/after?after=ID` | items with id above `ID` (`per_page` at most), an empty array at the end |
//! | `POST /form` | a form body `page=P` (from 1): `{"items": [...], "next": P + 1 or null}`; anything but a form is a 415 |
//! | `/echo` (GET or POST) | one item `{"id": <the JSON body's id, else 1>, "body": <the body>, "x_parent": <header X-Parent>}` |

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::routes::{bad_request, json_response, num, page_range, query};
use super::{MockConfig, MockState, item};

/// When event `i` of `/events` happened: every hour from 2024-01-01T00:00:00Z.
pub fn event_time(i: usize) -> Timestamp {
    let hours = i64::try_from(i).unwrap_or(i64::MAX);
    Timestamp::from_second(1_704_067_200)
        .ok()
        .and_then(|t| t.checked_add(SignedDuration::from_hours(hours)).ok())
        .unwrap_or(Timestamp::MAX)
}

fn read_time(text: &str) -> Option<Timestamp> {
    if let Ok(secs) = text.parse::<i64>() {
        return Timestamp::from_second(secs).ok();
    }
    crate::dates::DateFormat::Rfc3339.read(text).ok()
}

/// The response of a request-shape route, `None` when `uri` is not one.
pub(super) fn route(
    state: &MockState,
    method: &Method,
    headers: &HeaderMap,
    uri: &Uri,
    body: &Bytes,
) -> Option<Response> {
    let config = &state.config;
    let path = uri.path();
    if let Some(rest) = path.strip_prefix("/numbered/") {
        let page = rest.strip_suffix("/info.json")?.parse::<usize>().ok()?.max(1);
        let items: Vec<Value> = page_range(config, page - 1).map(item).collect();
        return Some(json_response(StatusCode::OK, &json!({ "items": items })));
    }
    Some(match path {
        "/events" => events(config, method, uri, body),
        "/slice" => slice(config, uri),
        "/scalar" => {
            let page = num(uri, "page").unwrap_or(1).max(1);
            let items: Vec<Value> = page_range(config, page - 1).map(item).collect();
            let last = page >= config.items.div_ceil(config.per_page);
            json_response(
                StatusCode::OK,
                &json!({ "items": items, "next_page": page + 1, "end_of_stream": last }),
            )
        }
        "/ending" => ending(config, uri),
        "/after" => after(config, uri),
        "/form" => form(config, method, headers, body),
        "/echo" => echo(headers, body),
        _ => return None,
    })
}

/// `/events`: the events of a time range (in the query, or a POST's body).
fn events(config: &MockConfig, method: &Method, uri: &Uri, body: &Bytes) -> Response {
    let per = config.per_page;
    // A POST carries the range in its JSON body: `{"range": {"from", "to"}}`.
    let posted: Option<Value> = (method == Method::POST)
        .then(|| serde_json::from_slice(body).ok())
        .flatten();
    let bound = |name: &str| match &posted {
        Some(b) => b
            .pointer(&format!("/range/{name}"))
            .and_then(Value::as_str)
            .and_then(read_time),
        None => query(uri, name).as_deref().and_then(read_time),
    };
    let (Some(from), Some(to)) = (bound("from"), bound("to")) else {
        return bad_request("from and to are required times");
    };
    let page = num(uri, "page").unwrap_or(1).max(1);
    let inside: Vec<usize> = (0..config.items)
        .filter(|&i| (from..to).contains(&event_time(i)))
        .collect();
    let start = (page - 1).saturating_mul(per).min(inside.len());
    let end = start.saturating_add(per).min(inside.len());
    let events: Vec<Value> = inside[start..end]
        .iter()
        .map(|&i| json!({ "id": i, "at": event_time(i).to_string() }))
        .collect();
    json_response(
        StatusCode::OK,
        &json!({ "events": events, "has_more": end < inside.len() }),
    )
}

/// `/slice?range=O,N`: items `O..O+N` as an array.
fn slice(config: &MockConfig, uri: &Uri) -> Response {
    let range = query(uri, "range").unwrap_or_default();
    let Some((o, n)) = range
        .split_once(',')
        .and_then(|(o, n)| Some((o.parse::<usize>().ok()?, n.parse::<usize>().ok()?)))
    else {
        return bad_request("range is OFFSET,COUNT");
    };
    let end = o.saturating_add(n).min(config.items);
    let items: Vec<Value> = (o.min(end)..end).map(item).collect();
    json_response(StatusCode::OK, &Value::Array(items))
}

/// `/ending?page=P&end=…`: full pages, then a short, empty or 204 ending.
fn ending(config: &MockConfig, uri: &Uri) -> Response {
    let page = num(uri, "page").unwrap_or(1).max(1);
    let end = query(uri, "end").unwrap_or_default();
    let range = page_range(config, page - 1);
    if range.is_empty() {
        return match end.as_str() {
            "204" => StatusCode::NO_CONTENT.into_response(),
            "empty" => (StatusCode::OK, "").into_response(),
            _ => json_response(StatusCode::OK, &json!({ "items": [] })),
        };
    }
    let items: Vec<Value> = range.map(item).collect();
    json_response(StatusCode::OK, &json!({ "items": items }))
}

/// `/after?after=ID`: the items with an id above `ID`.
fn after(config: &MockConfig, uri: &Uri) -> Response {
    let after = match query(uri, "after") {
        None => 0,
        Some(a) => match a.parse::<usize>() {
            Ok(a) => a + 1,
            Err(_) => return bad_request("after is an id"),
        },
    };
    let end = after.saturating_add(config.per_page).min(config.items);
    let items: Vec<Value> = (after.min(end)..end).map(item).collect();
    json_response(StatusCode::OK, &Value::Array(items))
}

/// `POST /form`: the page a form body names; anything but a form is a 415.
fn form(config: &MockConfig, method: &Method, headers: &HeaderMap, body: &Bytes) -> Response {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if method != Method::POST || !form {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "a form POST only").into_response();
    }
    let page = url::form_urlencoded::parse(body)
        .find(|(k, _)| k == "page")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let items: Vec<Value> = page_range(config, page - 1).map(item).collect();
    let next = (page < config.items.div_ceil(config.per_page)).then(|| page + 1);
    json_response(StatusCode::OK, &json!({ "items": items, "next": next }))
}

/// `/echo`: one item carrying the request's body and `X-Parent` header.
fn echo(headers: &HeaderMap, body: &Bytes) -> Response {
    let sent = serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()));
    let parent = headers
        .get("x-parent")
        .and_then(|v| v.to_str().ok())
        .map_or(Value::Null, |v| Value::String(v.to_owned()));
    let id = sent.get("id").cloned().unwrap_or(json!(1));
    json_response(
        StatusCode::OK,
        &json!({ "items": [{ "id": id, "body": sent, "x_parent": parent }] }),
    )
}
