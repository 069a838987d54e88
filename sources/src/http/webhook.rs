//! Alerts as webhook calls: [`WebhookSender`], the [`AlertSender`] that
//! POSTs each alert as JSON.
//!
//! It lives here rather than in `crawlpipe_core` because the core has no
//! HTTP client; this crate's shared `reqwest` client (with its timeouts and
//! TLS) is the one every request of the process uses.

use std::time::Duration;

use crawlpipe_core::history::{AlertEvent, AlertSender};
use crawlpipe_core::{BoxError, async_trait};
use reqwest::header::CONTENT_TYPE;

use super::parse_http_url;
use super::redact::{default_secret_params, redact_url};
use crate::SourceError;

/// How long one delivery may take.
const DEADLINE: Duration = Duration::from_secs(10);

/// POSTs each alert as JSON (`{"collection", "event", "at", "error",
/// "status_url", "owner"}`) to a URL; a 2xx answer is a delivery. The URL
/// may carry a token (in its query or user info): it is never shown, only
/// its redacted form, and errors never include it.
///
/// # Examples
///
/// ```
/// use crawlpipe_core::history::Alerts;
/// use crawlpipe_sources::{HttpContext, WebhookSender};
///
/// let ctx = HttpContext::new()?;
/// let webhook = WebhookSender::new("https://hooks.example/alerts?token=s3cret", ctx.client().clone())?;
/// assert_eq!(webhook.shown_url(), "https://hooks.example/alerts?token=***");
/// let alerts = Alerts::new(webhook);
/// # let _ = alerts;
/// # Ok::<(), crawlpipe_sources::SourceError>(())
/// ```
#[derive(Clone)]
pub struct WebhookSender {
    url: reqwest::Url,
    shown: String,
    client: reqwest::Client,
}

impl std::fmt::Debug for WebhookSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSender")
            .field("url", &self.shown)
            .finish_non_exhaustive()
    }
}

impl WebhookSender {
    /// A sender to `url` (http or https) through `client`.
    ///
    /// # Errors
    ///
    /// [`SourceError::Config`] when `url` is not an http(s) URL with a host
    /// (the message does not repeat the URL).
    pub fn new(url: &str, client: reqwest::Client) -> Result<Self, SourceError> {
        let parsed = parse_http_url(url).map_err(|e| SourceError::config(format!("alert_webhook: {e}")))?;
        Ok(Self {
            shown: redact_url(url, &default_secret_params()),
            url: parsed,
            client,
        })
    }

    /// The URL with its secrets masked, for logs and messages.
    pub fn shown_url(&self) -> &str {
        &self.shown
    }
}

#[async_trait]
impl AlertSender for WebhookSender {
    async fn send(&self, event: &AlertEvent) -> Result<(), BoxError> {
        let body = serde_json::to_vec(event)?;
        let answer = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .timeout(DEADLINE)
            .body(body)
            .send()
            .await
            // The error would name the URL, token included.
            .map_err(|e| format!("webhook {}: {}", self.shown, e.without_url()))?;
        let status = answer.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("webhook {}: HTTP {}", self.shown, status.as_u16()).into())
        }
    }
}
