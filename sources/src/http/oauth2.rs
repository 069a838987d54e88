//! Shared tokens (OAuth2 grants and generic token requests): one token per
//! grant, shared by every source of an [`HttpContext`] (as host gates are).
//!
//! A grant is keyed by a digest of everything that defines it (token URL,
//! client id, secret, scope, audience, grant type, refresh token, client
//! authentication; a token request's fields, headers and pointers), so two
//! collections share a token only when they would have asked for the same
//! one, and the key holds no secret.
//!
//! The token is fetched before the first request, kept until shortly
//! before it expires (a margin of a quarter of its life, at most 30 s, so
//! a request never leaves with a token about to die), and fetched again
//! when a request gets a 401 with it. One fetch at a time: sources waiting
//! meanwhile get its result. A refresh-token grant keeps the rotated
//! refresh token the server answers with, in memory only.
//!
//! The token request goes through the token host's gate and breaker like a
//! page request, and its failure fails the page fetch with the same class
//! (a 5xx is retried, a 401 for a bad secret is not). Errors name the token
//! URL, never a secret; the token itself is a sensitive header value.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crawlpipe_core::FetchError;
use tokio::time::Instant;

use crate::config::HttpSourceConfig;
use crate::error::SourceError;
use crate::http::HttpContext;
use crate::http::endpoint::Endpoint;
use crate::http::grant::{Grant, GrantKey};
use crate::http::request::Credential;

/// Token answers are small; anything larger is not one.
const MAX_TOKEN_BODY: u64 = 1024 * 1024;
/// The most a token is refreshed ahead of its expiry.
const MAX_MARGIN: Duration = Duration::from_secs(30);

/// The token sources of a context, by grant.
#[derive(Debug, Clone, Default)]
pub(crate) struct TokenRegistry(Arc<Mutex<HashMap<GrantKey, TokenSource>>>);

impl TokenRegistry {
    /// The shared token source of `grant` (the first source built for a
    /// grant sets its deadline, breaker and `User-Agent`).
    pub(crate) fn source(
        &self,
        grant: Grant,
        ctx: &HttpContext,
        config: &HttpSourceConfig,
        user_agent: &reqwest::header::HeaderValue,
    ) -> Result<TokenSource, SourceError> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(source) = map.get(grant.key()) {
            return Ok(source.clone());
        }
        let endpoint = Endpoint::service(
            &grant.token_url,
            ctx,
            config.breaker_config(),
            Duration::from_millis(config.timeout_ms.max(1)),
            MAX_TOKEN_BODY,
            grant.headers.clone(),
        )?
        .with_user_agent(user_agent.clone());
        let key = grant.key().clone();
        let source = TokenSource {
            inner: Arc::new(Inner {
                state: tokio::sync::Mutex::new(State {
                    token: None,
                    refresh_token: grant.refresh_token.clone(),
                }),
                endpoint,
                grant,
            }),
        };
        map.insert(key, source.clone());
        Ok(source)
    }
}

/// One shared token and how to get a new one.
#[derive(Clone)]
pub(crate) struct TokenSource {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: Endpoint,
    grant: Grant,
    state: tokio::sync::Mutex<State>,
}

struct State {
    token: Option<Token>,
    /// The refresh token to send next: as configured, then as rotated.
    refresh_token: Option<String>,
}

struct Token {
    /// The header every request carries, marked sensitive.
    credential: Credential,
    /// When to fetch a new one (`None`: the answer gave no expiry).
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
            .field("token_url", &self.inner.grant.shown)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    /// The header to send: the current token, or a new one when there is
    /// none or it is about to expire.
    pub(crate) async fn credential(&self) -> Result<Credential, FetchError> {
        let mut state = self.inner.state.lock().await;
        if let Some(token) = state.token.as_ref().filter(|t| t.is_fresh()) {
            return Ok(token.credential.clone());
        }
        self.inner.fetch(&mut state).await
    }

    /// A new token after `rejected` got a 401, unless another source has
    /// already replaced it.
    pub(crate) async fn refresh(&self, rejected: &Credential) -> Result<Credential, FetchError> {
        let mut state = self.inner.state.lock().await;
        if let Some(token) = state
            .token
            .as_ref()
            .filter(|t| t.credential != *rejected && t.is_fresh())
        {
            return Ok(token.credential.clone());
        }
        self.inner.fetch(&mut state).await
    }
}

impl Inner {
    async fn fetch(&self, state: &mut State) -> Result<Credential, FetchError> {
        let grant = &self.grant;
        let (request, client) = grant.request(state.refresh_token.as_deref());
        let fetched = self
            .endpoint
            .attempt(&request, client.as_ref())
            .await
            .map_err(|e| self.wrap(e))?;
        let issued = grant
            .read(&fetched.body)
            .map_err(|what| FetchError::invalid(format!("{} from {}: {what}", grant.what(), grant.shown)))?;
        let rotated = issued.refresh_token.is_some();
        if let Some(next) = issued.refresh_token {
            state.refresh_token = Some(next);
        }
        let refresh_at = issued
            .lifetime
            .map(|life| Instant::now() + life - (life / 4).min(MAX_MARGIN));
        tracing::debug!(token_url = %grant.shown, lifetime = ?issued.lifetime, rotated, "token fetched");
        let credential = issued.credential;
        state.token = Some(Token {
            credential: credential.clone(),
            refresh_at,
        });
        Ok(credential)
    }

    /// The token endpoint's failure, named as such, with its class kept.
    fn wrap(&self, e: FetchError) -> FetchError {
        let status = e.http_status();
        let token = |source: &crawlpipe_core::BoxError| {
            let detail = match status {
                Some(status) => format!("HTTP {status}"),
                None => source.to_string(),
            };
            SourceError::Token {
                what: self.grant.what(),
                token_url: self.grant.shown.clone(),
                detail,
            }
        };
        let wrapped = match e {
            FetchError::Transient { source } => FetchError::transient(token(&source)),
            FetchError::Permanent { source } => FetchError::permanent(token(&source)),
            FetchError::RateLimited { retry_after, source } => {
                FetchError::rate_limited(retry_after, token(&source))
            }
            other => return other,
        };
        match status {
            Some(status) => wrapped.with_http_status(status),
            None => wrapped,
        }
    }
}
