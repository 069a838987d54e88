//! One collection's polite, bounded access to its host: headers and
//! credentials, allowed hosts, limits, the host's gate and breaker.

use std::sync::Arc;
use std::time::Duration;

use crawlpipe_core::FetchError;
use crawlpipe_core::policy::{self, CircuitBreaker, GateConfig, HostGate, QuotaBudget};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use url::Url;

use crate::config::HttpSourceConfig;
use crate::error::SourceError;
use crate::http::answer_rules::AnswerRules;
use crate::http::cursor_secrets::CursorSecrets;
use crate::http::oauth2::TokenSource;
use crate::http::redact::redact_url;
use crate::http::request::{Credential, Outcome, Request, is_unauthorized};
use crate::http::user_agent::user_agent_header;
use crate::http::{Fetched, HttpContext, check_scheme, host_key, parse_http_url};
use crate::robots::RobotsGuard;

/// One collection's access to its host: headers, limits, gate and breaker.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub(crate) client: reqwest::Client,
    pub(crate) host: String,
    pub(crate) headers: Arc<HeaderMap>,
    gate: HostGate,
    breaker: CircuitBreaker,
    allowed_hosts: Arc<Vec<String>>,
    deadline: Duration,
    pub(crate) max_body: u64,
    secrets: CursorSecrets,
    /// The token every request carries (OAuth2, a token request), if configured.
    token: Option<TokenSource>,
    /// `on_status` and `on_body`.
    pub(crate) rules: Arc<AnswerRules>,
    /// The `User-Agent` of every request, redirects included.
    user_agent: HeaderValue,
    /// The robots.txt check before each request, when obeyed.
    robots: Option<RobotsGuard>,
    /// The budget of the credential on the host (`rate_limit_headers`).
    pub(crate) quota: Option<QuotaBudget>,
}

impl Endpoint {
    /// The endpoint of `config`, and its start URL in cursor form (see
    /// [`CursorSecrets`]).
    pub(crate) fn new(config: &HttpSourceConfig, ctx: &HttpContext) -> Result<(Self, Url), SourceError> {
        let auth = config
            .auth
            .as_ref()
            .map(|a| a.parts())
            .transpose()?
            .unwrap_or_default();
        let mut secret_params = config.secret_params.clone();
        if let Some((name, _)) = &auth.query {
            secret_params.push(name.clone());
        }
        let start = parse_http_url(&config.url).map_err(|reason| {
            SourceError::config(format!(
                "start URL {:?}: {reason}",
                redact_url(&config.url, &secret_params)
            ))
        })?;
        let (mut secrets, start) = CursorSecrets::from_start(&start, &secret_params);
        if let Some((name, value)) = auth.query {
            secrets.add(name, value);
        }
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
        if let Some((name, value)) = auth.header {
            headers.insert(name, value);
        }
        // One User-Agent, sent on every hop and matched against robots.txt:
        // `user_agent`, else a `User-Agent` in `headers`, else the default.
        let from_headers = headers.remove(USER_AGENT);
        let user_agent = match (&config.user_agent, from_headers) {
            (None, Some(value)) => {
                let text = value.to_str().map_err(|_| {
                    SourceError::config("the value of header user-agent must be visible ASCII text")
                })?;
                user_agent_header(Some(text))?
            }
            (configured, _) => user_agent_header(configured.as_deref())?,
        };
        let deadline = Duration::from_millis(config.timeout_ms);
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
        let token = auth
            .grant
            .map(|grant| ctx.tokens.source(grant, ctx, config, &user_agent))
            .transpose()?;
        let rules = AnswerRules::new(&config.on_status, &config.on_body)?;
        let robots = config
            .robots_enabled()
            .then(|| RobotsGuard::new(ctx, user_agent.clone(), deadline));
        let quota = ctx.quota_budget(config)?;
        let endpoint = Self {
            client: ctx.client().clone(),
            gate: ctx.gates().gate(&host, config.gate_config()),
            breaker: ctx.breakers().breaker(&host, config.breaker_config()),
            host,
            headers: Arc::new(headers),
            allowed_hosts: Arc::new(allowed),
            deadline,
            max_body: config.max_body_bytes,
            secrets,
            token,
            rules: Arc::new(rules),
            user_agent,
            robots,
            quota,
        };
        Ok((endpoint, start))
    }

