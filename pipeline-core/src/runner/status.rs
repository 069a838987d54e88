//! The live status of one collection under a runner.

use std::sync::Arc;
use std::time::SystemTime;

use serde::{Serialize, Serializer};

use crate::history::{LastRun, RecentRun};
use crate::status::unix_millis;
use crate::{Cursor, Progress, State};

/// Where one collection is; see [`Runner::status`](super::Runner::status).
/// Serialized as JSON by the `/status` endpoint (times as milliseconds since
/// the Unix epoch, except `next_run_at`, `last_success_at` and `last_run`'s
/// times: RFC 3339 UTC).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct CollectionStatus {
    /// The collection's name.
    pub collection: String,
    /// Where it is.
    pub state: State,
    /// Pages and items of this run, every attempt counted (pages skipped
    /// by `on_status` and `on_body` rules; items set aside in typed tables'
    /// `pipeline_rejected`).
    #[serde(flatten)]
    pub progress: Progress,
    /// The last error, without secrets.
    pub last_error: Option<String>,
    /// The last error of an attempt as fields (kind, HTTP status, cursor,
    /// message), for programs that react to it.
    pub last_error_detail: Option<crate::ErrorDetail>,
    /// The resume cursor: the last committed checkpoint, or where the
    /// current attempt started.
    pub cursor: Option<Cursor>,
    /// When the next attempt starts (while `Retrying`).
    #[serde(serialize_with = "optional_unix_millis")]
    pub next_attempt_at: Option<SystemTime>,
    /// When the first attempt of this run started.
    #[serde(serialize_with = "optional_unix_millis")]
    pub started_at: Option<SystemTime>,
    /// When this status last changed state.
    #[serde(serialize_with = "unix_millis")]
    pub updated_at: SystemTime,
    /// Resumes after failures in this run.
    pub resumes: u32,
    /// True when the collection is crawling (or finalizing) but has made
    /// no progress (pages, items) for the runner's stall timeout.
    pub stalled: bool,
    /// When its next scheduled run starts (a service's collection with an
    /// interval, between runs); `None` when none is scheduled.
    #[serde(serialize_with = "optional_rfc3339")]
    pub next_run_at: Option<SystemTime>,
    /// Runs completed since the runner started.
    pub runs: u64,
    /// In a cluster: the process holding the collection's lease (`None`:
    /// nobody, or no cluster).
    pub owner: Option<String>,
    /// In a cluster: when the owner's lease expires unless renewed.
    #[serde(serialize_with = "optional_unix_millis")]
    pub lease_until: Option<SystemTime>,
    /// The request budget its source spends, as the server last announced
    /// it (`None`: none announced, or `rate_limit_headers` off).
    pub quota: Option<crate::policy::QuotaStatus>,
    /// When its last completed run ended (RFC 3339 UTC), as the run
    /// history knows it; `None` before the first.
    #[serde(serialize_with = "crate::history::optional_rfc3339")]
    pub last_success_at: Option<SystemTime>,
    /// Its last run, whatever its outcome.
    pub last_run: Option<LastRun>,
    /// True when its last success (or, before the first, the runner's
    /// start) is older than `stale_after_secs`.
    pub stale: bool,
    /// How old its last success may get before it is stale, in seconds
    /// ([`Collection::stale_after`](super::Collection::stale_after);
    /// default twice its interval, `None` without one).
    pub stale_after_secs: Option<f64>,
    /// Its newest runs, newest first, at most
    /// [`RECENT_RUNS`](crate::history::RECENT_RUNS). Not in `/status`'s
    /// JSON, which stays small with many collections: the status page
    /// reads them from `GET /status/runs` (see the [`serve`](crate::serve)
    /// module, feature `serve`).
    #[serde(skip)]
    pub recent_runs: RecentRuns,
}

/// A collection's newest runs on the board, shared between snapshots (a
/// status copies a pointer, not the runs). Serialized as a JSON array of
/// runs, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecentRuns(Arc<Vec<RecentRun>>);

impl RecentRuns {
    /// The runs, newest first.
    pub fn as_slice(&self) -> &[RecentRun] {
        &self.0
    }

    /// Puts `run` first, keeping at most [`RECENT_RUNS`](crate::history::RECENT_RUNS).
    pub(crate) fn push(&mut self, run: RecentRun) {
        let runs = Arc::make_mut(&mut self.0);
        runs.insert(0, run);
        runs.truncate(crate::history::RECENT_RUNS);
    }

    /// Appends `"NAME":[[outcome,duration_ms,items],…]` (newest first) to
    /// `out`: one collection's member of `GET /status/runs`.
    pub(crate) fn write_json(&self, name: &str, out: &mut Vec<u8>) {
        use std::io::Write as _;
        // Writing to a Vec cannot fail, and a string always serializes.
        let _ = serde_json::to_writer(&mut *out, name);
        out.extend_from_slice(b":[");
        for (i, run) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let _ = write!(
                out,
                "[\"{}\",{},{}]",
                run.outcome.as_str(),
                run.duration_ms,
                run.items
            );
        }
        out.push(b']');
    }

    pub(crate) fn from_newest(runs: Vec<RecentRun>) -> Self {
        let mut runs = runs;
        runs.truncate(crate::history::RECENT_RUNS);
        Self(Arc::new(runs))
    }
}

impl Serialize for RecentRuns {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl CollectionStatus {
    pub(crate) fn new(collection: &str, stale_after: Option<std::time::Duration>) -> Self {
        Self {
            collection: collection.to_owned(),
            state: State::Waiting,
            progress: Progress::default(),
            last_error: None,
            last_error_detail: None,
            cursor: None,
            next_attempt_at: None,
            started_at: None,
            updated_at: SystemTime::now(),
            resumes: 0,
            stalled: false,
            next_run_at: None,
            runs: 0,
            owner: None,
            lease_until: None,
            quota: None,
            last_success_at: None,
            last_run: None,
            stale: false,
            stale_after_secs: stale_after.map(|d| d.as_secs_f64()),
            recent_runs: RecentRuns::default(),
        }
    }
}

fn optional_unix_millis<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => unix_millis(t, s),
        None => s.serialize_none(),
    }
}

fn optional_rfc3339<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.collect_str(&humantime::format_rfc3339_seconds(*t)),
        None => s.serialize_none(),
    }
}
