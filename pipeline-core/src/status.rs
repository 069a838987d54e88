use std::time::SystemTime;

use serde::{Serialize, Serializer};

use crate::Cursor;

/// Where a collection is in its life.
///
/// A single pipeline goes `Crawling → Finalizing → Completed | Failed | Cancelled`;
/// a runner adds `Waiting` and `Retrying` around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum State {
    /// Not started yet.
    Waiting,
    /// Fetching and writing.
    Crawling,
    /// Failed in-band, waiting to resume.
    Retrying,
    /// Input drained; the sink is writing its last batch and finishing.
    Finalizing,
    /// Done: every item written.
    Completed,
    /// Done: failed for good.
    Failed,
    /// Done: cancelled.
    Cancelled,
}

impl State {
    /// A stable lowercase name (for labels and storage).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Crawling => "crawling",
            Self::Retrying => "retrying",
            Self::Finalizing => "finalizing",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses [`State::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "waiting" => Self::Waiting,
            "crawling" => Self::Crawling,
            "retrying" => Self::Retrying,
            "finalizing" => Self::Finalizing,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            _ => return None,
        })
    }

    /// Whether this state is final.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A live view of one pipeline, published through a `watch` channel.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Status {
    /// The collection's name.
    pub collection: String,
    /// Where it is.
    pub state: State,
    /// Pages fetched.
    pub pages: u64,
    /// Items the source produced.
    pub items_fetched: u64,
    /// Items the sink committed.
    pub items_written: u64,
    /// Items skipped by a `try_map`.
    pub items_skipped: u64,
    /// Pages skipped by a rule of the source ([`FetchError::Skipped`](crate::FetchError::Skipped)).
    pub pages_skipped: u64,
    /// Pages answered `304 Not Modified` to a conditional request (counted
    /// in `pages` too): their stored rows stand, nothing was written.
    pub pages_not_modified: u64,
    /// The last page skipped: its cursor and why.
    pub last_skipped: Option<String>,
    /// Items the sink set aside instead of writing them to their table
    /// (see [`SinkContext::add_rejected`](crate::SinkContext::add_rejected)).
    pub items_rejected: u64,
    /// The last error seen (retried or not), without secrets.
    pub last_error: Option<String>,
    /// The last committed checkpoint.
    pub checkpoint: Option<Cursor>,
    /// When the pipeline started (milliseconds since the Unix epoch in JSON).
    #[serde(serialize_with = "unix_millis")]
    pub started_at: SystemTime,
    /// When this status last changed (milliseconds since the Unix epoch in JSON).
    #[serde(serialize_with = "unix_millis")]
    pub updated_at: SystemTime,
}

impl Status {
    pub(crate) fn new(collection: &str) -> Self {
        let now = SystemTime::now();
        Self {
            collection: collection.to_owned(),
            state: State::Crawling,
            pages: 0,
            items_fetched: 0,
            items_written: 0,
            items_skipped: 0,
            pages_skipped: 0,
            pages_not_modified: 0,
            last_skipped: None,
            items_rejected: 0,
            last_error: None,
            checkpoint: None,
            started_at: now,
            updated_at: now,
        }
    }
}

/// Serializes a time as milliseconds since the Unix epoch.
pub(crate) fn unix_millis<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    let ms = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    s.serialize_u64(ms)
}
