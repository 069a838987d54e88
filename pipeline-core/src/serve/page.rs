//! The status page, `GET /`: one self-contained HTML document.
//!
//! Its inline script polls `/status` every second and renders one row per
//! collection, `<tr data-collection="NAME" data-state="STATE">`, with every
//! text set through `textContent` so names and errors are never parsed as
//! HTML. Nothing is loaded from elsewhere: a service may run without
//! internet. When the server has an admin token, the page asks for it once
//! (kept in the tab's `sessionStorage`) and then shows a "Run now" button
//! per collection.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;

use super::AppState;

const TEMPLATE: &str = include_str!("status.html");

/// Where the page learns whether run-now is enabled; the only placeholder.
const ADMIN_PLACEHOLDER: &str = "{{admin}}";

/// The page as served: rendered once when the server starts.
pub(super) fn render(admin_enabled: bool) -> Bytes {
    let admin = if admin_enabled { "on" } else { "off" };
    Bytes::from(TEMPLATE.replace(ADMIN_PLACEHOLDER, admin))
}

/// `GET /`.
pub(super) async fn status_page(State(state): State<AppState>) -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-cache"),
        ],
        state.page,
    )
}
