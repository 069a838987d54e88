//! One finished run of a collection, as kept in the history and shown.

use std::time::{Duration, SystemTime};

use serde::{Serialize, Serializer};

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RunOutcome {
    /// Every item written.
    Completed,
    /// Failed for good (its resumes exhausted, or not resumable).
    Failed,
    /// Stopped by a shutdown or a removal; the next run resumes it.
    Cancelled,
}

impl RunOutcome {
    /// A stable lowercase name (`completed`, `failed`, `cancelled`), as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses [`RunOutcome::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            _ => return None,
        })
    }
}

impl std::fmt::Display for RunOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finished run of a collection (a top-level collection's run, or a
/// child collection's children in one run of their parent, summed).
///
/// Serialized as the items of `GET /collections/{name}/runs`: times as
/// RFC 3339 UTC with milliseconds, `outcome` as [`RunOutcome::as_str`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RunRecord {
    /// The collection's name.
    pub collection: String,
    /// The run's id, unique per collection (its start in milliseconds and a
    /// random suffix, so processes of a cluster never pick the same one).
    pub run: String,
    /// The process that ran it, in a cluster (its worker name).
    pub owner: Option<String>,
    /// When its first attempt started.
    #[serde(serialize_with = "rfc3339")]
    pub started_at: SystemTime,
    /// When it ended.
    #[serde(serialize_with = "rfc3339")]
    pub ended_at: SystemTime,
    /// How it ended.
    pub outcome: RunOutcome,
    /// Items written.
    pub items: u64,
    /// Pages fetched, every attempt counted.
    pub pages: u64,
    /// Resumes after failures.
    pub resumes: u32,
    /// Pages the server answered "not modified" (0 until conditional
    /// requests exist).
    pub not_modified: u64,
    /// Waits for a request quota (0 until quotas exist).
    pub quota_waits: u64,
    /// The last error, without secrets.
    pub error: Option<String>,
}

impl RunRecord {
    /// A record of a run of `collection` from `started_at` to `ended_at`,
    /// with a fresh [`run`](Self::run) id and no counts.
    pub fn new(
        collection: impl Into<String>,
        started_at: SystemTime,
        ended_at: SystemTime,
        outcome: RunOutcome,
    ) -> Self {
        Self {
            collection: collection.into(),
            run: run_id(started_at),
            owner: None,
            started_at,
            ended_at,
            outcome,
            items: 0,
            pages: 0,
            resumes: 0,
            not_modified: 0,
            quota_waits: 0,
            error: None,
        }
    }

    /// How long it took (zero if the clock went back).
    pub fn duration(&self) -> Duration {
        self.ended_at.duration_since(self.started_at).unwrap_or_default()
    }

    /// The short form kept on the runner's board for `/status`.
    pub fn brief(&self) -> RecentRun {
        RecentRun {
            outcome: self.outcome,
            duration_ms: self.duration().as_millis() as u64,
            items: self.items,
        }
    }

    /// The form `/status` shows as `last_run`.
    pub fn last_run(&self) -> LastRun {
        LastRun {
            outcome: self.outcome,
            started_at: self.started_at,
            ended_at: self.ended_at,
            duration_ms: self.duration().as_millis() as u64,
            items: self.items,
            pages: self.pages,
        }
    }
}

/// A run in `/status`'s `recent_runs` (the overview's sparkline): cheap to
/// keep twenty of per collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RecentRun {
    /// How it ended.
    pub outcome: RunOutcome,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// Items written.
    pub items: u64,
}

/// A collection's last run, in `/status`'s `last_run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LastRun {
    /// How it ended.
    pub outcome: RunOutcome,
    /// When it started (RFC 3339 UTC).
    #[serde(serialize_with = "rfc3339")]
    pub started_at: SystemTime,
    /// When it ended (RFC 3339 UTC).
    #[serde(serialize_with = "rfc3339")]
    pub ended_at: SystemTime,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// Items written.
    pub items: u64,
    /// Pages fetched.
    pub pages: u64,
}

/// A run id: the start in milliseconds since the epoch and a random suffix.
fn run_id(started_at: SystemTime) -> String {
    let ms = started_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("{ms}-{:04x}", fastrand::u16(..))
}

/// Formats a time as RFC 3339 UTC with milliseconds, as the history stores
/// and shows it (`2026-12-05T15:46:02.123Z`).
pub fn format_time(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// Parses [`format_time`]'s output (any RFC 3339 UTC time).
pub fn parse_time(s: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(s).ok()
}

pub(crate) fn rfc3339<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_rfc3339_millis(*t))
}

pub(crate) fn optional_rfc3339<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => rfc3339(t, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_serializes_with_rfc3339_times_and_its_outcome() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let mut r = RunRecord::new(
            "a",
            start,
            start + Duration::from_millis(1500),
            RunOutcome::Failed,
        );
        r.items = 7;
        r.error = Some("boom".into());
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["started_at"], "2023-11-14T22:13:20.123Z");
        assert_eq!(v["ended_at"], "2023-11-14T22:13:21.623Z");
        assert_eq!(v["outcome"], "failed");
        assert_eq!(v["items"], 7);
        assert!(v["run"].as_str().unwrap().starts_with("1700000000123-"));
        assert_eq!(r.brief().duration_ms, 1500);
        assert_eq!(parse_time("2023-11-14T22:13:20.123Z"), Some(start));
        assert_eq!(
            RunOutcome::parse(RunOutcome::Cancelled.as_str()),
            Some(RunOutcome::Cancelled)
        );
    }
}
