//! Politeness across processes: request starts to a host reserved in a
//! store every process shares (a PostgreSQL row, in the `sinks` crate).
//!
//! A [`HostGate`](crate::policy::HostGate) made by
//! [`HostGates::shared`](crate::policy::HostGates::shared) asks the store for its
//! start slots: the store hands out consecutive slots at least the minimum
//! interval apart to whichever process asks, so starts from every process
//! together keep the interval. Slots are reserved *ahead*: a request asks
//! for its slot as soon as it reaches the gate, in the background, while the
//! requests before it wait for theirs; so the round trip is off the path
//! between two starts, and several reservations may be in flight at once
//! (see docs/operations.md, "Running on several machines"). A process reserves only as
//! many slots as it has requests waiting (more per round trip when the
//! interval is short), so a slot nobody is ready for is rare.
//!
//! A start may come late on its slot by the tolerance (the timer's grain).
//! A start later than that is still made on the slot when this process also
//! holds the host's next slot: no other process's slot lies between the
//! two (slots are at least the interval apart), and the local spacing
//! pushes this process's next start back, so the delay is made up over the
//! next slots instead of costing a whole one. Otherwise the slot is dropped
//! (a late start would crowd the next process's slot). A server's
//! `Retry-After` seen by one process pauses the host in the store, and
//! every process's next reservation starts after the pause.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::BoxError;

/// A store of request-start reservations shared by processes.
///
/// The store keeps its own clock; an implementation maps its times to this
/// process's instants, so processes on machines whose clocks differ agree.
#[async_trait]
pub trait HostSlots: std::fmt::Debug + Send + Sync + 'static {
    /// Reserves `slots` consecutive starts on `host`, `interval` apart,
    /// after every earlier reservation and pause and at least `lead` after
    /// the store's now (so the reply arrives before its first slot); returns
    /// the first, as an instant of this process's clock (it may have passed
    /// already: the slots after it still hold).
    ///
    /// # Errors
    ///
    /// The store could not be reached; the gate then spaces this process's
    /// requests alone until it can be reached again.
    async fn reserve(
        &self,
        host: &str,
        interval: Duration,
        slots: u32,
        lead: Duration,
    ) -> Result<Instant, BoxError>;

    /// Holds `host` back for every process for `wait` from now.
    ///
    /// # Errors
    ///
    /// The store could not be reached.
    async fn pause(&self, host: &str, wait: Duration) -> Result<(), BoxError>;

    /// Takes one of the `cap` in-flight tokens of `host` that every process
    /// shares, without waiting: its number, or `None` when all are taken.
    /// A token is held until given back or until this process ends, however
    /// it ends (a process that dies must not keep its tokens).
    ///
    /// # Errors
    ///
    /// The store could not be reached; the tokens this process held may be
    /// gone with it (the gate then caps this process's requests alone).
    async fn take_token(&self, host: &str, cap: u32) -> Result<Option<u32>, BoxError>;

    /// Gives `tokens` of `host` back (tokens not held are ignored).
    ///
    /// # Errors
    ///
    /// The store could not be reached.
    async fn give_back(&self, host: &str, tokens: &[u32]) -> Result<(), BoxError>;

    /// Publishes `host`'s circuit breaker as open for `open_for` from now
    /// (kept if already open longer), or as closed (`None`).
    ///
    /// # Errors
    ///
    /// The store could not be reached.
    async fn set_breaker(&self, host: &str, open_for: Option<Duration>) -> Result<(), BoxError>;

    /// How much longer `host`'s circuit breaker is published as open.
    ///
    /// # Errors
    ///
    /// The store could not be reached.
    async fn breaker(&self, host: &str) -> Result<Option<Duration>, BoxError>;
}

/// One gate's reserved, unused slots and the reservations in flight.
#[derive(Debug)]
pub(crate) struct SlotBook {
    store: Arc<dyn HostSlots>,
    host: String,
    interval: Duration,
    book: Mutex<Book>,
    /// A reservation was answered (the waiter of [`SlotBook::next`] looks again).
    answered: Notify,
}

