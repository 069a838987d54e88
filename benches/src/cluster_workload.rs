//! Scale-out: 1, 2 and 4 worker processes sharing collections through
//! PostgreSQL (`PgCoordinator`, `PgHostSlots`) against a mock server with
//! latency, with and without a politeness interval; and the coordination
//! calls each page costs.
//!
//! It prints: the worker processes answer their parent on standard output.
#![allow(clippy::print_stdout)]

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use crawlpipe_core::policy::{Breakers, HostGates, HostSlots};
use crawlpipe_core::runner::{Claim, Collection, Coordinator, Due, Lease, LeaseInfo, RunEnd, Runner};
use crawlpipe_core::{BoxError, Pipeline};
use crawlpipe_sinks::{Database, PgCoordinator, PgHostSlots};
use crawlpipe_sources::mock::{MockConfig, MockServer};
use crawlpipe_sources::{HttpContext, HttpSourceConfig, JsonSource, Pagination};

/// Counts the calls a worker makes to the cluster's tables (each is one
/// round trip, except a refused claim: two; and a clock reading for the
/// slots every 30 s: five).
#[derive(Debug, Default)]
pub struct Calls(AtomicU64);

impl Calls {
    fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
}

#[derive(Debug)]
struct CountedCoordinator(PgCoordinator, Arc<Calls>);

#[async_trait]
impl Coordinator for CountedCoordinator {
    fn worker(&self) -> &str {
        self.0.worker()
    }
    fn lease_duration(&self) -> Duration {
        self.0.lease_duration()
    }
    async fn claim(&self, collection: &str, due: Due) -> Result<Claim, BoxError> {
        let claim = self.0.claim(collection, due).await?;
        self.1.add(if matches!(claim, Claim::Claimed(_)) { 1 } else { 2 });
        Ok(claim)
    }
    async fn renew(&self, lease: &Lease) -> Result<bool, BoxError> {
        self.1.add(1);
        self.0.renew(lease).await
    }
    async fn release(&self, lease: &Lease, end: RunEnd) -> Result<(), BoxError> {
        self.1.add(1);
        self.0.release(lease, end).await
    }
    async fn leases(&self) -> Result<Vec<LeaseInfo>, BoxError> {
        self.1.add(1);
        self.0.leases().await
    }
    async fn workers(&self) -> Result<u64, BoxError> {
        self.1.add(2);
        self.0.workers().await
    }
}

#[derive(Debug)]
struct CountedSlots(PgHostSlots, Arc<Calls>);

#[async_trait]
impl HostSlots for CountedSlots {
    async fn reserve(
        &self,
        host: &str,
        interval: Duration,
        slots: u32,
        lead: Duration,
    ) -> Result<tokio::time::Instant, BoxError> {
        self.1.add(1);
        self.0.reserve(host, interval, slots, lead).await
    }
    async fn pause(&self, host: &str, wait: Duration) -> Result<(), BoxError> {
        self.1.add(1);
        self.0.pause(host, wait).await
    }
    async fn take_token(&self, host: &str, cap: u32) -> Result<Option<u32>, BoxError> {
        self.1.add(1);
        self.0.take_token(host, cap).await
    }
    async fn give_back(&self, host: &str, tokens: &[u32]) -> Result<(), BoxError> {
        self.1.add(1);
        self.0.give_back(host, tokens).await
    }
    async fn set_breaker(&self, host: &str, open_for: Option<Duration>) -> Result<(), BoxError> {
        self.1.add(1);
        self.0.set_breaker(host, open_for).await
    }
    async fn breaker(&self, host: &str) -> Result<Option<Duration>, BoxError> {
        self.1.add(1);
        self.0.breaker(host).await
    }
}

/// One worker process: crawls `collections` named `<prefix>_<i>` from
/// `base` in a one-shot cluster round; prints `pages calls`.
pub async fn worker(pg: &str, prefix: &str, base: &str, collections: usize, min_delay_ms: u64) {
    let db = Database::open(pg).await.expect("database");
    let calls = Arc::new(Calls::default());
    let coordinator = PgCoordinator::new(&db, Duration::from_secs(10))
        .await
        .expect("coordinator");
    let slots = PgHostSlots::new(&db).await.expect("host slots");
    let slots: Arc<dyn HostSlots> = Arc::new(CountedSlots(slots, calls.clone()));
    let ctx = HttpContext::new()
        .expect("client")
        .with_registries(HostGates::shared(slots.clone()), Breakers::shared(slots));
    let mut config = HttpSourceConfig::new(format!("{base}/link?page=1")).pagination(Pagination::LinkHeader);
    config.max_in_flight_per_host = 64;
    config.min_delay_ms = min_delay_ms;
    let config = Arc::new(config);
    let list = (0..collections).map(|i| {
        let (ctx, config, db) = (ctx.clone(), config.clone(), db.clone());
        Collection::new_async(format!("{prefix}_{i}"), move |name: &str| {
            let built = JsonSource::from_config(&config, &ctx)
                .map_err(BoxError::from)
                .and_then(|source| Ok(Pipeline::paged(name, source).sink(db.documents().build()?)));
            async move { built }
        })
    });
    let runner = Runner::builder(Arc::new(db.checkpoint_store()))
        .coordinator(Arc::new(CountedCoordinator(coordinator.clone(), calls.clone())))
        .collections(list)
        .concurrency(4)
        .fresh(true)
        .build()
        .expect("runner");
    let pages: u64 = runner.join().await.iter().map(|s| s.progress.pages).sum();
    let _ = coordinator.leave().await;
    println!("{pages} {}", calls.0.load(Ordering::Relaxed));
}

