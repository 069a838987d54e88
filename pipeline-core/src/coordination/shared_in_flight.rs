//! A host's cap on requests in flight, held for every process of a cluster:
//! a request runs only with one of the host's `max_in_flight` tokens, taken
//! from the store every process shares (PostgreSQL session advisory locks,
//! in the `sinks` crate, which the database frees when a process dies).
//!
//! A process keeps a token it no longer uses for a short while
//! ([`LINGER`]) before giving it back, so a steady crawl takes its tokens
//! once and costs no round trip per request; a process that finds every
//! token taken asks again after a short, growing wait (see docs/operations.md, "Running
//! on several machines").

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

use super::HostSlots;

/// How long an unused token is kept before it is given back.
pub(crate) const LINGER: Duration = Duration::from_millis(100);
/// The first and the longest wait before asking again for a token.
const FIRST_WAIT: Duration = Duration::from_millis(2);
const LONGEST_WAIT: Duration = Duration::from_millis(50);

/// One gate's tokens of the cluster-wide in-flight cap.
#[derive(Debug)]
pub(crate) struct SharedInFlight {
    store: Arc<dyn HostSlots>,
    host: String,
    cap: u32,
    idle: Mutex<Idle>,
    /// A token was put back (a waiter looks again).
    freed: Notify,
}

#[derive(Debug, Default)]
struct Idle {
    /// Tokens held but unused, and since when.
    tokens: Vec<(u32, Instant)>,
    /// Whether a task gives idle tokens back after [`LINGER`].
    reaping: bool,
}

/// One request's token; put back when dropped. `None` inside: the store
/// could not be reached, the request runs under the local cap only.
#[derive(Debug)]
pub(crate) struct Token {
    owner: Arc<SharedInFlight>,
    id: Option<u32>,
}

impl Drop for Token {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.owner.put_back(id);
        }
    }
}

impl SharedInFlight {
    pub(crate) fn new(store: Arc<dyn HostSlots>, host: &str, cap: usize) -> Arc<Self> {
        Arc::new(Self {
            store,
            host: host.to_owned(),
            cap: u32::try_from(cap.max(1)).unwrap_or(u32::MAX),
            idle: Mutex::new(Idle::default()),
            freed: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Idle> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a token: an idle one of this process, or a free one of the
    /// cluster. Cancel-safe: a token taken for a caller that gave up is kept
    /// as idle.
    pub(crate) async fn take(self: &Arc<Self>) -> Token {
        let mut wait = FIRST_WAIT;
        loop {
            if let Some((id, _)) = self.lock().tokens.pop() {
                return Token {
                    owner: self.clone(),
                    id: Some(id),
                };
            }
            // Taken in a task of its own, so that a token the store hands
            // out is never lost with a cancelled caller.
            let (tx, rx) = oneshot::channel();
            let this = self.clone();
            tokio::spawn(async move {
                let taken = this.store.take_token(&this.host, this.cap).await;
                if let Err(Ok(Some(id))) = tx.send(taken) {
                    this.put_back(id);
                }
            });
            match rx.await {
                Ok(Ok(Some(id))) => {
                    return Token {
                        owner: self.clone(),
                        id: Some(id),
                    };
                }
                Ok(Ok(None)) => {
                    // Every token is taken: wait for one of ours or ask again.
                    let _ = tokio::time::timeout(wait, self.freed.notified()).await;
                    wait = (wait * 2).min(LONGEST_WAIT);
                }
                Ok(Err(error)) => {
                    tracing::warn!(host = %self.host, %error, "taking a shared in-flight token failed; capping locally");
                    // The store's session, and so its tokens, may be gone.
                    self.lock().tokens.clear();
                    return Token {
                        owner: self.clone(),
                        id: None,
                    };
                }
                Err(_) => {
                    return Token {
                        owner: self.clone(),
                        id: None,
                    };
                }
            }
        }
    }

    /// Keeps `id` as idle, to be given back after [`LINGER`] unless used.
    fn put_back(self: &Arc<Self>, id: u32) {
        let start_reaper = {
            let mut idle = self.lock();
            idle.tokens.push((id, Instant::now()));
            !std::mem::replace(&mut idle.reaping, true)
        };
        self.freed.notify_one();
        if start_reaper && let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(self.clone().reap());
        }
    }

    /// Gives back the tokens idle for [`LINGER`], until none is idle.
    async fn reap(self: Arc<Self>) {
        loop {
            let oldest = self.lock().tokens.iter().map(|(_, since)| *since).min();
            let Some(oldest) = oldest else {
                let mut idle = self.lock();
                if idle.tokens.is_empty() {
                    idle.reaping = false;
                    return;
                }
                continue;
            };
            tokio::time::sleep_until(oldest + LINGER).await;
            let expired: Vec<u32> = {
                let mut idle = self.lock();
                let now = Instant::now();
                let (old, kept): (Vec<_>, Vec<_>) = idle
                    .tokens
                    .drain(..)
                    .partition(|(_, since)| now.duration_since(*since) >= LINGER);
                idle.tokens = kept;
                old.into_iter().map(|(id, _)| id).collect()
            };
            if !expired.is_empty()
                && let Err(error) = self.store.give_back(&self.host, &expired).await
            {
                tracing::warn!(host = %self.host, %error, "giving shared in-flight tokens back failed");
            }
        }
    }
}
