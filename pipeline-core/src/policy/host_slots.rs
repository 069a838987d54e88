//! Politeness across processes: request starts to a host reserved in a
//! store every process shares (a PostgreSQL row, in the `sinks` crate).
//!
//! A [`HostGate`](super::HostGate) made by
//! [`HostGates::shared`](super::HostGates::shared) asks the store for its
//! start slots, several per round trip when the interval is short: the
//! store hands out consecutive slots at least the minimum interval apart to
//! whichever process asks, so starts from every process together keep the
//! interval. A slot this process comes too late for is dropped, never used
//! late (a late start would crowd the next process's slot). A server's
//! `Retry-After` seen by one process pauses the host in the store, and every
//! process's next reservation starts after the pause.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use crate::BoxError;

/// A store of request-start reservations shared by processes.
///
/// The store keeps its own clock; an implementation maps its times to this
/// process's instants, so processes on machines whose clocks differ agree.
#[async_trait]
pub trait HostSlots: std::fmt::Debug + Send + Sync + 'static {
    /// Reserves `slots` consecutive starts on `host`, `interval` apart,
    /// after every earlier reservation and pause; returns the first, as an
    /// instant of this process's clock (it may have passed already: the
    /// slots after it still hold).
    ///
    /// # Errors
    ///
    /// The store could not be reached; the gate then spaces this process's
    /// requests alone until it can be reached again.
    async fn reserve(&self, host: &str, interval: Duration, slots: u32) -> Result<Instant, BoxError>;

    /// Holds `host` back for every process for `wait` from now.
    ///
    /// # Errors
    ///
    /// The store could not be reached.
    async fn pause(&self, host: &str, wait: Duration) -> Result<(), BoxError>;
}

/// One gate's reserved, unused slots.
#[derive(Debug)]
pub(crate) struct SlotBook {
    store: Arc<dyn HostSlots>,
    slots: tokio::sync::Mutex<VecDeque<Instant>>,
}

/// How far ahead one round trip reserves: slots for this long. Short, since
/// a reserved slot nobody is ready for is lost to every process; longer
/// intervals get one slot per round trip.
const RESERVE_AHEAD: Duration = Duration::from_millis(5);
/// At most this many slots per round trip.
const MAX_SLOTS: u32 = 16;

impl SlotBook {
    pub(crate) fn new(store: Arc<dyn HostSlots>) -> Self {
        Self {
            store,
            slots: tokio::sync::Mutex::new(VecDeque::new()),
        }
    }

    /// How late a start may be on its slot: a twentieth of the interval, at
    /// least a millisecond (the timer's grain).
    pub(crate) fn tolerance(interval: Duration) -> Duration {
        (interval / 20).max(Duration::from_millis(1))
    }

    /// The next reserved start on `host` not already missed; `None` when the
    /// store cannot be reached (local spacing only, then).
    pub(crate) async fn next(&self, host: &str, interval: Duration) -> Option<Instant> {
        let mut slots = self.slots.lock().await;
        let late = Instant::now().checked_sub(Self::tolerance(interval));
        while slots.front().is_some_and(|s| Some(*s) < late) {
            slots.pop_front();
        }
        if let Some(slot) = slots.pop_front() {
            return Some(slot);
        }
        let count = u32::try_from(RESERVE_AHEAD.as_nanos() / interval.as_nanos().max(1))
            .unwrap_or(MAX_SLOTS)
            .clamp(1, MAX_SLOTS);
        // A reply so slow that every slot in it has passed: reserve again.
        for _ in 0..3 {
            match self.store.reserve(host, interval, count).await {
                Ok(first) => {
                    let late = Instant::now().checked_sub(Self::tolerance(interval));
                    slots.extend(
                        (0..count)
                            .map(|n| first + interval * n)
                            .filter(|s| Some(*s) >= late),
                    );
                    if let Some(slot) = slots.pop_front() {
                        return Some(slot);
                    }
                }
                Err(error) => {
                    tracing::warn!(%host, %error, "reserving a shared request slot failed; spacing locally");
                    return None;
                }
            }
        }
        tracing::warn!(%host, "shared request slots keep arriving too late; spacing locally");
        None
    }

    /// Pauses the host for every process, in the background.
    pub(crate) fn pause(&self, host: &str, wait: Duration) {
        let store = self.store.clone();
        let host = host.to_owned();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(error) = store.pause(&host, wait).await {
                    tracing::warn!(%host, %error, "sharing a Retry-After pause failed");
                }
            });
        }
    }
}
