//! Conditional requests (`conditional = true`, the default): a page whose
//! request was answered with an `ETag` or `Last-Modified` before is asked
//! for again with `If-None-Match` / `If-Modified-Since`, and a `304` means
//! its stored rows and next cursor stand (see [`crawlpipe_core::Validators`]).
//!
//! Only deterministic requests take part: the same position always sends
//! the same method, URL and body. A source whose requests hold the run's
//! time (`{now…}` placeholders, date `windows`) sends none: its requests
//! never repeat, so their validators would only pile up.

use std::sync::Arc;

use crawlpipe_core::{PageValidator, Validators};
use reqwest::header::{ETAG, HeaderMap, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use sha2::{Digest, Sha256};
use url::Url;

use crate::http::request::Request;

/// A source's conditional requests: on, and the store it reads validators from.
#[derive(Debug, Clone)]
pub(crate) struct Conditional {
    store: Arc<dyn Validators>,
}

impl Conditional {
    pub(crate) fn new(store: Arc<dyn Validators>) -> Self {
        Self { store }
    }

    /// The validator stored for `request`'s digest; `None` when there is
    /// none or the store cannot be read (the request is then sent in full).
    pub(crate) async fn lookup(&self, request: &str) -> Option<PageValidator> {
        match self.store.get(request).await {
            Ok(found) => found,
            Err(error) => {
                tracing::warn!(%error, "reading a page's stored validator failed; fetching it in full");
                None
            }
        }
    }
}

/// The identity of a page's request: a SHA-256 of its method, its URL in
/// cursor form (no secret parameters; the fragment holds the position a
/// body carries) and its body, length-prefixed so no two requests collide.
pub(crate) fn digest(request: &Request, cursor_form: &Url) -> String {
    let mut hash = Sha256::new();
    let mut part = |bytes: &[u8]| {
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(bytes);
    };
    part(request.method.as_str().as_bytes());
    part(cursor_form.as_str().as_bytes());
    match &request.body {
        Some(body) => {
            part(body.content_type.as_bytes());
            part(&body.bytes);
        }
        None => part(b"no body"),
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The request headers asking for `known`'s page only if it changed (a
/// stored value that is no longer a valid header is left out).
pub(crate) fn request_headers(known: &PageValidator) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let mut put = |name, value: &Option<String>| {
        if let Some(v) = value.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
            headers.insert(name, v);
        }
    };
    put(IF_NONE_MATCH, &known.etag);
    put(IF_MODIFIED_SINCE, &known.last_modified);
    headers
}

/// The validators an answer carries (`ETag`, `Last-Modified`), if any.
pub(crate) fn answer_validators(headers: &HeaderMap) -> Option<(Option<String>, Option<String>)> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty() && v.len() <= 1024)
            .map(str::to_owned)
    };
    let (etag, last_modified) = (text(ETAG), text(LAST_MODIFIED));
    (etag.is_some() || last_modified.is_some()).then_some((etag, last_modified))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Method;
    use crate::http::request::EncodedBody as Body;

    #[test]
    fn digests_differ_by_method_url_and_body() {
        let url = Url::parse("https://a.test/items?page=2").unwrap();
        let get = Request::get(url.clone());
        let post = Request::new(
            Method::Post,
            url.clone(),
            Some(Body::json(&serde_json::json!({"a": 1}))),
        );
        let other = Request::new(
            Method::Post,
            url.clone(),
            Some(Body::json(&serde_json::json!({"a": 2}))),
        );
        let d = |r: &Request, u: &Url| digest(r, u);
        assert_eq!(d(&get, &url), d(&get, &url));
        assert_ne!(d(&get, &url), d(&post, &url));
        assert_ne!(d(&post, &url), d(&other, &url));
        let token = Url::parse("https://a.test/items?page=2#cursor=x").unwrap();
        assert_ne!(d(&get, &url), d(&get, &token));
        assert_eq!(d(&get, &url).len(), 64);
    }

    #[test]
    fn validators_round_trip_through_headers() {
        let mut answer = HeaderMap::new();
        answer.insert(ETAG, HeaderValue::from_static("W/\"abc\""));
        let (etag, last_modified) = answer_validators(&answer).unwrap();
        assert_eq!((etag.as_deref(), last_modified), (Some("W/\"abc\""), None));
        let known = PageValidator {
            request: "r".into(),
            etag,
            last_modified: Some("Sat, 05 Dec 2026 10:00:00 GMT".into()),
            next: None,
        };
        let sent = request_headers(&known);
        assert_eq!(sent[IF_NONE_MATCH], "W/\"abc\"");
        assert_eq!(sent[IF_MODIFIED_SINCE], "Sat, 05 Dec 2026 10:00:00 GMT");
        assert!(answer_validators(&HeaderMap::new()).is_none());
    }
}
