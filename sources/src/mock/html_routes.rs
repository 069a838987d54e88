//! The mock server's HTML pages: `/html?page=N`, pages linking to
//! themselves or each other, windows-1252 pages declared three ways, and a
//! deeply nested page (see the table in `mod.rs`).

use axum::body::Bytes;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::routes::{echo_token, num};
use super::{MockConfig, MockState};

/// The response of an HTML route, `None` when `uri` is not one.
pub(super) fn route(state: &MockState, uri: &Uri) -> Option<Response> {
    let config = &state.config;
    Some(match uri.path() {
        "/html" => {
            let page = num(uri, "page").unwrap_or(1).max(1);
            let echo = echo_token(config);
            let next = (page < config.html_pages).then(|| format!("/html?page={}{echo}", page + 1));
            html_page(config, page, next.as_deref())
        }
        "/html/latin1" => latin1_page("text/html; charset=windows-1252", ""),
        "/html/meta-charset" => latin1_page("text/html", "<meta charset=\"windows-1252\">"),
        "/html/meta-http-equiv" => latin1_page(
            "text/html",
            "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=ISO-8859-1\">",
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
        _ => return None,
    })
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
