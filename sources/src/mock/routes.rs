//! The mock server's shared answers (JSON, a bad request, a page's
//! items), its limit routes (redirects, a gzip bomb, a drip) and the
//! dispatch to the pagination styles and HTML pages.

use std::io::Write;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{MockConfig, MockState, html_routes, item, paging_routes};

pub(super) fn query(uri: &Uri, name: &str) -> Option<String> {
    url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub(super) fn num(uri: &Uri, name: &str) -> Option<usize> {
    query(uri, name).and_then(|v| v.parse().ok())
}

pub(super) fn json_response(status: StatusCode, value: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

pub(super) fn bad_request(what: &str) -> Response {
    (StatusCode::BAD_REQUEST, what.to_owned()).into_response()
}

pub(super) fn page_range(config: &MockConfig, page: usize) -> std::ops::Range<usize> {
    let start = page.saturating_mul(config.per_page).min(config.items);
    let end = start.saturating_add(config.per_page).min(config.items);
    start..end
}

/// The `page` query parameter (from 1; 1 when missing or not a number).
pub(super) fn page_param(uri: &Uri) -> usize {
    num(uri, "page").unwrap_or(1).max(1)
}

/// Page `page` (from 1) of the items in the `page` style:
/// `{"items": [...], "has_more": …}`.
pub(super) fn items_page(config: &MockConfig, page: usize) -> Response {
    let items: Vec<Value> = page_range(config, page - 1).map(item).collect();
    let more = page < config.items.div_ceil(config.per_page);
    json_response(StatusCode::OK, &json!({ "items": items, "has_more": more }))
}

/// `&access_token=…` when the server requires one: next links carry it
/// back, as APIs that take a token in the query commonly do.
pub(super) fn echo_token(config: &MockConfig) -> String {
    config
        .require_access_token
        .as_ref()
        .map(|t| {
            format!(
                "&access_token={}",
                url::form_urlencoded::byte_serialize(t.as_bytes()).collect::<String>()
            )
        })
        .unwrap_or_default()
}

/// The response of `uri`: the pagination styles, the HTML pages, the
/// limit routes, `/status/CODE`, else 404.
pub(super) fn route(state: &MockState, uri: &Uri) -> Response {
    paging_routes::route(state, uri)
        .or_else(|| html_routes::route(state, uri))
        .or_else(|| limit_route(state, uri))
        .unwrap_or_else(|| status_or_missing(uri.path()))
}

/// Redirects, a gzip bomb and a drip-fed body, `None` for any other route.
fn limit_route(state: &MockState, uri: &Uri) -> Option<Response> {
    let config = &state.config;
    Some(match uri.path() {
        "/redirect/off-host" => redirect("http://elsewhere.invalid/page?page=1"),
        "/redirect/on-host" => redirect("/page?page=1"),
        "/gzip-bomb" => {
            let body = state
                .bomb
                .get_or_init(|| gzip_zeros(config.gzip_bomb_bytes))
                .clone();
            let mut response = Response::new(Body::from(body));
            let h = response.headers_mut();
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        "/drip" => drip(config.drip_interval),
        _ => return None,
    })
}

/// Ten items as a JSON array sent one byte per `interval`.
fn drip(interval: std::time::Duration) -> Response {
    let body = format!(
        "[{}]",
        (0..10).map(|i| item(i).to_string()).collect::<Vec<_>>().join(",")
    );
    let bytes = body.into_bytes();
    let stream = futures::stream::unfold(0usize, move |i| {
        let bytes = bytes.clone();
        async move {
            let b = *bytes.get(i)?;
            tokio::time::sleep(interval).await;
            Some((Ok::<Bytes, std::io::Error>(Bytes::from(vec![b])), i + 1))
        }
    });
    Response::new(Body::from_stream(stream))
}

/// `/status/CODE` answers `CODE` (400 when it is not one); any other path 404.
fn status_or_missing(path: &str) -> Response {
    if let Some(code) = path.strip_prefix("/status/") {
        let status = code
            .parse::<u16>()
            .ok()
            .and_then(|c| StatusCode::from_u16(c).ok())
            .unwrap_or(StatusCode::BAD_REQUEST);
        return (status, "scripted status").into_response();
    }
    (StatusCode::NOT_FOUND, "no such route").into_response()
}

fn redirect(location: &'static str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

fn gzip_zeros(size: usize) -> Bytes {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let block = vec![b' '; 64 * 1024];
    let mut left = size;
    while left > 0 {
        let n = left.min(block.len());
        if encoder.write_all(&block[..n]).is_err() {
            break;
        }
        left -= n;
    }
    Bytes::from(encoder.finish().unwrap_or_default())
}
