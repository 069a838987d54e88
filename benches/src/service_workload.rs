//! A runner as a service: 1,000 scheduled collections, each with 100 runs
//! of history (as a restarted service reads them from `pipeline_runs`),
//! idle between runs, then 8 crawling while `/status` is polled. Measures
//! the idle CPU, the status endpoint's latency, and the latency of one
//! collection's run history (`GET /collections/{name}/runs`, what the
//! status page asks for when a collection's view opens).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crawlpipe_core::history::{MemoryRunHistory, RunHistory, RunOutcome, RunRecord};
use crawlpipe_core::runner::{Collection, Runner};
use crawlpipe_core::testkit::{CollectSink, ScriptedPaged};
use crawlpipe_core::{MemoryCheckpointStore, Pipeline};

/// What one run measured.
#[derive(Debug)]
pub struct ServiceFigures {
    pub collections: usize,
    /// CPU time of the process over the idle window, as a share of one core.
    pub idle_core_share: f64,
    pub idle_window: Duration,
    /// Runs of history each collection had when the runner started.
    pub history_runs: usize,
    /// `/status` latencies while 8 collections crawl, sorted.
    pub status_latencies: Vec<Duration>,
    pub status_bytes: usize,
    /// `GET /collections/{name}/runs` latencies (a different collection
    /// each time), sorted.
    pub runs_latencies: Vec<Duration>,
    pub runs_bytes: usize,
    /// Server-side time to build the `/status` body in this process
    /// (`Runner::status_json`, what the endpoint answers), sorted.
    pub build_latencies: Vec<Duration>,
    /// The same statuses serialized whole (`serde_json::to_vec` of
    /// `Runner::status`: no JSON kept per collection), sorted.
    pub serialize_latencies: Vec<Duration>,
    /// `GET /status/runs` (the sparklines) latencies, sorted, and its size.
    pub recent_latencies: Vec<Duration>,
    pub recent_bytes: usize,
}

impl ServiceFigures {
    /// The `p` percentile of the `/status` latencies.
    pub fn percentile(&self, p: f64) -> Duration {
        percentile(&self.status_latencies, p)
    }

    /// The `p` percentile of the run history latencies.
    pub fn runs_percentile(&self, p: f64) -> Duration {
        percentile(&self.runs_latencies, p)
    }
}

/// The `p` percentile of sorted latencies.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let n = sorted.len();
    let i = ((n as f64 * p).ceil() as usize).clamp(1, n) - 1;
    sorted[i]
}

/// `runs` finished runs of each `scheduled_{i}` collection, hourly, ending
/// an hour ago: every tenth failed with an error.
async fn past_runs(collections: usize, runs: usize) -> Arc<MemoryRunHistory> {
    let history = Arc::new(MemoryRunHistory::new());
    let now = SystemTime::now();
    for i in 0..collections {
        let name = format!("scheduled_{i}");
        for r in 0..runs {
            let started = now - Duration::from_secs(3600 * (runs - r) as u64);
            let ended = started + Duration::from_secs(30 + (r % 7) as u64);
            let failed = r % 10 == 9;
            let outcome = if failed {
                RunOutcome::Failed
            } else {
                RunOutcome::Completed
            };
            let mut run = RunRecord::new(name.clone(), started, ended, outcome);
            run.items = 1000 + (r * 13 % 200) as u64;
            run.pages = 10;
            if failed {
                run.error = Some(format!("collection {name}: page 7: HTTP 503 (resumes exhausted)"));
            }
            history.record(&run, runs).await.expect("an in-memory history");
        }
    }
    history
}

/// CPU seconds (user + system) used by this process so far (Linux).
pub fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here.
    (ticks(11) + ticks(12)) / 100.0
}

