//! The mock server's request quota: a budget per token, announced in
//! rate-limit headers, with 429 past it.
//!
//! | route | what |
//! |---|---|
//! | `/quota?page=P&limit=L&window=W&style=S` | `page` style from 1, has_more = `/has_more`; `{"items": [...], "has_more": …}` |
//!
//! Each token (the `Authorization` header as sent, or none) has `L`
//! requests (default 20) per window of `W` whole seconds (default 2);
//! windows are aligned to multiples of `W` seconds of the Unix epoch, so
//! an epoch reset in whole seconds is exact. Every answer announces the
//! budget, in the style `S`:
//!
//! - `github` (default): `X-RateLimit-Limit`, `-Remaining`, `-Reset` (epoch seconds);
//! - `ietf`: `RateLimit-Policy: "default";q=L;w=W` and
//!   `RateLimit: "default";r=R;t=T` (seconds to the reset, rounded up).
//!
//! A request past the budget gets 429 with `Retry-After` (counted by
//! [`MockServer::quota_refusals`](super::MockServer::quota_refusals)), and
//! is not counted against the budget.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::MockState;
use super::routes::{items_page, page_param, query};

/// Requests used per token in its current window.
#[derive(Debug, Default)]
pub(super) struct Quotas {
    used: Mutex<HashMap<String, (u64, u64)>>,
    pub(super) refused: AtomicU64,
}

impl Quotas {
    /// Counts one request of `token` in window `index`: the requests left
    /// after it, or `None` when none was left.
    fn spend(&self, token: &str, index: u64, limit: u64) -> Option<u64> {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        let entry = used.entry(token.to_owned()).or_insert((index, 0));
        if entry.0 != index {
            *entry = (index, 0);
        }
        if entry.1 >= limit {
            return None;
        }
        entry.1 += 1;
        Some(limit - entry.1)
    }
}

pub(super) fn route(state: &MockState, headers: &HeaderMap, uri: &Uri) -> Option<Response> {
    if uri.path() != "/quota" {
        return None;
    }
    let number = |name: &str, default: u64| {
        query(uri, name)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(default)
    };
    let limit = number("limit", 20);
    let window = number("window", 2).max(1);
    let style = query(uri, "style").unwrap_or_else(|| "github".to_owned());
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let since_epoch = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let index = since_epoch.as_secs() / window;
    let reset_epoch = (index + 1) * window;
    let to_reset = Duration::from_secs(reset_epoch).saturating_sub(since_epoch);
    let (mut response, remaining) = match state.quotas.spend(token, index, limit) {
        Some(remaining) => (page(state, uri), remaining),
        None => {
            state.quotas.refused.fetch_add(1, Ordering::SeqCst);
            let mut refused = (StatusCode::TOO_MANY_REQUESTS, "quota exceeded").into_response();
            let retry = to_reset.as_secs_f64().ceil().to_string();
            refused.headers_mut().insert(header::RETRY_AFTER, value(&retry));
            (refused, 0)
        }
    };
    let set = |name: &'static str, text: String, headers: &mut HeaderMap| {
        headers.insert(name, value(&text));
    };
    let h = response.headers_mut();
    if style == "ietf" {
        set(
            "ratelimit-policy",
            format!(r#""default";q={limit};w={window}"#),
            h,
        );
        let t = to_reset.as_secs_f64().ceil();
        set("ratelimit", format!(r#""default";r={remaining};t={t}"#), h);
    } else {
        set("x-ratelimit-limit", limit.to_string(), h);
        set("x-ratelimit-remaining", remaining.to_string(), h);
        set("x-ratelimit-reset", reset_epoch.to_string(), h);
    }
    Some(response)
}

fn value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

fn page(state: &MockState, uri: &Uri) -> Response {
    items_page(&state.config, page_param(uri))
}
