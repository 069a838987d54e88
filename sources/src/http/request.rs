//! One HTTP request of a page (or a token): method, URL, body; sending it
//! with redirects followed by hand, reading the capped body, and
//! classifying what went wrong for the retry loop, the gate and the breaker.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crawlpipe_core::FetchError;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, LOCATION, RETRY_AFTER};
use url::Url;

use crate::config::Method;
use crate::error::{SourceError, chain};
use crate::http::Fetched;
use crate::http::endpoint::Endpoint;
use crate::http::rate_limit::announced;
use crate::http::retry_after::parse_retry_after;

const MAX_REDIRECTS: usize = 10;

/// A request body and its content type. `Debug` shows neither the bytes
/// (a token request's form holds the client secret) nor their length.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct EncodedBody {
    pub(crate) content_type: &'static str,
    pub(crate) bytes: Arc<Vec<u8>>,
}

impl fmt::Debug for EncodedBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncodedBody")
            .field("content_type", &self.content_type)
            .finish_non_exhaustive()
    }
}

impl EncodedBody {
    /// A JSON body.
    pub(crate) fn json(value: &serde_json::Value) -> Self {
        Self {
            content_type: "application/json",
            bytes: Arc::new(value.to_string().into_bytes()),
        }
    }

    /// An `application/x-www-form-urlencoded` body.
    pub(crate) fn form<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> Self {
        let text = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        Self {
            content_type: "application/x-www-form-urlencoded",
            bytes: Arc::new(text.into_bytes()),
        }
    }
}

/// A credential header a request carries (a token, a client's Basic
/// credentials); its value is marked sensitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Credential {
    pub(crate) name: HeaderName,
    pub(crate) value: HeaderValue,
}

impl Credential {
    pub(crate) fn new(name: HeaderName, value: HeaderValue) -> Self {
        Self { name, value }
    }
}

/// What is sent: the URL has no fragment (a cursor's fragment carries a
/// body token, never sent as such).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    pub(crate) method: Method,
    pub(crate) url: Url,
    pub(crate) body: Option<EncodedBody>,
    /// `If-None-Match` / `If-Modified-Since` (see `conditional.rs`): a `304`
    /// answer is then a page, not an error.
    pub(crate) conditional: HeaderMap,
}

impl Request {
    /// A GET of `url`.
    pub(crate) fn get(url: Url) -> Self {
        Self::new(Method::Get, url, None)
    }

    /// A request; `url`'s fragment is dropped.
    pub(crate) fn new(method: Method, mut url: Url, body: Option<EncodedBody>) -> Self {
        url.set_fragment(None);
        Self {
            method,
            url,
            body,
            conditional: HeaderMap::new(),
        }
    }
}

/// How a request ended, for the gate and the breaker.
pub(crate) enum Outcome {
    /// The host failed (transport error, 5xx, deadline).
    Failed(FetchError),
    /// The host answered, but we refuse the answer (4xx, cap, redirect).
    Refused(FetchError),
    /// 429 or 503: `Retry-After` if given, and whether it counts against the host.
    PushedBack(FetchError, Option<Duration>, bool),
}

/// Whether `e` is an HTTP 401 answer (whatever a rule made of it).
pub(crate) fn is_unauthorized(e: &FetchError) -> bool {
    e.http_status() == Some(401)
}

impl Endpoint {
    /// Sends `request`, following redirects on allowed hosts: 307 and 308
    /// repeat the method and body, other redirects become a GET, as clients
    /// commonly do. Headers and `credential` go to the first URL's host only.
    pub(crate) async fn follow(
        &self,
        request: &Request,
        credential: Option<&Credential>,
    ) -> Result<Fetched, Outcome> {
        let start = &request.url;
        let mut url = start.clone();
        let mut method = request.method;
        let mut body = request.body.clone();
        let verb = |m: Method| m.as_str();
        for _ in 0..=MAX_REDIRECTS {
            let mut builder = match method {
                Method::Get => self.client.get(url.clone()),
                Method::Post => self.client.post(url.clone()),
            };
            builder = builder.header(reqwest::header::USER_AGENT, self.user_agent().clone());
            if url.host_str() == start.host_str() {
                if !self.headers.is_empty() {
                    builder = builder.headers((*self.headers).clone());
                }
                if let Some(c) = credential {
                    builder = builder.header(c.name.clone(), c.value.clone());
                }
                if !request.conditional.is_empty() {
                    builder = builder.headers(request.conditional.clone());
                }
            }
            if let Some(b) = &body {
                builder = builder
                    .header(CONTENT_TYPE, b.content_type)
                    .body(b.bytes.as_ref().clone());
            }
            tracing::trace!(target: "crawlpipe::critical_path", host = %self.host, "request sent");
            let response = builder
                .send()
                .await
                .map_err(|e| transport(verb(method), self.show(&url), e))?;
            if let Some(quota) = self.quota.as_ref().filter(|_| url.host_str() == start.host_str()) {
                quota
                    .observe(announced(response.headers(), SystemTime::now()))
                    .await;
            }
            let status = response.status();
            if status == StatusCode::NOT_MODIFIED && !request.conditional.is_empty() {
                return Ok(Fetched {
                    url,
                    method: verb(method),
                    status: status.as_u16(),
                    headers: response.headers().clone(),
                    body: Vec::new(),
                });
            }
            if status.is_redirection() {
                let Some(location) = response.headers().get(LOCATION).and_then(|v| v.to_str().ok()) else {
                    return Err(Outcome::Refused(FetchError::permanent(SourceError::Status {
                        method: verb(method),
                        url: self.show(&url),
                        status: status.as_u16(),
                    })));
                };
                let redirect_error = |target: String, reason: String| {
                    Outcome::Refused(FetchError::permanent(SourceError::Redirect {
                        method: verb(method),
                        url: self.show(&url),
                        target,
                        reason,
                    }))
                };
                let target = url
                    .join(location)
                    .map_err(|e| redirect_error(self.show_text(location), e.to_string()))?;
                if let Err(reason) = self.check_allowed(&target) {
                    return Err(redirect_error(self.show(&target), reason));
                }
                if !matches!(status.as_u16(), 307 | 308) {
                    method = Method::Get;
                    body = None;
                }
                url = target;
                continue;
            }
            if !status.is_success() {
                let shown = self.show(&url);
                if !self.rules.is_empty() {
                    let headers = response.headers().clone();
                    let body = match self.rules.reads_bodies() {
                        true => error_body(response).await,
                        false => Vec::new(),
                    };
                    let ruled = self
                        .rules
                        .on_error(verb(method), &shown, status.as_u16(), &headers, &body);
                    if let Some(outcome) = ruled {
                        return Err(outcome);
                    }
                    return Err(classify_status(verb(method), shown, status, &headers));
                }
                return Err(classify_status(verb(method), shown, status, response.headers()));
            }
            return self.read_body(verb(method), url, response).await;
        }
        Err(Outcome::Refused(FetchError::permanent(SourceError::Redirect {
            method: verb(request.method),
            url: self.show(start),
            target: self.show(&url),
            reason: format!("more than {MAX_REDIRECTS} redirects"),
        })))
    }