/// One measured round: `processes` workers over fresh collections.
struct Round {
    pages: u64,
    calls: u64,
    prefix: String,
    requests: u64,
    elapsed: Duration,
}

fn round(
    server: &MockServer,
    exe: &str,
    pg: &str,
    processes: usize,
    collections: usize,
    min_delay_ms: u64,
) -> Round {
    let prefix = format!("bench_cl_{}_{}", std::process::id(), fastrand_suffix());
    let base = server.base_url();
    let logged = server.request_times().len();
    let children: Vec<_> = (0..processes)
        .map(|_| {
            Command::new(exe)
                .args([
                    "cluster-worker",
                    pg,
                    &prefix,
                    base,
                    &collections.to_string(),
                    &min_delay_ms.to_string(),
                ])
                .stdout(Stdio::piped())
                .spawn()
                .expect("worker starts")
        })
        .collect();
    let (mut pages, mut calls) = (0, 0);
    for child in children {
        let out = child.wait_with_output().expect("worker ends");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut fields = text.split_whitespace().map(|f| f.parse::<u64>().unwrap_or(0));
        pages += fields.next().unwrap_or(0);
        calls += fields.next().unwrap_or(0);
    }
    // From the first request to the last, as the server saw them: process
    // start-up and database set-up are not the cluster's throughput.
    let times = server.request_times();
    let this: Vec<Duration> = times[logged..].iter().map(|(t, _)| *t).collect();
    let span = match (this.iter().min(), this.iter().max()) {
        (Some(a), Some(b)) => *b - *a,
        _ => Duration::ZERO,
    };
    if min_delay_ms > 0 && std::env::var_os("CLUSTER_TRACE").is_some() {
        trace_gaps(&this, Duration::from_millis(min_delay_ms));
    }
    Round {
        pages,
        calls,
        prefix,
        requests: this.len() as u64,
        elapsed: span,
    }
}

/// Prints the gaps between request starts longer than one and a half
/// intervals (a slot nobody started on), with the request's number.
fn trace_gaps(times: &[Duration], interval: Duration) {
    let mut sorted = times.to_vec();
    sorted.sort();
    let long: Vec<(usize, Duration)> = sorted
        .windows(2)
        .enumerate()
        .map(|(i, w)| (i + 1, w[1] - w[0]))
        .filter(|(_, gap)| *gap > interval.mul_f64(1.5))
        .collect();
    let lost: Duration = long.iter().map(|(_, gap)| gap.saturating_sub(interval)).sum();
    let shown: Vec<String> = long
        .iter()
        .map(|(i, gap)| format!("#{i}: {:.1} ms", gap.as_secs_f64() * 1e3))
        .collect();
    println!(
        "      {} long gaps, {:.0} ms lost: {}",
        long.len(),
        lost.as_secs_f64() * 1e3,
        shown.join(", ")
    );
}

/// Drops the round's tables and rows.
async fn clean(pg: &str, prefix: &str, collections: usize) {
    let Ok(pool) = sqlx::PgPool::connect(pg).await else {
        return;
    };
    for i in 0..collections {
        let name = format!("{prefix}_{i}");
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE IF EXISTS \"{name}\"")))
            .execute(&pool)
            .await;
        for table in ["pipeline_checkpoints", "pipeline_leases"] {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE collection = $1"
            )))
            .bind(&name)
            .execute(&pool)
            .await;
        }
    }
    pool.close().await;
}

fn fastrand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
}

/// Runs the comparison (needs `PIPELINE_TEST_PG_URL`).
pub fn run(exe: &str) {
    let Ok(pg) = std::env::var("PIPELINE_TEST_PG_URL") else {
        println!("cluster: skipped, PIPELINE_TEST_PG_URL is not set");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (collections, pages, per_page) = (16, 25, 20);
    let server = rt
        .block_on(MockServer::start(
            MockConfig::new(pages * per_page, per_page).latency(Duration::from_millis(20)),
        ))
        .expect("mock server");
    println!(
        "cluster: {collections} collections × {pages} pages, 20 ms server latency, 4 collections per process"
    );
    for min_delay_ms in [0, 10] {
        let limit = match 1000u64.checked_div(min_delay_ms) {
            None => "no politeness limit".to_owned(),
            Some(bound) => format!("min_delay_ms = {min_delay_ms} (bound {bound} pages/s)"),
        };
        println!("  {limit}:");
        for processes in [1, 2, 4] {
            let r = round(&server, exe, &pg, processes, collections, min_delay_ms);
            println!(
                "    {processes} process(es): {:>7.1} pages/s  ({} pages, {} requests in {:.2} s; {:.3} coordination round trips per page)",
                r.requests.saturating_sub(1) as f64 / r.elapsed.as_secs_f64().max(1e-9),
                r.pages,
                r.requests,
                r.elapsed.as_secs_f64(),
                r.calls as f64 / r.pages.max(1) as f64
            );
            rt.block_on(clean(&pg, &r.prefix, collections));
        }
    }
}
