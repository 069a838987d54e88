//! A collection's robots.txt check before each request: fetch the file
//! through the host's gate when needed, apply its crawl delay, and refuse a
//! disallowed URL or an unreadable file.

use std::time::Duration;

use crawlpipe_core::FetchError;
use crawlpipe_core::policy;
use reqwest::header::{CACHE_CONTROL, HeaderMap, HeaderValue};
use tokio::time::Instant;
use url::Url;

use super::cache::{Answer, RobotsFile};
use super::{DEFAULT_ROBOTS_TTL, MIN_ROBOTS_TTL, ROBOTS_MAX_BYTES, ROBOTS_RETRY};
use crate::config::HttpSourceConfig;
use crate::error::SourceError;
use crate::http::endpoint::Endpoint;
use crate::http::request::Request;
use crate::http::user_agent::product_token;
use crate::http::{HttpContext, host_key};

/// One collection's robots.txt check: its agent and the shared files.
#[derive(Debug, Clone)]
pub(crate) struct RobotsGuard {
    ctx: HttpContext,
    /// The product token matched against `User-agent` lines.
    agent: String,
    /// The `User-Agent` the file is fetched with.
    user_agent: HeaderValue,
    deadline: Duration,
}

/// Why a URL is not requested.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// The file disallows it.
    Disallowed(SourceError),
    /// The file could not be had: nothing is fetched before `retry_at`.
    Unavailable(SourceError, Instant),
}

impl Refusal {
    /// The fetch error a page gets: skipped, or rate limited until the retry.
    pub(crate) fn into_fetch_error(self) -> FetchError {
        match self {
            Self::Disallowed(e) => FetchError::skipped(e),
            Self::Unavailable(e, retry_at) => {
                let wait = retry_at.saturating_duration_since(Instant::now());
                FetchError::rate_limited(Some(wait.max(Duration::from_millis(1))), e)
            }
        }
    }
}

impl RobotsGuard {
    /// The check of a collection sending `user_agent`.
    pub(crate) fn new(ctx: &HttpContext, user_agent: HeaderValue, deadline: Duration) -> Self {
        let agent = product_token(user_agent.to_str().unwrap_or_default()).to_owned();
        Self {
            ctx: ctx.clone(),
            agent,
            user_agent,
            deadline,
        }
    }

    /// `Ok` when `url` may be requested; `endpoint` shows URLs redacted.
    pub(crate) async fn check(&self, url: &Url, endpoint: &Endpoint) -> Result<(), Refusal> {
        let origin = url.origin().ascii_serialization();
        let Ok(mut robots_url) = url.join("/robots.txt") else {
            return Ok(());
        };
        // Credentials in the page URL's user info are not the robots.txt's
        // to send, nor to show in a message.
        let _ = robots_url.set_username("");
        let _ = robots_url.set_password(None);
        let answer = self
            .ctx
            .robots
            .answer(&origin, &self.agent, || self.fetch(&robots_url))
            .await;
        let shown_robots = robots_url.as_str().to_owned();
        match answer {
            Answer::AllowAll => Ok(()),
            Answer::Rules(rules) => {
                if let (Some(delay), Some(gate)) = (
                    rules.crawl_delay(),
                    host_key(url).and_then(|h| self.ctx.gates().get(&h)),
                ) {
                    gate.raise_min_interval(delay);
                }
                rules.check(url.as_str()).map_err(|rule| {
                    Refusal::Disallowed(SourceError::RobotsDisallowed {
                        url: endpoint.show(url),
                        robots_url: shown_robots,
                        agent: self.agent.clone(),
                        rule,
                    })
                })
            }
            Answer::Unavailable { reason, retry_at } => Err(Refusal::Unavailable(
                SourceError::RobotsUnavailable {
                    robots_url: shown_robots,
                    reason,
                    retry_in: retry_at.saturating_duration_since(Instant::now()),
                },
                retry_at,
            )),
        }
    }

