use std::time::SystemTime;

use serde::{Serialize, Serializer};

use crate::{Cursor, Progress};

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
    /// Pages and items so far.
    #[serde(flatten)]
    pub progress: Progress,
    /// The last error seen (retried or not), without secrets.
    pub last_error: Option<String>,
    /// Where a restart would resume: the last committed checkpoint, else
    /// where this attempt started (`None`: the first page).
    pub cursor: Option<Cursor>,
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
            progress: Progress::default(),
            last_error: None,
            cursor: None,
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
