//! The shared HTTP client and one collection's polite, bounded access to it.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pipeline_core::FetchError;
use pipeline_core::policy::{Breakers, CircuitBreaker, HostGate, HostGates};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, LOCATION, RETRY_AFTER};
use url::Url;

use crate::config::HttpSourceConfig;
use crate::cursor_secrets::CursorSecrets;
use crate::error::{SourceError, chain};
use crate::redact::redact_url;
use crate::retry_after::parse_retry_after;

const MAX_REDIRECTS: usize = 10;

/// What every HTTP source in a process shares: one `reqwest::Client` (one
/// connection pool with keep-alive), the host gates and the circuit breakers.
/// Cloning shares it.
///
/// # Examples
///
/// ```no_run
/// use sources::{HttpContext, HttpSourceConfig, JsonSource, Pagination};
///
/// # fn main() -> Result<(), sources::SourceError> {
/// let ctx = HttpContext::new()?;
/// let config = HttpSourceConfig::new("https://api.example.com/items")
///     .items("/data")
///     .pagination(Pagination::LinkHeader);
/// let source = JsonSource::from_config(&config, &ctx)?;
/// # let _ = source;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct HttpContext {
    client: reqwest::Client,
    gates: HostGates,
    breakers: Breakers,
}

impl HttpContext {
    /// A context with a new client (connect timeout 10 s) and empty registries.
    ///
    /// # Errors
    ///
    /// [`SourceError::Config`] when the HTTP client cannot be built (TLS setup).
    pub fn new() -> Result<Self, SourceError> {
        Self::with_connect_timeout(Duration::from_secs(10))
    }

    /// A context whose client gives up connecting after `connect_timeout`.
    ///
    /// # Errors
    ///
    /// [`SourceError::Config`] when the HTTP client cannot be built (TLS setup).
    pub fn with_connect_timeout(connect_timeout: Duration) -> Result<Self, SourceError> {
        // Redirects are followed by hand (see `Endpoint::get`) so that every
        // collection can have its own allowed hosts while sharing one pool.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(connect_timeout)
            .user_agent(concat!("pipeline-sources/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SourceError::config(format!("building the HTTP client: {}", chain(&e))))?;
        Ok(Self {
            client,
            gates: HostGates::new(),
            breakers: Breakers::new(),
        })
    }

    /// Uses these registries (e.g. shared with custom sources).
    #[must_use]
    pub fn with_registries(mut self, gates: HostGates, breakers: Breakers) -> Self {
        self.gates = gates;
        self.breakers = breakers;
        self
    }

    /// The shared client.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The host gates.
    pub fn gates(&self) -> &HostGates {
        &self.gates
    }

    /// The circuit breakers.
    pub fn breakers(&self) -> &Breakers {
        &self.breakers
    }
}

/// A fetched body and where it came from (after redirects).
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) url: Url,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

/// `host[:port]` of a URL: the politeness key and metric label.
pub(crate) fn host_key(url: &Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    })
}

/// Parses an http(s) URL. The error does not repeat the text, which may
/// hold credentials: callers name it, redacted.
pub(crate) fn parse_http_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
    check_scheme(&url)?;
    Ok(url)
}

fn check_scheme(url: &Url) -> Result<(), String> {
    match url.scheme() {
        "http" | "https" if url.host_str().is_some() => Ok(()),
        "http" | "https" => Err("the URL has no host".to_owned()),
        other => Err(format!("scheme {other:?} is not http or https")),
    }
}

/// One collection's access to its host: headers, limits, gate and breaker.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    client: reqwest::Client,
    pub(crate) host: String,
    headers: Arc<HeaderMap>,
    gate: HostGate,
    breaker: CircuitBreaker,
    allowed_hosts: Arc<Vec<String>>,
    deadline: Duration,
    max_body: u64,
    secrets: CursorSecrets,
}

