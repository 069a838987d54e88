//! The mock server's bodies that are not one JSON document: XML feeds
//! (Atom, RSS 2.0, a generic XML API), JSON Lines, and a single JSON object.
//! Every route serves the collection's items ([`item`](super::item): ids
//! `0..items`), `per_page` a page, pages numbered from 1.
//!
//! | route | pagination | body |
//! |---|---|---|
//! | `/xml/atom?page=N` | `feed_next` (`<link rel="next">`, relative and absolute alternating) | Atom: [`atom_entry`]s |
//! | `/xml/rss?page=N` | `page` (an empty channel past the end) or `feed_next` (`atom:link`) | RSS 2.0: [`rss_item`]s |
//! | `/xml/records?page=N` | `next_url`, next = `/response/meta/next` (empty on the last page); `/response/meta/total` | `<response><records><record id="I"><name>item-I</name></record>…` |
//! | `/xml/latin1` | none | RSS page 1 in ISO-8859-1, declared only by the XML declaration; titles `Café I` |
//! | `/xml/deep` | none | `<a>` nested 100 deep |
//! | `/jsonl?page=N` | `page` (an empty body past the end) | one item a line, `application/x-ndjson` |
//! | `/jsonl/bad` | none | three lines, the second not JSON |
//! | `/object` | none | one JSON object, `{"id": 42, "name": "me", "plan": {…}}` |

use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::routes::{json_response, page_range, query};
use super::{MockState, item};

/// The Atom entry of item `i` (its `id` element is `i`).
pub fn atom_entry(i: usize, base: &str) -> String {
    format!(
        "<entry><id>{i}</id><title type=\"text\">item-{i}</title>\
         <link rel=\"alternate\" href=\"{base}/item/{i}\"/><category term=\"c{}\"/>\
         <updated>2024-01-01T00:00:00Z</updated>\
         <content type=\"html\">&lt;p&gt;item {i} &amp; more&lt;/p&gt;</content></entry>",
        i % 3
    )
}

/// The RSS item of item `i` (its `guid` is `i`, not a permalink).
pub fn rss_item(i: usize) -> String {
    format!(
        "<item><title>item-{i}</title><guid isPermaLink=\"false\">{i}</guid>\
         <description><![CDATA[<b>{i}</b> & more]]></description><dc:creator>ann</dc:creator></item>"
    )
}

fn xml(content_type: &'static str, body: String) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// The response of a format route, `None` when `uri` is not one.
pub(super) fn route(state: &MockState, uri: &Uri) -> Option<Response> {
    let config = &state.config;
    let base = &state.base;
    let page = query(uri, "page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let range = page_range(config, page - 1);
    let more = range.end < config.items;
    Some(match uri.path() {
        "/xml/atom" => {
            let next = match (more, page.is_multiple_of(2)) {
                (false, _) => String::new(),
                (true, true) => format!("<link rel=\"next\" href=\"{base}/xml/atom?page={}\"/>", page + 1),
                (true, false) => format!("<link href=\"?page={}\" rel=\"next\"/>", page + 1),
            };
            let entries: String = range.map(|i| atom_entry(i, base)).collect();
            xml(
                "application/atom+xml",
                format!(
                    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\
                     <title>Mock</title><id>urn:mock</id><link rel=\"self\" href=\"{base}/xml/atom?page={page}\"/>{next}\n{entries}</feed>"
                ),
            )
        }
        "/xml/rss" => {
            let next = if more {
                format!(
                    "<atom:link rel=\"next\" href=\"{base}/xml/rss?page={}\"/>",
                    page + 1
                )
            } else {
                String::new()
            };
            let items: String = range.map(rss_item).collect();
            xml("application/rss+xml; charset=utf-8", rss(&next, &items))
        }
        "/xml/latin1" => {
            let items: String = page_range(config, 0)
                .map(|i| format!("<item><guid>{i}</guid><title>Caf\u{e9} {i}</title></item>"))
                .collect();
            let text = rss("", &items).replace("encoding=\"utf-8\"", "encoding=\"ISO-8859-1\"");
            let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(&text);
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/xml")],
                bytes.into_owned(),
            )
                .into_response()
        }
        "/xml/records" => {
            let next = if more {
                format!("{base}/xml/records?page={}", page + 1)
            } else {
                String::new()
            };
            let records: String = range
                .map(|i| format!("<record id=\"{i}\"><name>item-{i}</name></record>"))
                .collect();
            xml(
                "application/xml",
                format!(
                    "<response><meta><total>{}</total><next>{}</next></meta><records>{records}</records></response>",
                    config.items,
                    next.replace('&', "&amp;")
                ),
            )
        }
        "/xml/deep" => xml(
            "application/xml",
            format!("{}{}", "<a>".repeat(100), "</a>".repeat(100)),
        ),
        "/jsonl" => {
            let lines: String = range.map(|i| format!("{}\n", item(i))).collect();
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/x-ndjson")],
                lines,
            )
                .into_response()
        }
        "/jsonl/bad" => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/x-ndjson")],
            format!("{}\n{{\"id\": 1,\n{}\n", item(0), item(2)),
        )
            .into_response(),
        "/object" => json_response(
            StatusCode::OK,
            &json!({"id": 42, "name": "me", "plan": {"name": "pro", "seats": 3}}),
        ),
        _ => return None,
    })
}

/// An RSS 2.0 document with `extra` in its channel before `items`.
fn rss(extra: &str, items: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\" xmlns:atom=\"http://www.w3.org/2005/Atom\" \
         xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><channel><title>Mock &amp; co</title>\
         <link>http://mock.example/</link>{extra}\n{items}</channel></rss>"
    )
}
