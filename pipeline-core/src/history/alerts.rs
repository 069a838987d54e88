//! [`Alerts`]: which events are sent, at most how often, and their
//! delivery, off the crawl's path.
//!
//! An event is queued (a bounded queue: when it is full the event is
//! dropped and counted, a crawl never waits for a receiver) and sent by one
//! task, retried with the framework's [`RetryPolicy`]. A collection gets at
//! most one alert of a kind per quiet period (default 10 minutes): a
//! collection failing every minute alerts once per quiet period, not every
//! minute. `pipeline_alerts_total{event, outcome}` counts them: `sent`,
//! `failed` (every retry failed), `dropped` (queue full) and `suppressed`
//! (within the quiet period).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{AlertEvent, AlertKind, AlertSender};
use crate::policy::RetryPolicy;

/// The default quiet period: one alert per collection and kind in it.
pub const DEFAULT_QUIET_PERIOD: Duration = Duration::from_secs(600);
/// The default number of alerts waiting for delivery.
pub const DEFAULT_QUEUE: usize = 256;

/// Alerts of a runner: give them to
/// [`RunnerBuilder::alerts`](crate::runner::RunnerBuilder::alerts).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use crawlpipe_core::history::{AlertEvent, AlertKind, AlertSender, Alerts};
/// use crawlpipe_core::{BoxError, async_trait};
///
/// #[derive(Debug)]
/// struct Log;
///
/// #[async_trait]
/// impl AlertSender for Log {
///     async fn send(&self, event: &AlertEvent) -> Result<(), BoxError> {
///         println!("{} is {}", event.collection, event.event);
///         Ok(())
///     }
/// }
///
/// let alerts = Alerts::new(Log)
///     .on([AlertKind::Failed, AlertKind::Recovered])
///     .quiet_period(Duration::from_secs(3600));
/// # let _ = alerts;
/// ```
#[derive(Debug, Clone)]
pub struct Alerts {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    sender: Arc<dyn AlertSender>,
    on: Vec<AlertKind>,
    quiet: Duration,
    retry: RetryPolicy,
    capacity: usize,
    started: std::sync::atomic::AtomicBool,
    /// The queue's sending side; taken on close.
    queue: Mutex<Option<mpsc::Sender<AlertEvent>>>,
    /// When each collection last had each kind queued.
    last: Mutex<HashMap<(String, AlertKind), Instant>>,
    /// The status page's address (`http://host:port/`), when served.
    page: Mutex<Option<String>>,
    /// This process's name in a cluster.
    owner: Mutex<Option<String>>,
}

impl Alerts {
    /// Alerts delivered by `sender`: every kind, a quiet period of
    /// [`DEFAULT_QUIET_PERIOD`], [`DEFAULT_QUEUE`] waiting at most, and 5
    /// attempts from 1 s to 60 s apart.
    pub fn new(sender: impl AlertSender) -> Self {
        Self::from_arc(Arc::new(sender))
    }

    /// As [`new`](Self::new), with a shared sender.
    pub fn from_arc(sender: Arc<dyn AlertSender>) -> Self {
        Self {
            inner: Arc::new(Inner {
                sender,
                on: AlertKind::ALL.to_vec(),
                quiet: DEFAULT_QUIET_PERIOD,
                retry: RetryPolicy::new(5)
                    .initial_backoff(Duration::from_secs(1))
                    .max_backoff(Duration::from_secs(60)),
                capacity: DEFAULT_QUEUE,
                started: Default::default(),
                queue: Mutex::new(None),
                last: Mutex::default(),
                page: Mutex::new(None),
                owner: Mutex::new(None),
            }),
        }
    }

