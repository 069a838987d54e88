//! The status page, `GET /`: one self-contained HTML document.
//!
//! Its inline script polls `/status` every second and renders one row per
//! collection, `<tr data-collection="NAME" data-state="STATE">`, with every
//! text set through `textContent` so names and errors are never parsed as
//! HTML. Nothing is loaded from elsewhere: a service may run without
//! internet. When the server has an admin token, the page asks for it once
//! (kept in the tab's `sessionStorage`) and then shows a "Run now" button
//! per collection.
//!
//! A row opens the collection's own view (`#c=NAME`, the link an alert
//! carries): its run history from `GET /collections/{name}/runs` as a table
//! and as inline SVG charts, its last errors and its config from
//! `GET /collections/{name}`. The overview sorts by a clicked column and
//! filters by a text box; both are kept in the fragment (`#q=…&sort=…`).
//!
//! The page is written as parts in `page/`: the document, its style sheet,
//! and its script in files by concern (helpers, charts, overview, the
//! collection's view, polling), put together into one document with one
//! inline `<style>` and one inline `<script>` when the server starts.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::response::IntoResponse;

use super::AppState;

const TEMPLATE: &str = include_str!("page/status.html");
const STYLE: &str = include_str!("page/status.css");
/// The script's parts, in order, inside one function scope: the later parts
/// call the earlier ones, and the last one starts polling.
const SCRIPT: [&str; 5] = [
    include_str!("page/common.js"),
    include_str!("page/charts.js"),
    include_str!("page/overview.js"),
    include_str!("page/collection.js"),
    include_str!("page/main.js"),
];

/// Where the page learns whether run-now is enabled.
const ADMIN_PLACEHOLDER: &str = "{{admin}}";

/// The page as served: rendered once when the server starts.
pub(super) fn render(admin_enabled: bool) -> Bytes {
    let admin = if admin_enabled { "on" } else { "off" };
    let mut script = String::from("\"use strict\";\n(function () {\n");
    for part in SCRIPT {
        script.push_str(part);
        script.push('\n');
    }
    script.push_str("})();\n");
    // The admin flag first: the style and script are inserted as they are.
    let page = TEMPLATE
        .replace(ADMIN_PLACEHOLDER, admin)
        .replacen("{{style}}", STYLE, 1)
        .replacen("{{script}}", &script, 1);
    Bytes::from(page)
}

/// The page's `Content-Security-Policy`: its own inline script and style
/// (by their SHA-256, so no other script can run even if text got into the
/// page), requests to its own origin (`/status`, run-now), nothing else.
pub(super) fn policy(page: &[u8]) -> HeaderValue {
    let page = String::from_utf8_lossy(page);
    let script = inline_hash(&page, "script");
    let style = inline_hash(&page, "style");
    let value = format!(
        "default-src 'none'; script-src {script}; style-src {style}; connect-src 'self'; \
         img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
}

/// `'sha256-…'` of the text of the page's first `<tag>` element (`'none'` without one).
fn inline_hash(page: &str, tag: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let Some(start) = page.find(&open).map(|i| i + open.len()) else {
        return "'none'".to_owned();
    };
    let Some(len) = page[start..].find(&close) else {
        return "'none'".to_owned();
    };
    let digest = sha2::Sha256::digest(&page.as_bytes()[start..start + len]);
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// `GET /`.
pub(super) async fn status_page(State(state): State<AppState>) -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
            (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (CONTENT_SECURITY_POLICY, state.page_policy),
        ],
        state.page,
    )
}
