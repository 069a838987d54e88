//! Pipelines on one host share its gate: spacing, and `Retry-After` push-back.
//! Only lower bounds on time are asserted (a busy machine can only be slower).

mod support;

use std::time::{Duration, Instant};

use crawlpipe_sources::mock::{Faults, MockConfig, RetryAfter};
use crawlpipe_sources::{HttpContext, JsonSource};
use support::*;

#[tokio::test]
async fn two_pipelines_on_one_host_share_its_minimum_interval() {
    let server = server(MockConfig::new(400, 100)).await;
    let ctx = ctx();
    let mut config = page_config(&server);
    config.min_delay_ms = 50;
    let started = Instant::now();
    let a = crawl_with(&config, &ctx, fast_retry(1), None);
    let b = crawl_with(&config, &ctx, fast_retry(1), None);
    let ((ra, ia), (rb, ib)) = tokio::join!(a, b);
    assert!(ra.outcome.is_completed() && rb.outcome.is_completed());
    assert_all(&ia, 400);
    assert_all(&ib, 400);
    // 2 × 5 requests, one gate: at least 9 intervals between the first and last start.
    assert_eq!(server.request_count(), 10);
    assert!(started.elapsed() >= Duration::from_millis(9 * 50));
}

#[tokio::test]
async fn a_retry_after_holds_back_every_pipeline_on_the_host() {
    let server = server(MockConfig::new(300, 100).faults(Faults {
        rate_limit_every: Some((3, RetryAfter::Seconds(1))),
        ..Faults::default()
    }))
    .await;
    let ctx = HttpContext::new().unwrap();
    let mut config = page_config(&server);
    config.max_in_flight_per_host = 1;
    let make = || JsonSource::from_config(&config, &ctx).unwrap();
    let a = run("a", make(), fast_retry(5), None);
    let b = run("b", make(), fast_retry(5), None);
    let ((ra, ia), (rb, ib)) = tokio::join!(a, b);
    assert!(ra.outcome.is_completed(), "{:?}", ra.outcome);
    assert!(rb.outcome.is_completed(), "{:?}", rb.outcome);
    assert_eq!(ids(&ia).len(), 300);
    assert_eq!(ids(&ib).len(), 300);
    let times = server.request_times();
    // Every request after a 429 (every third) arrived at least a second later.
    for (i, (t, _)) in times.iter().enumerate() {
        if (i + 1) % 3 == 0
            && let Some((next, _)) = times.get(i + 1)
        {
            assert!(*next >= *t + Duration::from_secs(1), "{times:?}");
        }
    }
}