impl Endpoint {
    /// The endpoint of `config`, and its start URL in cursor form (see
    /// [`CursorSecrets`]).
    pub(crate) fn new(config: &HttpSourceConfig, ctx: &HttpContext) -> Result<(Self, Url), SourceError> {
        let start = parse_http_url(&config.url).map_err(|reason| {
            SourceError::config(format!(
                "start URL {:?}: {reason}",
                redact_url(&config.url, &config.secret_params)
            ))
        })?;
        let (secrets, start) = CursorSecrets::from_start(&start, &config.secret_params);
        let host = host_key(&start).ok_or_else(|| SourceError::config("start URL has no host"))?;
        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers.0 {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| SourceError::config(format!("header name {name:?} is invalid")))?;
            // The value is not echoed: it is usually a token.
            let mut value = HeaderValue::from_str(value)
                .map_err(|_| SourceError::config(format!("the value of header {name} is invalid")))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let mut allowed: Vec<String> = config
            .allowed_hosts
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        if let Some(h) = start.host_str() {
            allowed.push(h.to_ascii_lowercase());
        }
        if config.max_body_bytes == 0 || config.timeout_ms == 0 {
            return Err(SourceError::config(
                "max_body_bytes and timeout_ms must be positive",
            ));
        }
        let endpoint = Self {
            client: ctx.client.clone(),
            gate: ctx.gates.gate(&host, config.gate_config()),
            breaker: ctx.breakers.breaker(&host, config.breaker_config()),
            host,
            headers: Arc::new(headers),
            allowed_hosts: Arc::new(allowed),
            deadline: Duration::from_millis(config.timeout_ms),
            max_body: config.max_body_bytes,
            secrets,
        };
        Ok((endpoint, start))
    }

    /// `url` as shown in errors: credentials redacted.
    pub(crate) fn show(&self, url: &Url) -> String {
        self.secrets.show(url.as_str())
    }

    /// Text that may be a URL, as shown in errors: credentials redacted.
    pub(crate) fn show_text(&self, text: &str) -> String {
        self.secrets.show(text)
    }

    /// `url` without the start URL's secret parameters: what a cursor holds.
    pub(crate) fn cursor_form(&self, url: &Url) -> Url {
        self.secrets.cursor_form(url)
    }

    /// The URL requested for a page in cursor form: secret parameters added back.
    pub(crate) fn request_url(&self, cursor_form: &Url) -> Url {
        self.secrets.request_url(cursor_form)
    }

    /// Whether `url` may be requested: http(s) on an allowed host.
    pub(crate) fn check_allowed(&self, url: &Url) -> Result<(), String> {
        check_scheme(url)?;
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        if self.allowed_hosts.contains(&host) {
            Ok(())
        } else {
            Err(format!("host {host} is not among the allowed hosts"))
        }
    }

    /// GETs `url` politely: breaker, gate, deadline, redirects, body cap; classifies errors.
    pub(crate) async fn get(&self, url: &Url) -> Result<Fetched, FetchError> {
        let call = self.breaker.check().map_err(|retry_at| FetchError::CircuitOpen {
            host: self.host.clone(),
            retry_at,
        })?;
        let permit = self.gate.acquire().await;
        let result = match tokio::time::timeout(self.deadline, self.get_following(url)).await {
            Ok(r) => r,
            Err(_) => Err(Outcome::Failed(FetchError::transient(SourceError::Deadline {
                url: self.show(url),
                deadline: self.deadline,
            }))),
        };
        match result {
            Ok(fetched) => {
                permit.success();
                call.success();
                Ok(fetched)
            }
            // The host answered; only the content was refused.
            Err(Outcome::Refused(e)) => {
                permit.success();
                call.success();
                Err(e)
            }
            Err(Outcome::PushedBack(e, retry_after, host_failed)) => {
                match retry_after {
                    Some(d) => permit.push_back(d),
                    None => permit.failure(),
                }
                if host_failed {
                    call.failure();
                } else {
                    call.success();
                }
                Err(e)
            }
            Err(Outcome::Failed(e)) => {
                permit.failure();
                call.failure();
                Err(e)
            }
        }
    }

    async fn get_following(&self, start: &Url) -> Result<Fetched, Outcome> {
        let mut url = start.clone();
        for _ in 0..=MAX_REDIRECTS {
            let mut request = self.client.get(url.clone());
            // Configured headers (tokens) go to the start URL's host only.
            if url.host_str() == start.host_str() {
                request = request.headers((*self.headers).clone());
            }
            let response = request.send().await.map_err(|e| transport(self.show(&url), e))?;
            let status = response.status();
            if status.is_redirection() {
                let Some(location) = response.headers().get(LOCATION).and_then(|v| v.to_str().ok()) else {
                    return Err(Outcome::Refused(FetchError::permanent(SourceError::Status {
                        url: self.show(&url),
                        status: status.as_u16(),
                    })));
                };
                let target = url.join(location).map_err(|e| {
                    Outcome::Refused(FetchError::permanent(SourceError::Redirect {
                        url: self.show(&url),
                        target: self.show_text(location),
                        reason: e.to_string(),
                    }))
                })?;
                if let Err(reason) = self.check_allowed(&target) {
                    return Err(Outcome::Refused(FetchError::permanent(SourceError::Redirect {
                        url: self.show(&url),
                        target: self.show(&target),
                        reason,
                    })));
                }
                url = target;
                continue;
            }
            if !status.is_success() {
                return Err(classify_status(self.show(&url), status, response.headers()));
            }
            return self.read_body(url, response).await;
        }
        Err(Outcome::Refused(FetchError::permanent(SourceError::Redirect {
            url: self.show(start),
            target: self.show(&url),
            reason: format!("more than {MAX_REDIRECTS} redirects"),
        })))
    }