    /// An endpoint for a service URL such as an OAuth2 token endpoint:
    /// `headers` only, no credentials nor rules, only its own host allowed,
    /// the host's gate (default politeness unless a collection set it) and breaker.
    pub(crate) fn service(
        url: &Url,
        ctx: &HttpContext,
        breaker: policy::BreakerConfig,
        deadline: Duration,
        max_body: u64,
        headers: HeaderMap,
    ) -> Result<Self, SourceError> {
        let host = host_key(url).ok_or_else(|| SourceError::config("the URL has no host"))?;
        let (secrets, _) = CursorSecrets::from_start(url, &crate::http::redact::default_secret_params());
        Ok(Self {
            client: ctx.client().clone(),
            gate: ctx.gates().gate(&host, GateConfig::default()),
            breaker: ctx.breakers().breaker(&host, breaker),
            host,
            headers: Arc::new(headers),
            allowed_hosts: Arc::new(url.host_str().map(str::to_ascii_lowercase).into_iter().collect()),
            deadline,
            max_body,
            secrets,
            token: None,
            rules: Arc::new(AnswerRules::default()),
            user_agent: HeaderValue::from_static(crate::robots::DEFAULT_USER_AGENT),
            robots: None,
            quota: None,
        })
    }

    /// The same endpoint sending `user_agent`.
    pub(crate) fn with_user_agent(mut self, user_agent: HeaderValue) -> Self {
        self.user_agent = user_agent;
        self
    }

    /// The `User-Agent` every request carries.
    pub(crate) fn user_agent(&self) -> &HeaderValue {
        &self.user_agent
    }

    /// The robots.txt check, when the collection obeys robots.txt.
    pub(crate) fn robots(&self) -> Option<&RobotsGuard> {
        self.robots.as_ref()
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

    /// GETs `url` (see [`send`](Self::send)).
    pub(crate) async fn get(&self, url: &Url) -> Result<Fetched, FetchError> {
        self.send(&Request::get(url.clone())).await
    }

    /// Sends `request` politely (robots.txt, breaker, gate, deadline,
    /// redirects, body cap) and classifies errors. With a token (OAuth2, a
    /// token request), the token is taken before the gate (the token
    /// endpoint may share the host, and its gate), and a 401 gets one new
    /// token and one retry. A URL robots.txt disallows is skipped; one whose
    /// robots.txt is unavailable is rate limited until it is fetched again.
    pub(crate) async fn send(&self, request: &Request) -> Result<Fetched, FetchError> {
        if let Some(robots) = &self.robots {
            robots
                .check(&request.url, self)
                .await
                .map_err(crate::robots::Refusal::into_fetch_error)?;
        }
        let Some(token) = &self.token else {
            return self.attempt(request, None).await;
        };
        let credential = token.credential().await?;
        match self.attempt(request, Some(&credential)).await {
            Err(e) if is_unauthorized(&e) => {
                tracing::info!(host = %self.host, "token refused (HTTP 401); fetching a new one and retrying once");
                let fresh = token.refresh(&credential).await?;
                self.attempt(request, Some(&fresh)).await
            }
            other => other,
        }
    }

    /// One try of `request` with `credential` (no token handling: the
    /// token endpoint's own requests come through here).
    pub(crate) async fn attempt(
        &self,
        request: &Request,
        credential: Option<&Credential>,
    ) -> Result<Fetched, FetchError> {
        // In a cluster: another process's open breaker (read once a second).
        self.breaker.refresh().await;
        let call = self.breaker.check().map_err(|retry_at| FetchError::CircuitOpen {
            host: self.host.clone(),
            retry_at,
        })?;
        // The credential's budget first: a wait for it holds no host slot,
        // so other credentials on the host go on meanwhile.
        if let Some(quota) = &self.quota {
            quota.acquire().await;
        }
        let permit = self.gate.acquire().await;
        let result = match tokio::time::timeout(self.deadline, self.follow(request, credential)).await {
            Ok(r) => r,
            Err(_) => Err(Outcome::Failed(FetchError::transient(SourceError::Deadline {
                method: request.method.as_str(),
                url: self.show(&request.url),
                deadline: self.deadline,
            }))),
        };
        match result {
            Ok(fetched) => {
                // The per-request critical path, traced at this target (see
                // docs/benchmarks.md): this event, the gate's grant, the send.
                tracing::trace!(target: "crawlpipe::critical_path", host = %self.host, "response complete");
                permit.success();
                call.success();
                // The next request on this host leaves before this response
                // is split and paged through (see `HostGate::is_full`).
                if self.gate.is_full() {
                    tokio::task::yield_now().await;
                }
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
}
