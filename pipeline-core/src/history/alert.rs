//! An alert: what happened to a collection that someone should be told
//! about, and the [`AlertSender`] that tells them.

use std::time::SystemTime;

use async_trait::async_trait;
use serde::Serialize;

use super::record::rfc3339;
use crate::BoxError;

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AlertKind {
    /// A run failed for good.
    Failed,
    /// A run completed after a failed one.
    Recovered,
    /// The last success is older than the collection's `stale_after`.
    Stale,
}

impl AlertKind {
    /// Every kind, in a stable order.
    pub const ALL: [AlertKind; 3] = [Self::Failed, Self::Recovered, Self::Stale];

    /// A stable lowercase name (`failed`, `recovered`, `stale`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Failed => "failed",
            Self::Recovered => "recovered",
            Self::Stale => "stale",
        }
    }

    /// Parses [`AlertKind::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for AlertKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One alert, as a webhook receives it in JSON:
/// `{"collection", "event", "at", "error", "status_url", "owner"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AlertEvent {
    /// The collection.
    pub collection: String,
    /// What happened.
    pub event: AlertKind,
    /// When (RFC 3339 UTC).
    #[serde(serialize_with = "rfc3339")]
    pub at: SystemTime,
    /// The collection's last error, without secrets (`None` for a recovery
    /// or when there was none).
    pub error: Option<String>,
    /// A link to the collection on the status page, when one is served.
    pub status_url: Option<String>,
    /// In a cluster: the process that saw the event.
    pub owner: Option<String>,
}

/// Delivers one alert (a webhook POST, an e-mail, a chat message). The
/// runner's [`Alerts`](super::Alerts) calls it from a task of its own, with
/// retries, so a slow receiver never blocks a crawl.
#[async_trait]
pub trait AlertSender: Send + Sync + std::fmt::Debug + 'static {
    /// Sends `event` once. An error is retried with backoff, then logged
    /// and counted; its text must carry no secret (no URL with a token).
    async fn send(&self, event: &AlertEvent) -> Result<(), BoxError>;
}
