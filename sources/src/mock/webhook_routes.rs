//! A webhook receiver: `POST /webhook?fail=N` answers 503 to the first `N`
//! deliveries it gets, then 204, keeping each accepted body
//! ([`MockServer::webhooks`](super::MockServer::webhooks)).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::MockState;
use super::routes::query;

/// The deliveries a receiver got, and the bodies it accepted.
#[derive(Debug, Default)]
pub(super) struct Webhooks {
    calls: AtomicU64,
    accepted: Mutex<Vec<Value>>,
}

impl Webhooks {
    pub(super) fn accepted(&self) -> Vec<Value> {
        self.accepted.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The answer of `POST /webhook`, `None` for other requests.
pub(super) fn route(state: &MockState, method: &Method, uri: &Uri, body: &[u8]) -> Option<Response> {
    if uri.path() != "/webhook" {
        return None;
    }
    if method != Method::POST {
        return Some((StatusCode::METHOD_NOT_ALLOWED, "POST only").into_response());
    }
    let fail: u64 = query(uri, "fail").and_then(|v| v.parse().ok()).unwrap_or(0);
    let call = state.webhooks.calls.fetch_add(1, Ordering::SeqCst) + 1;
    if call <= fail {
        return Some((StatusCode::SERVICE_UNAVAILABLE, "receiver not ready").into_response());
    }
    let value = serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()));
    state
        .webhooks
        .accepted
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(value);
    Some(StatusCode::NO_CONTENT.into_response())
}