    fn configure(mut self, f: impl FnOnce(&mut Inner)) -> Self {
        // Settings are made before the alerts are shared with a runner.
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            f(inner);
        }
        self
    }

    /// Only these kinds are sent (default: all).
    #[must_use]
    pub fn on(self, kinds: impl IntoIterator<Item = AlertKind>) -> Self {
        let kinds: Vec<AlertKind> = kinds.into_iter().collect();
        self.configure(|i| i.on = kinds)
    }

    /// At most one alert per collection and kind within `period`.
    #[must_use]
    pub fn quiet_period(self, period: Duration) -> Self {
        self.configure(|i| i.quiet = period)
    }

    /// How delivery is retried.
    #[must_use]
    pub fn retry(self, policy: RetryPolicy) -> Self {
        self.configure(|i| i.retry = policy)
    }

    /// Alerts waiting for delivery at most (at least 1); more are dropped.
    #[must_use]
    pub fn queue_capacity(self, alerts: usize) -> Self {
        self.configure(|i| i.capacity = alerts.max(1))
    }

    /// Whether `kind` is sent.
    pub fn is_on(&self, kind: AlertKind) -> bool {
        self.inner.on.contains(&kind)
    }

    /// Links alerts to the status page served at `base` (such as
    /// `http://127.0.0.1:9000/`): `status_url` is `<base>#c=<collection>`.
    /// The server sets it when it starts.
    pub fn set_status_page(&self, base: Option<String>) {
        *lock(&self.inner.page) = base;
    }

    pub(crate) fn set_owner(&self, owner: Option<String>) {
        *lock(&self.inner.owner) = owner;
    }

    /// Starts the delivery task (inside a Tokio runtime); returns it. Later
    /// calls return `None`.
    pub(crate) fn start(&self) -> Option<tokio::task::JoinHandle<()>> {
        if self.inner.started.swap(true, std::sync::atomic::Ordering::AcqRel) {
            return None;
        }
        let (tx, rx) = mpsc::channel(self.inner.capacity);
        *lock(&self.inner.queue) = Some(tx);
        Some(tokio::spawn(deliver(self.inner.clone(), rx)))
    }

    /// Stops taking alerts: the delivery task sends what is queued and ends.
    pub(crate) fn close(&self) {
        lock(&self.inner.queue).take();
    }

    /// Queues an alert of `kind` for `collection`, unless the kind is off,
    /// one was queued within the quiet period, or the queue is full.
    pub fn raise(&self, collection: &str, kind: AlertKind, error: Option<String>) {
        let inner = &self.inner;
        if !self.is_on(kind) {
            return;
        }
        let now = Instant::now();
        {
            let mut last = lock(&inner.last);
            let key = (collection.to_owned(), kind);
            if let Some(at) = last.get(&key)
                && now.duration_since(*at) < inner.quiet
            {
                count(kind, "suppressed");
                tracing::debug!(%collection, event = %kind, "alert within the quiet period: not sent");
                return;
            }
            last.insert(key, now);
        }
        let status_url = lock(&inner.page)
            .as_ref()
            .map(|base| format!("{base}#c={}", fragment(collection)));
        let event = AlertEvent {
            collection: collection.to_owned(),
            event: kind,
            at: SystemTime::now(),
            error,
            status_url,
            owner: lock(&inner.owner).clone(),
        };
        let queued = match lock(&inner.queue).as_ref() {
            Some(queue) => queue.try_send(event).is_ok(),
            None => false,
        };
        match queued {
            true => {}
            false => {
                count(kind, "dropped");
                tracing::warn!(%collection, event = %kind, "alert queue full or closed: alert dropped");
            }
        }
    }
}

/// Sends each queued alert, retrying, until the queue is closed and empty.
async fn deliver(inner: Arc<Inner>, mut rx: mpsc::Receiver<AlertEvent>) {
    while let Some(event) = rx.recv().await {
        let mut attempt = 1;
        loop {
            match inner.sender.send(&event).await {
                Ok(()) => {
                    count(event.event, "sent");
                    tracing::info!(collection = %event.collection, event = %event.event, "alert sent");
                    break;
                }
                Err(error) if attempt < inner.retry.max_attempts() => {
                    let wait = inner.retry.backoff(attempt);
                    tracing::warn!(collection = %event.collection, event = %event.event, %error, attempt, ?wait, "alert not delivered; retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(error) => {
                    count(event.event, "failed");
                    tracing::error!(collection = %event.collection, event = %event.event, %error, attempt, "alert not delivered; giving up");
                    break;
                }
            }
        }
    }
}

fn count(kind: AlertKind, outcome: &'static str) {
    metrics::counter!("pipeline_alerts_total", "event" => kind.as_str(), "outcome" => outcome).increment(1);
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A collection name as a URL fragment: unreserved characters and `/` as
/// they are, the rest percent-encoded.
fn fragment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BoxError;

    #[derive(Debug, Default)]
    struct Flaky {
        seen: Mutex<Vec<(String, AlertKind, Option<String>)>>,
        calls: Mutex<u32>,
    }

    #[async_trait::async_trait]
    impl AlertSender for Arc<Flaky> {
        async fn send(&self, event: &AlertEvent) -> Result<(), BoxError> {
            let call = {
                let mut calls = lock(&self.calls);
                *calls += 1;
                *calls
            };
            if call == 1 {
                return Err("receiver down".into());
            }
            lock(&self.seen).push((event.collection.clone(), event.event, event.status_url.clone()));
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn alerts_are_retried_deduplicated_and_filtered() {
        let flaky = Arc::new(Flaky::default());
        let alerts = Alerts::new(flaky.clone())
            .on([AlertKind::Failed, AlertKind::Recovered])
            .retry(RetryPolicy::new(3).initial_backoff(Duration::from_millis(10)));
        alerts.set_status_page(Some("http://127.0.0.1:1/".into()));
        let task = alerts.start().expect("started once");
        assert!(alerts.start().is_none());
        alerts.raise("a b", AlertKind::Failed, Some("boom".into()));
        alerts.raise("a b", AlertKind::Failed, Some("again".into())); // quiet period
        alerts.raise("a b", AlertKind::Stale, None); // off
        alerts.raise("a b", AlertKind::Recovered, None);
        alerts.close();
        task.await.unwrap();
        let seen = lock(&flaky.seen).clone();
        let url = Some("http://127.0.0.1:1/#c=a%20b".to_owned());
        assert_eq!(
            seen,
            vec![
                ("a b".to_owned(), AlertKind::Failed, url.clone()),
                ("a b".to_owned(), AlertKind::Recovered, url)
            ]
        );
        assert_eq!(
            *lock(&flaky.calls),
            3,
            "the first delivery failed and was retried"
        );
    }
}
