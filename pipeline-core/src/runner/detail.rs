//! One collection in full, for `GET /collections/{name}`: its status, its
//! configuration as the service runs it, and its last errors.

use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;

use super::CollectionStatus;
use crate::ErrorDetail;
use crate::history::format_time;

/// An error a collection met (an attempt that failed, resumed or not).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ErrorRecord {
    /// When (RFC 3339 UTC).
    #[serde(serialize_with = "rfc3339")]
    pub at: SystemTime,
    /// The error's message, without secrets.
    pub message: String,
    /// The same as fields (kind, HTTP status, cursor).
    pub detail: Option<ErrorDetail>,
}

fn rfc3339<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(*t))
}

/// One collection in full; see [`Runner::detail`](super::Runner::detail).
/// Serialized as `{"status", "config", "errors"}`.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct CollectionDetail {
    /// Its live status, as in `/status`.
    pub status: CollectionStatus,
    /// Its [description](super::Collection::description): the configuration
    /// as the service runs it, secrets redacted (`null` when none was given).
    pub config: Option<Arc<serde_json::Value>>,
    /// Its last errors, newest first.
    pub errors: Vec<ErrorRecord>,
}
