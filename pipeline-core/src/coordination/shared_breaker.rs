//! An open circuit breaker held for every process of a cluster: a process
//! whose breaker opens publishes it in the store every process shares (the
//! host's row, in the `sinks` crate), and closes it there when its probe
//! succeeds; the other processes read it before their requests, at most
//! once per [`REFRESH`] per host, and fail fast until it ends (see docs/operations.md,
//! "Running on several machines").

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::HostSlots;

/// How often a process reads a host's shared breaker while it sends requests.
pub(crate) const REFRESH: Duration = Duration::from_secs(1);

/// One breaker's link to the shared store.
#[derive(Debug)]
pub(crate) struct SharedBreaker {
    store: Arc<dyn HostSlots>,
    host: String,
    /// When the store was last read (or is being read).
    read_at: Mutex<Option<Instant>>,
}

impl SharedBreaker {
    pub(crate) fn new(store: Arc<dyn HostSlots>, host: &str) -> Self {
        Self {
            store,
            host: host.to_owned(),
            read_at: Mutex::new(None),
        }
    }

    /// Publishes the breaker as open for `cooldown` from now, in the background.
    pub(crate) fn publish_open(&self, cooldown: Duration) {
        self.publish(Some(cooldown));
    }

    /// Publishes the breaker as closed, in the background.
    pub(crate) fn publish_closed(&self) {
        self.publish(None);
    }

    fn publish(&self, open_for: Option<Duration>) {
        let store = self.store.clone();
        let host = self.host.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(error) = store.set_breaker(&host, open_for).await {
                    tracing::warn!(%host, %error, "sharing a circuit breaker's state failed");
                }
            });
        }
    }

    /// Until when the cluster's breaker of the host is open, read from the
    /// store unless it was read less than [`REFRESH`] ago (then `None`).
    pub(crate) async fn read(&self) -> Option<Instant> {
        {
            let mut read_at = self.read_at.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            if read_at.is_some_and(|at| now.duration_since(at) < REFRESH) {
                return None;
            }
            *read_at = Some(now);
        }
        match self.store.breaker(&self.host).await {
            Ok(open_for) => open_for.map(|d| Instant::now() + d),
            Err(error) => {
                tracing::warn!(host = %self.host, %error, "reading a shared circuit breaker failed");
                None
            }
        }
    }
}
