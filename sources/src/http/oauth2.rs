//! OAuth2 client credentials: one token per token URL and client id, shared
//! by every source of an [`HttpContext`] (as host gates are).
//!
//! The token is fetched before the first request (a form POST of
//! `grant_type=client_credentials`, `client_id`, `client_secret` and
//! `scope`), kept until shortly before `expires_in` runs out (a margin of a
//! quarter of its life, at most 30 s, so a request never leaves with a token
//! about to die), and fetched again when a request gets a 401 with it. One
//! fetch at a time: sources waiting meanwhile get its result.
//!
//! The token request goes through the token host's gate and breaker like a
//! page request, and its failure fails the page fetch with the same class
//! (a 5xx is retried, a 401 for a bad secret is not). Errors name the token
//! URL, never the secret; the token itself is a sensitive header value.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use pipeline_core::FetchError;
use reqwest::header::HeaderValue;
use serde_json::Value;
use tokio::time::Instant;

use crate::config::{HttpSourceConfig, Method};
use crate::error::SourceError;
use crate::http::auth::OAuth2Credentials;
use crate::http::endpoint::Endpoint;
use crate::http::redact::{default_secret_params, redact_url};
use crate::http::request::{Body, Request};
use crate::http::{HttpContext, parse_http_url};

/// Token answers are small; anything larger is not one.
const MAX_TOKEN_BODY: u64 = 1024 * 1024;
/// The most a token is refreshed ahead of its expiry.
const MAX_MARGIN: Duration = Duration::from_secs(30);

/// The token sources of a context, by token URL and client id.
#[derive(Debug, Clone, Default)]
pub(crate) struct TokenRegistry(Arc<Mutex<HashMap<(String, String), TokenSource>>>);

impl TokenRegistry {
    /// The shared token source of `creds` (the first source built for a
    /// token URL and client id sets its secret, scope, deadline and breaker).
    pub(crate) fn source(
        &self,
        creds: OAuth2Credentials,
        ctx: &HttpContext,
        config: &HttpSourceConfig,
    ) -> Result<TokenSource, SourceError> {
        let shown = redact_url(&creds.token_url, &default_secret_params());
        let url = parse_http_url(&creds.token_url)
            .map_err(|reason| SourceError::config(format!("auth.token_url {shown:?}: {reason}")))?;
        let key = (url.to_string(), creds.client_id.clone());
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(source) = map.get(&key) {
            return Ok(source.clone());
        }
        let endpoint = Endpoint::service(
            &url,
            ctx,
            config.breaker_config(),
            Duration::from_millis(config.timeout_ms.max(1)),
            MAX_TOKEN_BODY,
        )?;
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", creds.client_id.as_str()),
            ("client_secret", creds.client_secret.as_str()),
        ];
        if let Some(scope) = &creds.scope {
            form.push(("scope", scope));
        }
        let source = TokenSource {
            inner: Arc::new(Inner {
                request: Request::new(Method::Post, url.clone(), Some(Body::form(&form))),
                shown: endpoint.show(&url),
                endpoint,
                state: tokio::sync::Mutex::new(None),
            }),
        };
        map.insert(key, source.clone());
        Ok(source)
    }
}

/// One shared OAuth2 token and how to get a new one.
#[derive(Clone)]
pub(crate) struct TokenSource {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: Endpoint,
    /// The token request; its form holds the secret (`Body`'s `Debug` hides it).
    request: Request,
    /// The token URL, redacted.
    shown: String,
    state: tokio::sync::Mutex<Option<Token>>,
}

struct Token {
    /// `Bearer …`, marked sensitive.
    bearer: HeaderValue,
    /// When to fetch a new one (`None`: the answer gave no `expires_in`).
    refresh_at: Option<Instant>,
}

impl Token {
    fn is_fresh(&self) -> bool {
        self.refresh_at.is_none_or(|at| Instant::now() < at)
    }
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("token_url", &self.inner.shown)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    /// The `Authorization` value to send: the current token, or a new one
    /// when there is none or it is about to expire.
    pub(crate) async fn bearer(&self) -> Result<HeaderValue, FetchError> {
        let mut state = self.inner.state.lock().await;
        if let Some(token) = state.as_ref().filter(|t| t.is_fresh()) {
            return Ok(token.bearer.clone());
        }
        let token = self.inner.fetch().await?;
        let bearer = token.bearer.clone();
        *state = Some(token);
        Ok(bearer)
    }

    /// A new token after `rejected` got a 401, unless another source has
    /// already replaced it.
    pub(crate) async fn refresh(&self, rejected: &HeaderValue) -> Result<HeaderValue, FetchError> {
        let mut state = self.inner.state.lock().await;
        if let Some(token) = state.as_ref().filter(|t| t.bearer != *rejected && t.is_fresh()) {
            return Ok(token.bearer.clone());
        }
        let token = self.inner.fetch().await?;
        let bearer = token.bearer.clone();
        *state = Some(token);
        Ok(bearer)
    }
}

impl Inner {
    async fn fetch(&self) -> Result<Token, FetchError> {
        let fetched = self
            .endpoint
            .attempt(&self.request, None)
            .await
            .map_err(|e| self.wrap(e))?;
        let invalid = |what: &str| FetchError::invalid(format!("OAuth2 token from {}: {what}", self.shown));
        let answer: Value =
            serde_json::from_slice(&fetched.body).map_err(|_| invalid("the answer is not JSON"))?;
        let access = match answer.get("access_token") {
            Some(Value::String(s)) if !s.is_empty() => s,
            _ => return Err(invalid("the answer has no access_token")),
        };
        let mut bearer = HeaderValue::from_str(&format!("Bearer {access}"))
            .map_err(|_| invalid("the access_token cannot be sent in a header"))?;
        bearer.set_sensitive(true);
        let lifetime = match answer.get("expires_in") {
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
            _ => None,
        }
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| Duration::from_secs_f64(s.min(1e9)));
        let refresh_at = lifetime.map(|life| Instant::now() + life - (life / 4).min(MAX_MARGIN));
        tracing::debug!(token_url = %self.shown, lifetime = ?lifetime, "OAuth2 token fetched");
        Ok(Token { bearer, refresh_at })
    }

    /// The token endpoint's failure, named as such, with its class kept.
    fn wrap(&self, e: FetchError) -> FetchError {
        let token = |source: &pipeline_core::BoxError| {
            let detail = match source.downcast_ref::<SourceError>() {
                Some(SourceError::Status { status, .. }) => format!("HTTP {status}"),
                _ => source.to_string(),
            };
            SourceError::Token {
                token_url: self.shown.clone(),
                detail,
            }
        };
        match e {
            FetchError::Transient { source } => FetchError::transient(token(&source)),
            FetchError::Permanent { source } => FetchError::permanent(token(&source)),
            FetchError::RateLimited { retry_after, source } => {
                FetchError::rate_limited(retry_after, token(&source))
            }
            other => other,
        }
    }
}
