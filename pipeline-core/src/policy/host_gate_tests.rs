//! Tests of `HostGate`: spacing, jitter, the in-flight cap, pushed-back
//! starts, the raised floor and the adaptive delay.

use super::*;
use crate::policy::AutoThrottle;
use crate::policy::HostGates;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test(start_paused = true)]
async fn request_starts_are_spaced_by_the_minimum_interval() {
    let gate = HostGate::new("h", GateConfig::default().min_interval(ms(100)));
    let t0 = Instant::now();
    let mut starts = Vec::new();
    for _ in 0..5 {
        let p = gate.acquire().await;
        starts.push(p.started() - t0);
        p.success();
    }
    assert_eq!(starts, vec![ms(0), ms(100), ms(200), ms(300), ms(400)]);
}

#[tokio::test(start_paused = true)]
async fn concurrent_users_share_the_spacing() {
    let gates = HostGates::new();
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let gate = gates.gate("h", GateConfig::default().min_interval(ms(20)).max_in_flight(8));
        tasks.push(tokio::spawn(async move {
            let mut v = Vec::new();
            for _ in 0..5 {
                let p = gate.acquire().await;
                v.push(p.started() - t0);
                p.success();
            }
            v
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    for pair in all.windows(2) {
        assert!(pair[1] - pair[0] >= ms(20), "{all:?}");
    }
    assert_eq!(*all.last().unwrap(), ms(20 * 19));
}

#[tokio::test(start_paused = true)]
async fn jitter_stays_within_its_bound() {
    let gate = HostGate::new("h", GateConfig::default().min_interval(ms(10)).jitter(ms(5)));
    let mut last: Option<Instant> = None;
    for _ in 0..20 {
        let p = gate.acquire().await;
        if let Some(l) = last {
            let gap = p.started() - l;
            assert!(gap >= ms(10) && gap <= ms(15), "{gap:?}");
        }
        last = Some(p.started());
    }
}

#[tokio::test(start_paused = true)]
async fn in_flight_is_capped() {
    let gate = HostGate::new("h", GateConfig::default().max_in_flight(2));
    let a = gate.acquire().await;
    let _b = gate.acquire().await;
    let third = tokio::time::timeout(ms(1000), gate.acquire()).await;
    assert!(third.is_err(), "a third request got in");
    drop(a);
    let c = tokio::time::timeout(ms(1), gate.acquire()).await;
    assert!(c.is_ok());
}

#[tokio::test(start_paused = true)]
async fn retry_after_delays_every_user_of_the_host() {
    let gates = HostGates::new();
    let a = gates.gate("h", GateConfig::default().min_interval(ms(10)));
    let b = gates.gate("h", GateConfig::default());
    let t0 = Instant::now();
    a.acquire().await.push_back(Duration::from_secs(3));
    let p = b.acquire().await;
    assert!(p.started() - t0 >= Duration::from_secs(3));
    assert_eq!(b.config().min_interval_value(), ms(10), "first config wins");
}

#[tokio::test(start_paused = true)]
async fn push_back_reaches_a_request_already_waiting() {
    let gate = HostGate::new("h", GateConfig::default().min_interval(ms(100)));
    let t0 = Instant::now();
    let first = gate.acquire().await;
    let g = gate.clone();
    let waiter = tokio::spawn(async move { g.acquire().await.started() });
    tokio::time::sleep(ms(10)).await;
    first.push_back(Duration::from_secs(2));
    let started = waiter.await.unwrap();
    assert!(started - t0 >= Duration::from_secs(2), "{:?}", started - t0);
}

#[tokio::test(start_paused = true)]
async fn retry_after_zero_means_the_minimum_interval() {
    let gate = HostGate::new("h", GateConfig::default().min_interval(ms(50)));
    let t0 = Instant::now();
    gate.acquire().await.push_back(Duration::ZERO);
    let p = gate.acquire().await;
    assert_eq!(p.started() - t0, ms(50));
}

#[tokio::test(start_paused = true)]
async fn a_raised_floor_spaces_starts_from_when_it_is_raised_and_never_lowers() {
    let gate = HostGate::new("h", GateConfig::default().min_interval(ms(100)));
    let t0 = Instant::now();
    gate.acquire().await.success();
    tokio::time::sleep(ms(20)).await;
    gate.raise_min_interval(ms(300));
    gate.raise_min_interval(ms(50));
    assert_eq!(gate.min_interval_floor(), ms(300));
    let mut starts = Vec::new();
    for _ in 0..3 {
        let p = gate.acquire().await;
        starts.push(p.started() - t0);
        p.success();
    }
    assert_eq!(starts, vec![ms(320), ms(620), ms(920)]);
}

#[tokio::test(start_paused = true)]
async fn adaptive_delay_follows_latency_and_errors_never_lower_it() {
    let throttle = AutoThrottle {
        target_concurrency: 1.0,
        min_delay_ms: 0,
        max_delay_ms: 10_000,
    };
    let gate = HostGate::new("h", GateConfig::default().adaptive(Some(throttle)));
    let p = gate.acquire().await;
    tokio::time::sleep(ms(400)).await;
    p.success();
    assert_eq!(gate.adaptive_delay(), ms(200));
    let p = gate.acquire().await;
    tokio::time::sleep(ms(10)).await;
    p.failure();
    assert_eq!(gate.adaptive_delay(), ms(200), "an error lowered the delay");
    let p = gate.acquire().await;
    tokio::time::sleep(ms(1000)).await;
    p.failure();
    assert_eq!(gate.adaptive_delay(), ms(600));
    let p = gate.acquire().await;
    p.success();
    assert_eq!(gate.adaptive_delay(), ms(300));
}
