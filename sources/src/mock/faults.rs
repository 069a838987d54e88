//! Scripted faults of the mock server, by request number or page.

use std::time::{Duration, SystemTime};

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// How a scripted 429 states its `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryAfter {
    /// No `Retry-After` header.
    Absent,
    /// Delta-seconds.
    Seconds(u64),
    /// An HTTP-date this far in the future (whole seconds).
    Date(Duration),
}

/// A window in which every request gets a 503 (without `Retry-After`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outage {
    /// Requests number `from` to `from + count - 1` (1-based).
    Requests {
        /// The first failing request.
        from: u64,
        /// How many fail.
        count: u64,
    },
    /// From `after` the server started, for `lasting`.
    Time {
        /// When the outage starts, from the server's start.
        after: Duration,
        /// How long it lasts.
        lasting: Duration,
    },
}

/// Scripted faults; request numbers count every request, from 1.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// Every Nth request answers 500.
    pub error_every: Option<u64>,
    /// Every Nth request answers 429 with this `Retry-After`.
    pub rate_limit_every: Option<(u64, RetryAfter)>,
    /// A window of 503s.
    pub outage: Option<Outage>,
    /// These requests have their connection dropped before a body is sent.
    pub drop_connection_on: Vec<u64>,
    /// These requests get half of their body, then the connection is cut.
    pub truncate_on: Vec<u64>,
    /// These requests get a complete 200 response with a malformed body
    /// (each once: a retry of the same page gets the real one).
    pub malformed_on: Vec<(u64, Malformed)>,
    /// Every Nth request gets a complete 200 response with a malformed body.
    pub malformed_every: Option<(u64, Malformed)>,
    /// Every request for this `path?query` (as [`MockServer::requests`](super::MockServer::requests)
    /// logs it) gets a malformed 200 body: a page that is always broken.
    pub malformed_page: Option<(String, Malformed)>,
}

/// How a scripted malformed 200 response is broken. Each one is a complete
/// response (its `Content-Length` matches its body), as a proxy or a
/// misbehaving server sends it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// The first half of the real body, as JSON.
    #[default]
    TruncatedJson,
    /// A proxy's HTML error page (`text/html`).
    HtmlErrorPage,
    /// A JSON object without the items: `{"error": …}`.
    MissingItems,
    /// The real body with each top-level array replaced by a string (a
    /// body that is an array becomes that string): neither records nor a
    /// record (an object would be one record).
    ItemsNotArray,
}

/// A body that ends with an error after `prefix`: hyper then cuts the connection.
fn cut_body(prefix: Vec<u8>, total_len: usize) -> Response {
    use futures::StreamExt;
    let has_prefix = !prefix.is_empty();
    let head = futures::stream::iter(has_prefix.then(|| Ok::<Bytes, std::io::Error>(Bytes::from(prefix))));
    let cut = futures::stream::once(async move {
        // Let the headers and the prefix reach the client before the cut.
        if has_prefix {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(std::io::Error::other("connection cut by the mock server"))
    });
    let stream = head.chain(cut);
    let mut response = Response::new(Body::from_stream(stream));
    response.headers_mut().insert(
        header::CONTENT_LENGTH,
        HeaderValue::from_str(&total_len.to_string()).unwrap_or(HeaderValue::from_static("0")),
    );
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The fault answering request `n` before it is routed, if any.
pub(super) fn before_route(faults: &Faults, n: u64, elapsed: Duration) -> Option<Response> {
    let in_outage = match faults.outage {
        Some(Outage::Requests { from, count }) => n >= from && n < from.saturating_add(count),
        Some(Outage::Time { after, lasting }) => elapsed >= after && elapsed < after + lasting,
        None => false,
    };
    if in_outage {
        return Some((StatusCode::SERVICE_UNAVAILABLE, "outage").into_response());
    }
    if faults.drop_connection_on.contains(&n) {
        return Some(cut_body(Vec::new(), 64));
    }
    if faults.error_every.is_some_and(|k| k > 0 && n.is_multiple_of(k)) {
        return Some((StatusCode::INTERNAL_SERVER_ERROR, "scripted 500").into_response());
    }
    if let Some((k, retry_after)) = faults.rate_limit_every
        && k > 0
        && n.is_multiple_of(k)
    {
        let mut response = (StatusCode::TOO_MANY_REQUESTS, "slow down").into_response();
        let value = match retry_after {
            RetryAfter::Absent => None,
            RetryAfter::Seconds(s) => Some(s.to_string()),
            RetryAfter::Date(d) => Some(httpdate::fmt_http_date(SystemTime::now() + d)),
        };
        if let Some(v) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Some(response);
    }
    None
}

/// The routed response to request `n` (for `logged`), with its scripted fault.
pub(super) async fn after_route(faults: &Faults, n: u64, logged: &str, response: Response) -> Response {
    if faults.truncate_on.contains(&n) {
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
        let half = bytes.len() / 2;
        let mut cut = cut_body(bytes[..half].to_vec(), bytes.len());
        *cut.status_mut() = parts.status;
        return cut;
    }
    let malformed = faults
        .malformed_on
        .iter()
        .find(|(k, _)| *k == n)
        .map(|(_, m)| *m)
        .or_else(|| {
            faults
                .malformed_every
                .filter(|(k, _)| *k > 0 && n.is_multiple_of(*k))
                .map(|(_, m)| m)
        })
        .or_else(|| {
            faults
                .malformed_page
                .as_ref()
                .filter(|(page, _)| page == logged)
                .map(|(_, m)| *m)
        });
    match malformed {
        Some(kind) if response.status() == StatusCode::OK => malformed_response(kind, response).await,
        _ => response,
    }
}

async fn malformed_response(kind: Malformed, response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let (content_type, body) = match kind {
        Malformed::TruncatedJson => ("application/json", bytes.slice(..bytes.len() / 2)),
        Malformed::HtmlErrorPage => (
            "text/html; charset=utf-8",
            Bytes::from_static(
                b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>\
                  <body><h1>502 Bad Gateway</h1><p>The upstream server did not answer in time.</p></body></html>",
            ),
        ),
        Malformed::MissingItems => (
            "application/json",
            Bytes::from(json!({ "error": "upstream timeout", "retry": true }).to_string()),
        ),
        Malformed::ItemsNotArray => {
            let broken = json!("temporarily unavailable");
            let value = match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(mut fields)) => {
                    for v in fields.values_mut().filter(|v| v.is_array()) {
                        *v = broken.clone();
                    }
                    Value::Object(fields)
                }
                _ => broken,
            };
            ("application/json", Bytes::from(value.to_string()))
        }
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Response::from_parts(parts, Body::from(body))
}