    async fn read_body(&self, url: Url, mut response: reqwest::Response) -> Result<Fetched, Outcome> {
        let too_large = |url: &Url| {
            Outcome::Refused(FetchError::permanent(SourceError::BodyTooLarge {
                url: self.show(url),
                limit: self.max_body,
            }))
        };
        let headers = std::mem::take(response.headers_mut());
        // Content-Length is of the encoded body; it only lets us refuse early.
        if response.content_length().is_some_and(|n| n > self.max_body) {
            return Err(too_large(&url));
        }
        let mut body = Vec::new();
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
                        url: self.show(&url),
                        received: body.len() as u64,
                        detail: chain(&e.without_url()),
                    })));
                }
            }
        }
        Ok(Fetched { url, headers, body })
    }
}

/// How a request ended, for the gate and the breaker.
enum Outcome {
    /// The host failed (transport error, 5xx, deadline).
    Failed(FetchError),
    /// The host answered, but we refuse the answer (4xx, cap, redirect).
    Refused(FetchError),
    /// 429 or 503: `Retry-After` if given, and whether it counts against the host.
    PushedBack(FetchError, Option<Duration>, bool),
}

/// `url` is shown redacted; reqwest's own message would repeat it in full.
fn transport(url: String, e: reqwest::Error) -> Outcome {
    let detail = chain(&e.without_url());
    Outcome::Failed(FetchError::transient(SourceError::Transport { url, detail }))
}

fn classify_status(url: String, status: StatusCode, headers: &HeaderMap) -> Outcome {
    let error = SourceError::Status {
        url,
        status: status.as_u16(),
    };
    let retry_after = headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    match status.as_u16() {
        429 => Outcome::PushedBack(FetchError::rate_limited(retry_after, error), retry_after, false),
        503 if retry_after.is_some() => {
            Outcome::PushedBack(FetchError::rate_limited(retry_after, error), retry_after, true)
        }
        408 | 500..=599 => Outcome::Failed(FetchError::transient(error)),
        _ => Outcome::Refused(FetchError::permanent(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_key_keeps_explicit_ports_only() {
        assert_eq!(
            host_key(&Url::parse("https://a.test/x").unwrap()).as_deref(),
            Some("a.test")
        );
        assert_eq!(
            host_key(&Url::parse("http://127.0.0.1:8080/x").unwrap()).as_deref(),
            Some("127.0.0.1:8080")
        );
        assert_eq!(
            host_key(&Url::parse("https://a.test:443/").unwrap()).as_deref(),
            Some("a.test")
        );
    }

    #[test]
    fn only_http_and_https_urls_are_accepted() {
        assert!(parse_http_url("https://a.test/").is_ok());
        assert!(parse_http_url("ftp://a.test/").is_err());
        assert!(parse_http_url("file:///etc/passwd").is_err());
        assert!(parse_http_url("not a url").is_err());
    }

    #[test]
    fn statuses_are_classified() {
        let url = || "https://a.test/".to_owned();
        let h = HeaderMap::new();
        let kind = |s: u16| match classify_status(url(), StatusCode::from_u16(s).unwrap(), &h) {
            Outcome::Failed(e) | Outcome::Refused(e) | Outcome::PushedBack(e, ..) => e.kind(),
        };
        use pipeline_core::FetchErrorKind as K;
        assert_eq!(kind(500), K::Transient);
        assert_eq!(kind(503), K::Transient);
        assert_eq!(kind(408), K::Transient);
        assert_eq!(kind(429), K::RateLimited);
        assert_eq!(kind(404), K::Permanent);
        assert_eq!(kind(401), K::Permanent);
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        match classify_status(url(), StatusCode::SERVICE_UNAVAILABLE, &h) {
            Outcome::PushedBack(FetchError::RateLimited { retry_after, .. }, ..) => {
                assert_eq!(retry_after, Some(Duration::from_secs(7)));
            }
            _ => panic!("503 with Retry-After is a push-back"),
        }
    }
}
