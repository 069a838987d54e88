//! Gates and breakers of several "processes" (registries) sharing one
//! in-memory [`HostSlots`] store with a slow round trip, on tokio's paused
//! clock: slots reserved ahead, the in-flight cap and an open breaker held
//! together. The PostgreSQL store is tested in the `sinks` crate.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::HostSlots;
use super::host_slots::SlotBook;
use super::shared_in_flight::LINGER;
use crate::BoxError;
use crate::policy::{BreakerConfig, Breakers, GateConfig, HostGates};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// One host's shared state, answered after `half_trip` each way.
#[derive(Debug)]
struct Memory {
    half_trip: Duration,
    next_start: Mutex<Option<Instant>>,
    tokens: Mutex<BTreeSet<u32>>,
    breaker: Mutex<Option<Instant>>,
    calls: AtomicUsize,
}

impl Memory {
    fn new(round_trip: Duration) -> Arc<Self> {
        Arc::new(Self {
            half_trip: round_trip / 2,
            next_start: Mutex::new(None),
            tokens: Mutex::default(),
            breaker: Mutex::new(None),
            calls: AtomicUsize::new(0),
        })
    }

    /// Half a round trip there, `f` at the store, half a round trip back.
    async fn call<T>(&self, f: impl FnOnce() -> T) -> T {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.half_trip).await;
        let out = f();
        tokio::time::sleep(self.half_trip).await;
        out
    }
}

#[async_trait]
impl HostSlots for Memory {
    async fn reserve(
        &self,
        _: &str,
        interval: Duration,
        slots: u32,
        lead: Duration,
    ) -> Result<Instant, BoxError> {
        Ok(self
            .call(|| {
                let mut next = self.next_start.lock().unwrap();
                let earliest = Instant::now() + lead;
                let first = next.map_or(earliest, |n| n.max(earliest));
                *next = Some(first + interval * slots);
                first
            })
            .await)
    }

    async fn pause(&self, _: &str, _: Duration) -> Result<(), BoxError> {
        Ok(())
    }

    async fn take_token(&self, _: &str, cap: u32) -> Result<Option<u32>, BoxError> {
        Ok(self
            .call(|| {
                let mut held = self.tokens.lock().unwrap();
                let free = (0..cap).find(|t| !held.contains(t));
                free.inspect(|t| {
                    held.insert(*t);
                })
            })
            .await)
    }

    async fn give_back(&self, _: &str, tokens: &[u32]) -> Result<(), BoxError> {
        self.call(|| {
            let mut held = self.tokens.lock().unwrap();
            for t in tokens {
                assert!(held.remove(t), "token {t} given back twice");
            }
        })
        .await;
        Ok(())
    }

    async fn set_breaker(&self, _: &str, open_for: Option<Duration>) -> Result<(), BoxError> {
        self.call(|| *self.breaker.lock().unwrap() = open_for.map(|d| Instant::now() + d))
            .await;
        Ok(())
    }

    async fn breaker(&self, _: &str) -> Result<Option<Duration>, BoxError> {
        Ok(self
            .call(|| {
                let until = *self.breaker.lock().unwrap();
                until.and_then(|u| u.checked_duration_since(Instant::now()))
            })
            .await)
    }
}

/// How the requesters of [`crawl`] behave.
struct Crawl {
    /// Gates ("processes") sharing the store.
    processes: usize,
    /// Tasks per process, each making `requests` requests one after another.
    requesters: usize,
    requests: usize,
    /// How long a request runs.
    request: Duration,
    interval: Duration,
}

/// Runs `crawl` against `store`; returns every request start, sorted.
async fn crawl(store: &Arc<Memory>, crawl: &Crawl) -> Vec<Instant> {
    let mut tasks = Vec::new();
    for _process in 0..crawl.processes {
        let gates = HostGates::shared(store.clone());
        for _ in 0..crawl.requesters {
            let config = GateConfig::default()
                .min_interval(crawl.interval)
                .max_in_flight(8);
            let gate = gates.gate("h", config);
            let (requests, request) = (crawl.requests, crawl.request);
            tasks.push(tokio::spawn(async move {
                let mut starts = Vec::new();
                for _ in 0..requests {
                    let permit = gate.acquire().await;
                    starts.push(permit.started());
                    tokio::time::sleep(request).await;
                    permit.success();
                }
                starts
            }));
        }
    }
    let mut starts = Vec::new();
    for t in tasks {
        starts.extend(t.await.unwrap());
    }
    starts.sort();
    starts
}