#[derive(Debug, Default)]
struct Book {
    /// Reserved starts, earliest first.
    slots: VecDeque<Instant>,
    /// Slots asked for in reservations not answered yet.
    pending: u32,
    /// Requests at the gate that have not started yet.
    demand: u32,
    /// The last reservation failed or came too late: the waiter spaces locally.
    failed: bool,
    /// Replies in a row whose every slot had passed.
    late_replies: u32,
    /// The reservation round trip, smoothed.
    round_trip: Duration,
}

/// Reserve at least this far ahead per round trip when the interval is short.
const RESERVE_AHEAD: Duration = Duration::from_millis(5);
/// At most this many slots per round trip.
const MAX_SLOTS: u32 = 16;
/// After this many replies in a row too late to use, space locally.
const LATE_REPLIES: u32 = 3;

/// One request's place in a [`SlotBook`]'s demand, given up when dropped
/// (when the request starts, or when its caller gives up).
#[derive(Debug)]
pub(crate) struct Demand {
    book: Arc<SlotBook>,
}

impl Drop for Demand {
    fn drop(&mut self) {
        let mut book = self.book.lock();
        book.demand = book.demand.saturating_sub(1);
    }
}

impl Demand {
    /// Whether this request, holding the gate's turn and now later than the
    /// tolerance on `slot`, may still start on it: it may when this process
    /// holds the host's next slot too (one before `slot` plus twice the
    /// interval: no other process's slot fits between). Waits for the
    /// reservations in flight when they may tell, and starts one when none
    /// is (its slot goes to the next request).
    pub(crate) async fn may_start_late(&self, slot: Instant) -> bool {
        let book = &self.book;
        let too_late = book.too_late(slot);
        loop {
            {
                let mut state = book.lock();
                if Instant::now() >= too_late {
                    return false;
                }
                if let Some(next) = state.slots.iter().find(|s| **s > slot) {
                    return book.follows(slot, *next);
                }
                if state.failed {
                    return false;
                }
                if state.pending == 0 {
                    book.reserve_more(&mut state, 1);
                }
            }
            // A reply after `too_late` cannot help any more.
            let _ = tokio::time::timeout_at(too_late, book.answered.notified()).await;
        }
    }

    /// The next reserved start not already missed; `None` when the store
    /// cannot be reached or its replies keep arriving too late (local
    /// spacing only, then). The caller holds the gate's turn: one caller at
    /// a time, in the order the slots are handed out.
    pub(crate) async fn next(&self) -> Option<Instant> {
        let book = &self.book;
        loop {
            {
                let mut state = book.lock();
                book.drop_missed(&mut state);
                if let Some(slot) = state.slots.pop_front() {
                    return Some(slot);
                }
                if state.failed {
                    state.failed = false;
                    return None;
                }
                book.top_up(&mut state);
            }
            // A reply that came before this wait left a permit: no lost wake-up.
            book.answered.notified().await;
        }
    }
}