    async fn read_body(
        &self,
        method: &'static str,
        url: Url,
        mut response: reqwest::Response,
    ) -> Result<Fetched, Outcome> {
        let too_large = |url: &Url| {
            Outcome::Refused(FetchError::permanent(SourceError::BodyTooLarge {
                method,
                url: self.show(url),
                limit: self.max_body,
            }))
        };
        let status = response.status().as_u16();
        let headers = std::mem::take(response.headers_mut());
        // Content-Length is of the encoded body; it only lets us refuse early.
        if response.content_length().is_some_and(|n| n > self.max_body) {
            return Err(too_large(&url));
        }
        // One buffer of the announced size (capped): no regrowth while reading.
        let expected = response.content_length().unwrap_or(0).min(self.max_body);
        let mut body = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
        loop {
            // Chunks come decompressed, so the cap holds against bombs.
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() as u64 + chunk.len() as u64 > self.max_body {
                        return Err(too_large(&url));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    return Err(Outcome::Failed(FetchError::transient(SourceError::Truncated {
                        method,
                        url: self.show(&url),
                        received: body.len() as u64,
                        detail: chain(&e.without_url()),
                    })));
                }
            }
        }
        Ok(Fetched {
            url,
            method,
            status,
            headers,
            body,
        })
    }
}

/// The start of an error answer's body, for body rules: at most the rules'
/// window, and whatever arrived before a cut.
async fn error_body(mut response: reqwest::Response) -> Vec<u8> {
    let window = crate::http::status_rules::BODY_RULE_WINDOW;
    let mut body = Vec::new();
    while body.len() < window {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk[..chunk.len().min(window - body.len())]),
            Ok(None) | Err(_) => break,
        }
    }
    body
}

/// `url` is shown redacted; reqwest's own message would repeat it in full.
fn transport(method: &'static str, url: String, e: reqwest::Error) -> Outcome {
    let detail = chain(&e.without_url());
    Outcome::Failed(FetchError::transient(SourceError::Transport {
        method,
        url,
        detail,
    }))
}

pub(crate) fn classify_status(
    method: &'static str,
    url: String,
    status: StatusCode,
    headers: &HeaderMap,
) -> Outcome {
    let code = status.as_u16();
    let error = SourceError::Status {
        method,
        url,
        status: code,
    };
    let retry_after = headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    let tagged = |e: FetchError| e.with_http_status(code);
    match code {
        429 => Outcome::PushedBack(
            tagged(FetchError::rate_limited(retry_after, error)),
            retry_after,
            false,
        ),
        503 if retry_after.is_some() => Outcome::PushedBack(
            tagged(FetchError::rate_limited(retry_after, error)),
            retry_after,
            true,
        ),
        408 | 500..=599 => Outcome::Failed(tagged(FetchError::transient(error))),
        _ => Outcome::Refused(tagged(FetchError::permanent(error))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        let url = || "https://a.test/".to_owned();
        let h = HeaderMap::new();
        let kind = |s: u16| match classify_status("GET", url(), StatusCode::from_u16(s).unwrap(), &h) {
            Outcome::Failed(e) | Outcome::Refused(e) | Outcome::PushedBack(e, ..) => e.kind(),
        };
        use crawlpipe_core::FetchErrorKind as K;
        assert_eq!(kind(500), K::Transient);
        assert_eq!(kind(503), K::Transient);
        assert_eq!(kind(408), K::Transient);
        assert_eq!(kind(429), K::RateLimited);
        assert_eq!(kind(404), K::Permanent);
        assert_eq!(kind(401), K::Permanent);
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        match classify_status("GET", url(), StatusCode::SERVICE_UNAVAILABLE, &h) {
            Outcome::PushedBack(FetchError::RateLimited { retry_after, .. }, ..) => {
                assert_eq!(retry_after, Some(Duration::from_secs(7)));
            }
            _ => panic!("503 with Retry-After is a push-back"),
        }
    }
}
