//! The mock server's routes: every pagination style, HTML pages, limits.

use std::io::Write;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{MockConfig, MockState, item, stripe_id};

pub(super) fn query(uri: &Uri, name: &str) -> Option<String> {
    url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn num(uri: &Uri, name: &str) -> Option<usize> {
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

/// `&access_token=…` when the server requires one: next links carry it
/// back, as APIs that take a token in the query commonly do.
fn echo_token(config: &MockConfig) -> String {
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

pub(super) async fn route(state: &MockState, uri: &Uri) -> Response {
    let config = &state.config;
    let base = &state.base;
    let echo = echo_token(config);
    let per = config.per_page;
    let pages = config.items.div_ceil(per);
    match uri.path() {
        "/link" => {
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
        "/next_url" => {
            let page = num(uri, "page").unwrap_or(1).max(1);
            let items: Vec<Value> = page_range(config, page - 1).map(item).collect();
            let mut body = json!({ "value": items });
            if page < pages {
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
        "/cursor" => {
            let start = match query(uri, "cursor") {
                None => 0,
                Some(c) => match c.strip_prefix("c_").and_then(|s| s.parse::<usize>().ok()) {
                    Some(s) => s,
                    None => return bad_request("bad cursor"),
                },
            };
            let end = (start + per).min(config.items);
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
        "/stripe" => {
            let limit = num(uri, "limit").unwrap_or(per).max(1);
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
        "/offset" => {
            let offset = num(uri, "offset").unwrap_or(0);
            let limit = num(uri, "limit").unwrap_or(per).clamp(1, 1000);
            let start = offset.min(config.items);
            let end = (start + limit).min(config.items);
            let results: Vec<Value> = (start..end).map(item).collect();
            json_response(
                StatusCode::OK,
                &json!({ "results": results, "total": config.items, "has_more": end < config.items }),
            )
        }
        "/next_more" => {
            // A next link on every page, the last included: only has_more ends.
            let page = num(uri, "page").unwrap_or(1).max(1);
            let items: Vec<Value> = page_range(config, page - 1).map(item).collect();
            json_response(
                StatusCode::OK,
                &json!({
                    "items": items,
                    "has_more": page < pages,
                    "next_page": format!("/next_more?page={}", page + 1),
                }),
            )
        }
        "/page" => {
            let page = num(uri, "page").unwrap_or(1).max(1);
            let items: Vec<Value> = page_range(config, page - 1).map(item).collect();
            json_response(
                StatusCode::OK,
                &json!({ "items": items, "has_more": page < pages }),
            )
        }
        "/html" => {
            let page = num(uri, "page").unwrap_or(1).max(1);
            let next = (page < config.html_pages).then(|| format!("/html?page={}{echo}", page + 1));
            html_page(config, page, next.as_deref())
        }
        "/html/latin1" => latin1_page("text/html; charset=windows-1252", ""),
        "/html/meta-charset" => latin1_page("text/html", "<meta charset=\"windows-1252\">"),
        "/html/meta-http-equiv" => latin1_page(
            "text/html",
            "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=ISO-8859-1\">",
        ),
        "/json/loop-a" => json_response(
            StatusCode::OK,
            &json!({ "items": [item(0), item(1)], "next": format!("/json/loop-b?x=1{echo}") }),
        ),
        "/json/loop-b" => json_response(
            StatusCode::OK,
            &json!({ "items": [item(2), item(3)], "next": format!("/json/loop-a?x=1{echo}") }),
        ),
        "/html/self" => html_page(config, 1, Some("/html/self")),
        "/html/loop-a" => html_page(config, 1, Some("/html/loop-b")),
        "/html/loop-b" => html_page(config, 2, Some("/html/loop-a")),
        "/html/deep" => {
            let doc = format!(
                "<html><body>{}x{}</body></html>",
                "<div>".repeat(10_000),
                "</div>".repeat(10_000)
            );
            html_response(doc)
        }
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
        "/drip" => {
            let interval = config.drip_interval;
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
        "/invalid/json" => (StatusCode::OK, "{\"items\": [1, 2,").into_response(),
        "/invalid/not-array" => json_response(StatusCode::OK, &json!({ "items": "unavailable" })),
        "/invalid/cursor" => json_response(
            StatusCode::OK,
            &json!({ "items": [item(0)], "response_metadata": { "next_cursor": { "page": 42 } } }),
        ),
        path => {
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
    }
}

fn redirect(location: &'static str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

fn html_response(doc: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        doc,
    )
        .into_response()
}

/// The text of every item title on the mock's windows-1252 pages (before
/// the item number): non-ASCII in both ISO-8859-1 and windows-1252's extras.
pub const LATIN1_TEXT: &str = "Café “naïve” – Größe";

/// An HTML page of three items titled [`LATIN1_TEXT`] and their number,
/// encoded in windows-1252, with its charset in `content_type` or in `meta`.
fn latin1_page(content_type: &'static str, meta: &str) -> Response {
    let mut doc = format!("<!DOCTYPE html><html><head>{meta}<title>{LATIN1_TEXT}</title></head><body>");
    for i in 0..3 {
        doc.push_str(&format!(
            "<section id=\"item-{i}\" class=\"item\"><h2>{LATIN1_TEXT} {i}</h2></section>"
        ));
    }
    doc.push_str("</body></html>");
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(&doc);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, content_type)],
        Bytes::from(bytes.into_owned()),
    )
        .into_response()
}

/// The global index of item `k` on HTML page `page` (from 1).
pub fn html_item_index(config: &MockConfig, page: usize, k: usize) -> usize {
    (page - 1) * config.html_items_per_page + k
}

fn html_page(config: &MockConfig, page: usize, next: Option<&str>) -> Response {
    let mut doc = String::with_capacity(config.html_padding + 4096);
    doc.push_str("<!DOCTYPE html><html><head><meta charset=\"utf-8\">");
    doc.push_str(&format!("<title>Page {page}</title>"));
    if let Some(next) = next {
        doc.push_str(&format!("<link rel=\"next\" href=\"{next}\">"));
    }
    doc.push_str("</head><body><main>");
    if page <= config.html_pages {
        let filler_per_item = config.html_padding / config.html_items_per_page.max(1);
        for k in 0..config.html_items_per_page {
            let i = html_item_index(config, page, k);
            doc.push_str(&format!(
                "<section id=\"item-{i}\" class=\"item\"><h2>Item {i}</h2><a class=\"more\" href=\"/item/{i}\">more</a><div class=\"body\"><p>"
            ));
            // Filler: ordinary nested markup, so parsing work grows with size.
            let mut written = 0;
            while written < filler_per_item {
                let chunk = "<span>lorem ipsum dolor</span> sit amet, <em>consectetur</em> adipiscing. ";
                doc.push_str(chunk);
                written += chunk.len();
            }
            doc.push_str("</p></div></section>");
        }
    }
    doc.push_str("</main></body></html>");
    html_response(doc)
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
