//! The shared HTTP client, and the URL checks every request goes through.

use std::time::Duration;

use crawlpipe_core::policy::{Breakers, HostGates, QuotaBudget, QuotaBudgets};
use reqwest::header::HeaderMap;
use url::Url;

use crate::config::HttpSourceConfig;
use crate::error::{SourceError, chain};
use crate::http::oauth2::TokenRegistry;
use crate::http::rate_limit::budget_key::budget_key;
use crate::http::user_agent::DEFAULT_USER_AGENT;
use crate::robots::RobotsCache;

/// What every HTTP source in a process shares: one `reqwest::Client` (one
/// connection pool with keep-alive), the host gates, the circuit breakers,
/// the OAuth2 tokens (one per token URL and client id) and the hosts'
/// robots.txt files (see [`crate::robots`]).
/// Cloning shares it.
///
/// # Examples
///
/// ```no_run
/// use crawlpipe_sources::{HttpContext, HttpSourceConfig, JsonSource, Pagination};
///
/// # fn main() -> Result<(), crawlpipe_sources::SourceError> {
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
    quotas: QuotaBudgets,
    pub(crate) tokens: TokenRegistry,
    pub(crate) robots: RobotsCache,
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
            .user_agent(DEFAULT_USER_AGENT)
            .build()
            .map_err(|e| SourceError::config(format!("building the HTTP client: {}", chain(&e))))?;
        Ok(Self {
            client,
            gates: HostGates::new(),
            breakers: Breakers::new(),
            quotas: QuotaBudgets::new(),
            tokens: TokenRegistry::default(),
            robots: RobotsCache::default(),
        })
    }

    /// Uses these registries (e.g. shared with custom sources).
    #[must_use]
    pub fn with_registries(mut self, gates: HostGates, breakers: Breakers) -> Self {
        self.gates = gates;
        self.breakers = breakers;
        self
    }

    /// Uses this registry of request budgets (e.g. one shared with other
    /// processes: [`QuotaBudgets::shared`]).
    #[must_use]
    pub fn with_quotas(mut self, quotas: QuotaBudgets) -> Self {
        self.quotas = quotas;
        self
    }

    /// The request budget `config`'s requests spend: the one of its
    /// credential on its host (see [`QuotaBudget`]); `None` when
    /// `rate_limit_headers` is off.
    ///
    /// # Errors
    ///
    /// [`SourceError::Config`] when the start URL or `auth` is invalid.
    pub fn quota_budget(&self, config: &HttpSourceConfig) -> Result<Option<QuotaBudget>, SourceError> {
        if !config.rate_limit_headers {
            return Ok(None);
        }
        let start = parse_http_url(&config.url)
            .map_err(|reason| SourceError::config(format!("start URL: {reason}")))?;
        let host = host_key(&start).ok_or_else(|| SourceError::config("start URL has no host"))?;
        Ok(Some(self.quotas.budget(&host, &budget_key(config, &start)?)))
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
    /// The method of the request answered (after redirects).
    pub(crate) method: &'static str,
    /// The (2xx) status.
    pub(crate) status: u16,
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

pub(crate) fn check_scheme(url: &Url) -> Result<(), String> {
    match url.scheme() {
        "http" | "https" if url.host_str().is_some() => Ok(()),
        "http" | "https" => Err("the URL has no host".to_owned()),
        other => Err(format!("scheme {other:?} is not http or https")),
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
}
