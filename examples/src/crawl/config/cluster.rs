//! `[runtime] cluster` and `lease_ms`: whether this process joins a cluster,
//! and its lease.

use std::time::Duration;

/// The lease of a cluster member (`None`: this process alone), or the key at
/// fault and why.
pub(super) fn lease(
    cluster: bool,
    lease_ms: Option<u64>,
    database: &str,
) -> Result<Option<Duration>, (&'static str, &'static str)> {
    match (cluster, lease_ms) {
        (false, Some(_)) => Err(("runtime.lease_ms", "is set but runtime.cluster is not true")),
        (false, None) => Ok(None),
        (true, _) if !(database.starts_with("postgres://") || database.starts_with("postgresql://")) => {
            Err((
                "runtime.cluster",
                "needs a PostgreSQL runtime.database (postgres://…): processes share leases there",
            ))
        }
        (true, lease_ms) => match lease_ms.unwrap_or(30_000) {
            ms if ms < 300 => Err(("runtime.lease_ms", "must be at least 300")),
            ms => Ok(Some(Duration::from_millis(ms))),
        },
    }
}