impl SlotBook {
    pub(crate) fn new(store: Arc<dyn HostSlots>, host: &str, interval: Duration) -> Arc<Self> {
        Arc::new(Self {
            store,
            host: host.to_owned(),
            interval,
            book: Mutex::new(Book {
                round_trip: Duration::from_millis(1),
                ..Book::default()
            }),
            answered: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How late a start may be on its slot: a twentieth of the interval, at
    /// least a millisecond (the timer's grain).
    pub(crate) fn tolerance(interval: Duration) -> Duration {
        (interval / 20).max(Duration::from_millis(1))
    }

    /// A request arrived at the gate: counts it and reserves its slot now,
    /// in the background, unless slots in hand or in flight cover it.
    pub(crate) fn want(self: &Arc<Self>) -> Demand {
        let mut state = self.lock();
        state.demand += 1;
        self.drop_missed(&mut state);
        self.top_up(&mut state);
        Demand { book: self.clone() }
    }

    /// From when even a late start on `slot` would come too near the slot
    /// after it.
    fn too_late(&self, slot: Instant) -> Instant {
        slot + self.interval - Self::tolerance(self.interval)
    }

    /// Whether `next`, a later slot of this process, is the host's next slot
    /// after `slot` (any other slot is at least the interval from both).
    fn follows(&self, slot: Instant, next: Instant) -> bool {
        next < slot + self.interval * 2
    }

    /// Drops the slots this process can no longer start on: later than the
    /// tolerance, unless the slot after it is this process's too (see
    /// [`Demand::may_start_late`]).
    fn drop_missed(&self, state: &mut Book) {
        let now = Instant::now();
        let tolerance = Self::tolerance(self.interval);
        while let Some(&slot) = state.slots.front() {
            let usable = now <= slot + tolerance
                || (now < self.too_late(slot)
                    && state.slots.get(1).is_some_and(|next| self.follows(slot, *next)));
            if usable {
                return;
            }
            state.slots.pop_front();
        }
    }

    /// Starts a reservation for the demand that the slots in hand and in
    /// flight do not cover (several slots at once when the interval is short).
    fn top_up(self: &Arc<Self>, state: &mut Book) {
        let covered = u32::try_from(state.slots.len())
            .unwrap_or(u32::MAX)
            .saturating_add(state.pending);
        if state.demand <= covered {
            return;
        }
        let ahead =
            u32::try_from(RESERVE_AHEAD.as_nanos() / self.interval.as_nanos().max(1)).unwrap_or(MAX_SLOTS);
        let count = (state.demand - covered).max(ahead).clamp(1, MAX_SLOTS);
        self.reserve_more(state, count);
    }

    /// Starts a reservation of `count` slots in the background.
    fn reserve_more(self: &Arc<Self>, state: &mut Book, count: u32) {
        state.pending += count;
        // The store reads its clock before it commits and replies: a first
        // slot a round trip ahead of the store's now has not passed when the
        // reply arrives. A larger lead would be waited out by every request
        // that finds the host idle.
        let lead = state.round_trip + Self::tolerance(self.interval);
        let book = self.clone();
        tokio::spawn(async move { book.reserve(count, lead).await });
    }

    /// One reservation of `count` slots, answered into the book.
    async fn reserve(self: Arc<Self>, count: u32, lead: Duration) {
        let sent = Instant::now();
        let reply = self.store.reserve(&self.host, self.interval, count, lead).await;
        let took = sent.elapsed();
        {
            let mut state = self.lock();
            state.pending = state.pending.saturating_sub(count);
            state.round_trip = (state.round_trip * 7 + took) / 8;
            match reply {
                Ok(first) => {
                    let now = Instant::now();
                    let last = first + self.interval * count.saturating_sub(1);
                    state.slots.extend((0..count).map(|n| first + self.interval * n));
                    if now > last + Self::tolerance(self.interval) {
                        state.late_replies += 1;
                        if state.late_replies >= LATE_REPLIES {
                            tracing::warn!(host = %self.host, "shared request slots keep arriving too late; spacing locally");
                            state.late_replies = 0;
                            state.failed = true;
                        }
                    } else {
                        state.late_replies = 0;
                    }
                    // Replies of concurrent reservations may cross; the
                    // slots already missed are then at the front.
                    state.slots.make_contiguous().sort_unstable();
                    self.drop_missed(&mut state);
                }
                Err(error) => {
                    tracing::warn!(host = %self.host, %error, "reserving a shared request slot failed; spacing locally");
                    state.failed = true;
                }
            }
            if !state.failed {
                // Requests that arrived meanwhile, or a reply too late.
                self.top_up(&mut state);
            }
        }
        self.answered.notify_one();
    }

    /// Pauses the host for every process, in the background.
    pub(crate) fn pause(&self, wait: Duration) {
        let store = self.store.clone();
        let host = self.host.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(error) = store.pause(&host, wait).await {
                    tracing::warn!(%host, %error, "sharing a Retry-After pause failed");
                }
            });
        }
    }
}