    /// Fetches `robots_url` through its host's gate and breaker: the file,
    /// and when to fetch it again.
    async fn fetch(&self, robots_url: &Url) -> (RobotsFile, Instant) {
        let now = Instant::now();
        let retry = now + ROBOTS_RETRY;
        let endpoint = match Endpoint::service(
            robots_url,
            &self.ctx,
            policy::BreakerConfig::default(),
            self.deadline,
            ROBOTS_MAX_BYTES,
            HeaderMap::new(),
        ) {
            Ok(e) => e.with_user_agent(self.user_agent.clone()),
            Err(e) => return (RobotsFile::Unavailable(e.to_string()), retry),
        };
        // One try, without a token: a robots.txt is public.
        match endpoint.attempt(&Request::get(robots_url.clone()), None).await {
            Ok(fetched) => {
                let ttl = max_age(&fetched.headers).unwrap_or(DEFAULT_ROBOTS_TTL);
                let ttl = ttl.clamp(MIN_ROBOTS_TTL, DEFAULT_ROBOTS_TTL);
                tracing::debug!(url = %robots_url, ?ttl, "robots.txt fetched");
                (RobotsFile::Found(fetched.body), now + ttl)
            }
            Err(e) => match e.http_status() {
                Some(status) if (400..500).contains(&status) && status != 429 => {
                    tracing::debug!(url = %robots_url, status, "no robots.txt: everything is allowed");
                    (RobotsFile::Missing, now + DEFAULT_ROBOTS_TTL)
                }
                _ => {
                    let retry_at = e.retry_at().map_or(retry, |at| at.max(retry));
                    tracing::warn!(url = %robots_url, error = %e, "robots.txt could not be fetched; nothing is fetched from the host until it can be");
                    (RobotsFile::Unavailable(e.to_string()), retry_at)
                }
            },
        }
    }
}

/// The `max-age` of a `Cache-Control` header, if it has one.
fn max_age(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|directive| {
            let (name, value) = directive.trim().split_once('=')?;
            if !name.trim().eq_ignore_ascii_case("max-age") {
                return None;
            }
            value
                .trim()
                .trim_matches('"')
                .parse::<u64>()
                .ok()
                .map(Duration::from_secs)
        })
}

/// Checks, before a crawl, that the hosts' robots.txt allows `config`'s
/// start URL (nothing is checked when [`robots`](HttpSourceConfig::robots)
/// is off). The file is kept in `ctx` for the crawl.
///
/// A robots.txt that cannot be fetched now is not an error here: the
/// collection's first page then fails resumably (see [`crate::robots`]).
///
/// # Errors
///
/// [`SourceError::RobotsDisallowed`] naming the URL and the rule's line;
/// [`SourceError::Config`] when the configuration is invalid.
pub async fn check_start_url(config: &HttpSourceConfig, ctx: &HttpContext) -> Result<(), SourceError> {
    let (endpoint, start) = Endpoint::new(config, ctx)?;
    let Some(guard) = endpoint.robots() else {
        return Ok(());
    };
    match guard.check(&endpoint.request_url(&start), &endpoint).await {
        Ok(()) | Err(Refusal::Unavailable(..)) => Ok(()),
        Err(Refusal::Disallowed(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn robots_txt_is_asked_for_and_shown_without_the_page_urls_credentials() {
        use crate::mock::{MockConfig, MockServer, RobotsMock};
        let robots = RobotsMock::file("User-agent: *\nDisallow: /html\n");
        let server = MockServer::start(MockConfig::default().robots(robots))
            .await
            .unwrap();
        let ctx = HttpContext::new().unwrap();
        let page = server
            .url("/html?page=1")
            .replace("http://", "http://user:SECRETpw@");
        let refused = check_start_url(&HttpSourceConfig::new(&page).robots(true), &ctx)
            .await
            .unwrap_err()
            .to_string();
        let robots_url = format!("robots.txt {}/robots.txt disallows", server.base_url());
        assert!(
            refused.contains(&robots_url) && !refused.contains("SECRETpw"),
            "{refused}"
        );
        assert!(refused.contains("(line 2: Disallow: /html)"), "{refused}");
        // Another collection on the host uses the cached file: no second request.
        let other = HttpSourceConfig::new(server.url("/page")).robots(true);
        check_start_url(&other, &ctx).await.unwrap();
        assert_eq!(server.requests(), ["/robots.txt"]);
    }

    #[test]
    fn max_age_is_read_among_other_directives() {
        let mut h = HeaderMap::new();
        assert_eq!(max_age(&h), None);
        h.insert(CACHE_CONTROL, HeaderValue::from_static("public, Max-Age=3600"));
        assert_eq!(max_age(&h), Some(Duration::from_secs(3600)));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        assert_eq!(max_age(&h), None);
    }
}