/// Asserts that no two starts are closer than the interval less the
/// tolerance (a start may be late on its slot by the timer's grain).
fn assert_spaced(starts: &[Instant], interval: Duration, what: &str) {
    let closest = interval - SlotBook::tolerance(interval);
    for pair in starts.windows(2) {
        assert!(
            pair[1] - pair[0] >= closest,
            "{what}: starts {:?} apart",
            pair[1] - pair[0]
        );
    }
}

/// Asserts that `starts` took at most `slack` times the ideal span.
fn assert_paced(starts: &[Instant], interval: Duration, slack: f64) {
    let span = *starts.last().unwrap() - starts[0];
    let ideal = interval * (starts.len() as u32 - 1);
    assert!(
        span <= ideal.mul_f64(slack),
        "{span:?} for {} starts",
        starts.len()
    );
}

#[tokio::test(start_paused = true)]
async fn slots_reserved_ahead_keep_the_pace_when_a_round_trip_exceeds_the_interval() {
    // A 25 ms round trip against a 10 ms interval: one reservation at a
    // time after each start could not start more than one request per 25 ms.
    let store = Memory::new(ms(25));
    let interval = ms(10);
    let run = Crawl {
        processes: 2,
        requesters: 3,
        requests: 20,
        request: ms(5),
        interval,
    };
    let starts = crawl(&store, &run).await;
    assert_spaced(&starts, interval, "2 processes");
    assert_paced(&starts, interval, 1.05);
}

#[tokio::test(start_paused = true)]
async fn a_late_wake_costs_its_delay_not_a_slot_and_never_crowds_another_process() {
    // The clock jumps 6 ms every 50 ms (the process was descheduled, or a
    // busy runtime polled it late): a request waiting for its slot then
    // wakes late.
    let hiccups = tokio::spawn(async {
        loop {
            tokio::time::sleep(ms(50)).await;
            tokio::time::advance(ms(6)).await;
        }
    });
    let interval = ms(10);
    for processes in [1, 2] {
        let run = Crawl {
            processes,
            requesters: 4,
            requests: 30,
            request: ms(25),
            interval,
        };
        let starts = crawl(&Memory::new(ms(1)), &run).await;
        assert_spaced(&starts, interval, &format!("{processes} process(es)"));
        if processes == 1 {
            // Every slot is this process's: a late start is made up over the
            // next slots, so no slot is lost (each lost one costs 10 ms).
            assert_paced(&starts, interval, 1.02);
        }
    }
    hiccups.abort();
}

#[tokio::test(start_paused = true)]
async fn the_in_flight_cap_holds_for_every_process_and_tokens_go_back() {
    let store = Memory::new(ms(2));
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _process in 0..3 {
        let gate = HostGates::shared(store.clone()).gate("h", GateConfig::default().max_in_flight(2));
        for _ in 0..4 {
            let (gate, running, most) = (gate.clone(), running.clone(), most.clone());
            tasks.push(tokio::spawn(async move {
                for _ in 0..5 {
                    let permit = gate.acquire().await;
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(ms(20)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    permit.success();
                }
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(most.load(Ordering::SeqCst), 2, "requests in flight at once");
    tokio::time::sleep(LINGER * 3).await;
    assert!(store.tokens.lock().unwrap().is_empty(), "tokens kept after use");
}

#[tokio::test(start_paused = true)]
async fn a_steady_crawl_takes_its_token_once() {
    let store = Memory::new(ms(2));
    let gate = HostGates::shared(store.clone()).gate("h", GateConfig::default());
    for _ in 0..50 {
        let permit = gate.acquire().await;
        tokio::time::sleep(ms(10)).await;
        permit.success();
    }
    assert_eq!(
        store.calls.load(Ordering::SeqCst),
        1,
        "round trips for 50 requests"
    );
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_is_read_by_the_other_processes() {
    let store = Memory::new(ms(2));
    let config = BreakerConfig {
        failures: 2,
        cooldown: Duration::from_secs(30),
    };
    let a = Breakers::shared(store.clone()).breaker("h", config);
    let b = Breakers::shared(store.clone()).breaker("h", config);
    b.refresh().await;
    drop(b.check().expect("closed"));
    a.check().unwrap().failure();
    a.check().unwrap().failure();
    tokio::time::sleep(Duration::from_secs(1)).await;
    b.refresh().await;
    let until = b.check().expect_err("b still sends requests");
    assert!(until > Instant::now() + Duration::from_secs(25));
    // After the cooldown b probes; its success closes the breaker for all.
    tokio::time::sleep(Duration::from_secs(30)).await;
    b.check().expect("b's probe").success();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(store.breaker.lock().unwrap().is_none(), "closed for everyone");
}
