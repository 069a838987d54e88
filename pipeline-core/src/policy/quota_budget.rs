//! [`QuotaBudget`]: the request budget a server announces for one
//! credential on one host, and the pacing that makes it last until its
//! reset (see [`quota_state`](super::quota_state) for the rule).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use metrics::gauge;
use serde::Serialize;
use tokio::sync::Notify;

use super::{QuotaState, QuotaWindow, Take};
use crate::coordination::QuotaStore;
use crate::status::unix_millis;

/// In a cluster, a waiting request asks the store again at least this often
/// (another process's answer cannot wake it).
const SHARED_POLL: Duration = Duration::from_millis(50);

#[derive(Debug)]
struct BudgetInner {
    host: String,
    budget: String,
    state: Mutex<Option<QuotaState>>,
    /// An answer was seen: waiters look again.
    changed: Notify,
    /// Serialises the waiters (tokio's mutex is fair: FIFO).
    turn: tokio::sync::Mutex<()>,
    store: Option<Arc<dyn QuotaStore>>,
}

/// The budget of one credential on one host. Cloning shares it.
///
/// Every request with the credential first waits for its turn with
/// [`acquire`](Self::acquire), then tells the budget what the answer's
/// headers announced with [`observe`](Self::observe). Until a server
/// announces a budget, requests go at once.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use crawlpipe_core::policy::{QuotaBudgets, QuotaWindow};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let budgets = QuotaBudgets::new();
/// let budget = budgets.budget("api.example.com", "3f2a9c01d4e5");
/// budget.acquire().await; // nothing announced yet: at once
/// budget
///     .observe(Some(QuotaWindow {
///         limit: 5000,
///         remaining: 4999,
///         reset_at: SystemTime::now() + Duration::from_secs(3600),
///     }))
///     .await;
/// assert_eq!(budget.status().unwrap().remaining, 4999);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct QuotaBudget {
    inner: Arc<BudgetInner>,
}

/// A budget as `/status` shows it: host, budget key (a digest prefix of the
/// credential), limit, remaining, and the reset (milliseconds since the
/// Unix epoch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct QuotaStatus {
    /// The host.
    pub host: String,
    /// The budget key: a short prefix of the credential's SHA-256 digest.
    pub budget: String,
    /// Requests the window allows.
    pub limit: u64,
    /// Requests left, as last announced.
    pub remaining: u64,
    /// When the window resets.
    #[serde(serialize_with = "unix_millis")]
    pub reset_at: SystemTime,
}

impl QuotaBudget {
    /// A budget of its own (use [`QuotaBudgets`](super::QuotaBudgets) to share it).
    pub fn new(host: impl Into<String>, budget: impl Into<String>) -> Self {
        Self::with_store(host.into(), budget.into(), None)
    }

    pub(super) fn with_store(host: String, budget: String, store: Option<Arc<dyn QuotaStore>>) -> Self {
        Self {
            inner: Arc::new(BudgetInner {
                host,
                budget,
                state: Mutex::new(None),
                changed: Notify::new(),
                turn: tokio::sync::Mutex::new(()),
                store,
            }),
        }
    }

    /// The host.
    pub fn host(&self) -> &str {
        &self.inner.host
    }

    /// The budget key (a metric label and `/status` field).
    pub fn key(&self) -> &str {
        &self.inner.budget
    }

    fn state(&self) -> MutexGuard<'_, Option<QuotaState>> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until a request may start under the budget, and counts it.
    ///
    /// Waiters take turns in FIFO order. Cancel-safe: dropping the future
    /// gives its place up.
    pub async fn acquire(&self) {
        let _turn = self.inner.turn.lock().await;
        loop {
            let changed = self.inner.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let (wait, shared) = match self.take().await {
                Take::Go => return,
                Take::Wait(at) => (
                    at.duration_since(SystemTime::now()).unwrap_or_default(),
                    self.inner.store.is_some(),
                ),
            };
            let wait = if shared { wait.min(SHARED_POLL) } else { wait };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = &mut changed => {}
            }
        }
    }

    async fn take(&self) -> Take {
        if self.state().is_none() {
            return Take::Go;
        }
        let now = SystemTime::now();
        if let Some(store) = &self.inner.store {
            match store.take(&self.inner.host, &self.inner.budget, now).await {
                Ok(take) => return take,
                Err(error) => {
                    tracing::warn!(host = %self.inner.host, budget = %self.inner.budget, %error, "asking the shared quota failed; pacing locally");
                }
            }
        }
        match self.state().as_mut() {
            Some(state) => state.take(now),
            None => Take::Go,
        }
    }

    /// Tells the budget what an answer announced: its most restrictive
    /// window, or `None` when the answer announced none (after a reset,
    /// that forgets the budget: the server stopped announcing one).
    pub async fn observe(&self, window: Option<QuotaWindow>) {
        let now = SystemTime::now();
        let status = {
            let mut state = self.state();
            match window {
                Some(window) => QuotaState::observe(&mut state, window, now),
                None => {
                    if state.is_some_and(|s| s.reset_at <= now) {
                        *state = None;
                    }
                }
            }
            state.map(|s| (s.remaining, s.reset_at))
        };
        self.inner.changed.notify_waiters();
        if let Some((remaining, reset_at)) = status {
            let labels = [
                ("host", self.inner.host.clone()),
                ("budget", self.inner.budget.clone()),
            ];
            gauge!("pipeline_quota_remaining", &labels).set(remaining as f64);
            let reset = reset_at
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default();
            gauge!("pipeline_quota_reset_timestamp_seconds", &labels).set(reset.as_secs_f64());
        }
        // Stored before this request's caller goes on, so the next request's
        // take sees it (a probe's answer above all).
        if let (Some(store), Some(window)) = (&self.inner.store, window) {
            let (host, budget) = (&self.inner.host, &self.inner.budget);
            if let Err(error) = store.observe(host, budget, window, now).await {
                tracing::warn!(%host, %budget, %error, "sharing a quota answer failed");
            }
        }
    }

    /// What the budget's last answers announced (`None` before any did).
    pub fn status(&self) -> Option<QuotaStatus> {
        let state = (*self.state())?;
        Some(QuotaStatus {
            host: self.inner.host.clone(),
            budget: self.inner.budget.clone(),
            limit: state.limit,
            remaining: state.remaining,
            reset_at: state.reset_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(remaining: u64, reset_in: Duration) -> Option<QuotaWindow> {
        Some(QuotaWindow {
            limit: 10,
            remaining,
            reset_at: SystemTime::now() + reset_in,
        })
    }

    #[tokio::test]
    async fn at_the_reserve_a_request_waits_for_the_reset() {
        let budget = QuotaBudget::new("h", "k");
        budget.acquire().await;
        budget.observe(window(1, Duration::from_millis(300))).await;
        let started = std::time::Instant::now();
        budget.acquire().await;
        assert!(
            started.elapsed() >= Duration::from_millis(290),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_probe_s_answer_wakes_the_waiters() {
        let budget = QuotaBudget::new("h", "k");
        budget.observe(window(1, Duration::from_millis(50))).await;
        budget.acquire().await; // the probe, after the reset
        let b = budget.clone();
        let waiter = tokio::spawn(async move { b.acquire().await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !waiter.is_finished(),
            "a second request went before the probe's answer"
        );
        budget.observe(window(9, Duration::from_secs(10))).await;
        tokio::time::timeout(Duration::from_secs(2), waiter)
            .await
            .unwrap()
            .unwrap();
    }
}