pub async fn run(collections: usize, history_runs: usize, idle: Duration, polls: usize) -> ServiceFigures {
    crawlpipe_core::serve::install_recorder().expect("recorder");
    let mut builder = Runner::builder(Arc::new(MemoryCheckpointStore::new()))
        .service(true)
        .concurrency(8)
        .history(past_runs(collections, history_runs).await)
        .history_keep(history_runs.max(1));
    for i in 0..collections {
        let c = Collection::new(format!("scheduled_{i}"), |name| {
            Ok(Pipeline::paged(name, ScriptedPaged::numbered(1, 10)).sink(CollectSink::new()))
        });
        builder = builder.collection(c.every(Duration::from_secs(3600)));
    }
    let runner = builder.build().expect("runner");
    let server = crawlpipe_core::serve::serve("127.0.0.1:0", runner.clone())
        .await
        .expect("server");
    let url = format!("http://{}/status", server.local_addr());
    runner.start().expect("start");
    let deadline = Instant::now() + Duration::from_secs(60);
    while runner.status().iter().any(|s| s.runs == 0) {
        assert!(Instant::now() < deadline, "the first runs did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let (cpu, wall) = (cpu_seconds(), Instant::now());
    tokio::time::sleep(idle).await;
    let idle_core_share = (cpu_seconds() - cpu) / wall.elapsed().as_secs_f64();

    for i in 0..8 {
        // Long enough to crawl through every poll (2 ms a page).
        let c = Collection::new(format!("crawling_{i}"), |name| {
            let source = ScriptedPaged::numbered(20_000, 10).delay(Duration::from_millis(2));
            Ok(Pipeline::paged(name, source).sink(CollectSink::new()))
        });
        runner.add(c).expect("add");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let client = reqwest::Client::new();
    let mut status_latencies = Vec::with_capacity(polls);
    let mut status_bytes = 0;
    for _ in 0..polls {
        let t = Instant::now();
        let body = client
            .get(&url)
            .send()
            .await
            .expect("status")
            .bytes()
            .await
            .expect("body");
        status_latencies.push(t.elapsed());
        status_bytes = body.len();
    }
    status_latencies.sort();
    let mut runs_latencies = Vec::with_capacity(polls);
    let mut runs_bytes = 0;
    for i in 0..polls {
        let url = format!(
            "http://{}/collections/scheduled_{}/runs",
            server.local_addr(),
            i % collections.max(1)
        );
        let t = Instant::now();
        let body = client
            .get(&url)
            .send()
            .await
            .expect("runs")
            .bytes()
            .await
            .expect("body");
        runs_latencies.push(t.elapsed());
        runs_bytes = body.len();
    }
    runs_latencies.sort();
    let (build_latencies, serialize_latencies) = build_times(&runner, polls).await;
    let mut recent_latencies = Vec::with_capacity(polls / 10);
    let mut recent_bytes = 0;
    let recent_url = format!("http://{}/status/runs", server.local_addr());
    for _ in 0..(polls / 10).max(1) {
        let t = Instant::now();
        let body = client
            .get(&recent_url)
            .send()
            .await
            .expect("recent runs")
            .bytes()
            .await
            .expect("body");
        recent_latencies.push(t.elapsed());
        recent_bytes = body.len();
    }
    recent_latencies.sort();
    runner.force();
    runner.join().await;
    server.shutdown().await;
    ServiceFigures {
        collections,
        idle_core_share,
        idle_window: idle,
        history_runs,
        status_latencies,
        status_bytes,
        runs_latencies,
        runs_bytes,
        build_latencies,
        serialize_latencies,
        recent_latencies,
        recent_bytes,
    }
}

/// `polls` times, a millisecond apart while 8 collections crawl: the time to
/// build the `/status` body, and to serialize every status whole.
async fn build_times(runner: &Runner, polls: usize) -> (Vec<Duration>, Vec<Duration>) {
    let mut build = Vec::with_capacity(polls);
    let mut whole = Vec::with_capacity(polls);
    for _ in 0..polls {
        let t = Instant::now();
        std::hint::black_box(runner.status_json());
        build.push(t.elapsed());
        let t = Instant::now();
        std::hint::black_box(serde_json::to_vec(&runner.status()).expect("statuses serialize"));
        whole.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    build.sort();
    whole.sort();
    (build, whole)
}
