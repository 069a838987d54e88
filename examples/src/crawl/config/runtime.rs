//! `[runtime]`: the process-wide settings, and the secret values they may hold.

use serde::Deserialize;

/// Whether a crawl writes into the live tables or through staging tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Upsert into the live table as pages arrive.
    #[default]
    Upsert,
    /// Write to `<table>__staging`; a complete crawl replaces the live table.
    Staging,
}

/// `[runtime]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Collections crawled at once (default 4).
    pub concurrency: Option<usize>,
    /// Children of child collections crawled at once, in slots of their
    /// own (default: twice `concurrency`; a child spends part of its short
    /// run opening and committing, so more of them keep a host's request
    /// slots busy).
    pub children: Option<usize>,
    /// Where items and checkpoints go (default `sqlite://crawl.db`).
    pub database: Option<String>,
    /// `upsert` (default) or `staging`.
    pub mode: Option<Mode>,
    /// Address of `GET /metrics` and `GET /status`; omitted: disabled.
    pub metrics_addr: Option<String>,
    /// Resumes per collection after in-band failures (default 5).
    pub max_resumes: Option<u32>,
    /// Enables `POST /collections/{name}/run` with this bearer token.
    pub admin_token: Option<String>,
    /// Share the collections with every process started on the same
    /// PostgreSQL database (default false).
    pub cluster: Option<bool>,
    /// A cluster lease's duration in ms (default 30000).
    pub lease_ms: Option<u64>,
    /// Host names the status server answers to, besides its bound address
    /// and `localhost` (default none).
    pub status_hosts: Option<Vec<String>>,
    /// Runs kept per collection in `pipeline_runs` (default 100).
    pub history: Option<usize>,
    /// Where alerts are POSTed as JSON; omitted: no alerts.
    pub alert_webhook: Option<String>,
    /// Which events are alerted: `failed`, `recovered`, `stale` (default all).
    pub alert_on: Option<Vec<String>>,
}

/// A secret from the config: never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}
