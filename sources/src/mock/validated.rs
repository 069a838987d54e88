//! Pages with validators, for conditional requests: `/validated?page=P`
//! (from 1; `next_url` style, next = `/next`, items `/items`) serves the
//! collection's items with an `ETag` and a `Last-Modified` per page, and
//! answers `304 Not Modified` (no body) when the request's
//! `If-None-Match` (or, without one, `If-Modified-Since`) matches.
//! [`MockServer::change_validated_page`](super::MockServer::change_validated_page)
//! gives a page new content (each item's `rev`) and so a new validator;
//! the server counts the body bytes it sent on this route, the `304`s, and
//! the requests that carried a validator.
//!
//! `/validated?page=P&weak=1` serves the same pages with a weak `ETag` and
//! no `Last-Modified` (next links keep `weak=1`); `&dated=1` the same with
//! a `Last-Modified` only.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::MockState;
use super::routes::{page_range, query};

/// The pages' revisions and what the route has sent.
#[derive(Debug, Default)]
pub(super) struct Validated {
    revs: Mutex<HashMap<usize, u64>>,
    bytes: AtomicU64,
    not_modified: AtomicU64,
    conditional: AtomicU64,
}

/// What `/validated` has sent so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ValidatedCounts {
    /// Bytes of its answers: status line, the headers the route sets, body.
    pub bytes: u64,
    /// `304 Not Modified` answers.
    pub not_modified: u64,
    /// Requests that carried `If-None-Match` or `If-Modified-Since`.
    pub conditional: u64,
}

impl Validated {
    /// Gives page `page` (from 1) its next revision.
    pub(super) fn change(&self, page: usize) {
        *self
            .revs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(page)
            .or_default() += 1;
    }

    fn rev(&self, page: usize) -> u64 {
        let revs = self.revs.lock().unwrap_or_else(|e| e.into_inner());
        revs.get(&page).copied().unwrap_or(0)
    }

    pub(super) fn counts(&self) -> ValidatedCounts {
        ValidatedCounts {
            bytes: self.bytes.load(Ordering::SeqCst),
            not_modified: self.not_modified.load(Ordering::SeqCst),
            conditional: self.conditional.load(Ordering::SeqCst),
        }
    }
}

/// The `Last-Modified` of a page at revision `rev`: a fixed day, one hour
/// later per revision.
fn last_modified(rev: u64) -> String {
    format!("Tue, 01 Dec 2026 {:02}:00:00 GMT", rev.min(23))
}

/// The bytes of an answer's status line and of the headers the route sets.
fn head_bytes(status: &str, headers: &HeaderMap) -> u64 {
    let lines: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + 2 + value.len() + 2)
        .sum();
    ("HTTP/1.1 ".len() + status.len() + 2 + lines + 2) as u64
}

pub(super) fn route(state: &MockState, headers: &HeaderMap, uri: &Uri) -> Option<Response> {
    if uri.path() != "/validated" {
        return None;
    }
    let v = &state.validated;
    let page: usize = query(uri, "page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let weak = query(uri, "weak").is_some();
    let dated = query(uri, "dated").is_some();
    let rev = v.rev(page);
    let etag = match weak {
        true => format!("W/\"p{page}-r{rev}\""),
        false => format!("\"p{page}-r{rev}\""),
    };
    let modified = last_modified(rev);
    let if_none_match = headers.get(header::IF_NONE_MATCH).and_then(|h| h.to_str().ok());
    let if_modified_since = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|h| h.to_str().ok());
    if if_none_match.is_some() || if_modified_since.is_some() {
        v.conditional.fetch_add(1, Ordering::SeqCst);
    }
    // If-None-Match wins over If-Modified-Since (RFC 9110, 13.2.2); a weak
    // comparison, as for GET.
    let unchanged = match (if_none_match, if_modified_since) {
        (Some(tags), _) if !dated => tags
            .split(',')
            .any(|t| t.trim().trim_start_matches("W/") == etag.trim_start_matches("W/")),
        (_, Some(since)) if !weak => since == modified,
        _ => false,
    };
    let mut out = HeaderMap::new();
    if !dated {
        out.insert(header::ETAG, HeaderValue::from_str(&etag).ok()?);
    }
    if !weak {
        out.insert(header::LAST_MODIFIED, HeaderValue::from_str(&modified).ok()?);
    }
    if unchanged {
        v.not_modified.fetch_add(1, Ordering::SeqCst);
        v.bytes
            .fetch_add(head_bytes("304 Not Modified", &out), Ordering::SeqCst);
        return Some((StatusCode::NOT_MODIFIED, out).into_response());
    }
    let config = &state.config;
    let range = page_range(config, page - 1);
    let items: Vec<_> = range
        .clone()
        .map(|i| json!({ "id": i, "name": format!("item-{i}"), "rev": rev }))
        .collect();
    let flags = match (weak, dated) {
        (true, _) => "&weak=1",
        (false, true) => "&dated=1",
        (false, false) => "",
    };
    let next =
        (range.end < config.items).then(|| format!("{}/validated?page={}{flags}", state.base, page + 1));
    let body = json!({ "items": items, "next": next }).to_string();
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let sent = head_bytes("200 OK", &out) + body.len() as u64;
    v.bytes.fetch_add(sent, Ordering::SeqCst);
    Some((StatusCode::OK, out, body).into_response())
}
