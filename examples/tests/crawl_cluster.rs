//! Several `crawl --serve` processes sharing one PostgreSQL (`[runtime]
//! cluster = true`): takeover after `kill -9`, politeness across processes,
//! and fencing of a paused process.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crawlpipe_sinks::sqlx::{self, AssertSqlSafe, PgPool, Row};
use crawlpipe_sources::mock::{MockConfig, MockServer};
use support::{crawl, mock_keys, signal, wait_bounded, write};

const LIMIT: Duration = Duration::from_secs(30);

/// The test database, or `None` (skipped) when it is not configured.
fn pg_url() -> Option<String> {
    match std::env::var("PIPELINE_TEST_PG_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var("PIPELINE_TEST_PG_REQUIRED").is_ok_and(|v| v == "1") => {
            panic!("PIPELINE_TEST_PG_REQUIRED=1 but PIPELINE_TEST_PG_URL is not set")
        }
        Err(_) => {
            eprintln!("skipped: PIPELINE_TEST_PG_URL is not set");
            None
        }
    }
}

/// A prefix no other test run uses.
fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("cl_{tag}_{}_{nanos}", std::process::id())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A crawl process the test started; killed when dropped.
struct Worker {
    child: Child,
    log: std::path::PathBuf,
}

impl Worker {
    fn serve(config: &str, dir: &Path, n: usize) -> Self {
        let log = dir.join(format!("worker{n}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_crawl"))
            .args([config, "--serve", "--quiet"])
            .current_dir(dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("the crawl binary starts");
        Self { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A config of `names`, each crawling the mock server's page route.
fn config(
    pg: &str,
    port: Option<u16>,
    server: &MockServer,
    names: &[String],
    runtime: &str,
    min_delay_ms: u64,
) -> String {
    let metrics = port
        .map(|p| format!("metrics_addr = \"127.0.0.1:{p}\"\n"))
        .unwrap_or_default();
    let mut text = format!(
        "[runtime]\ndatabase = \"{pg}\"\ncluster = true\nconcurrency = 4\n{metrics}{runtime}\n\
         [defaults]\nmin_delay_ms = {min_delay_ms}\n\n"
    );
    for name in names {
        text.push_str(&format!(
            "[[collection]]\nname = \"{name}\"\nurl = \"{}/page\"\nitems = \"/items\"\npagination = {{ style = \"page\" }}\n\n",
            server.base_url()
        ));
    }
    text
}

async fn keys(pool: &PgPool, table: &str) -> (i64, BTreeSet<String>) {
    let rows = sqlx::query(AssertSqlSafe(format!("SELECT key FROM \"{table}\"")))
        .fetch_all(pool)
        .await
        .unwrap_or_default();
    let keys: BTreeSet<String> = rows.iter().map(|r| r.get::<String, _>(0)).collect();
    (rows.len() as i64, keys)
}

/// `(state, cursor)` of each collection's checkpoint row.
async fn checkpoints(pool: &PgPool, names: &[String]) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for name in names {
        let row = sqlx::query("SELECT state, cursor FROM pipeline_checkpoints WHERE collection = $1")
            .bind(name)
            .fetch_optional(pool)
            .await
            .unwrap();
        out.push(row.map_or(("none".to_owned(), None), |r| (r.get(0), r.get(1))));
    }
    out
}

/// Polls (bounded) until every collection's checkpoint row says completed.
async fn wait_completed(pool: &PgPool, names: &[String], limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let states = checkpoints(pool, names).await;
        if states.iter().all(|(s, _)| s == "completed") {
            return;
        }
        assert!(Instant::now() < deadline, "not all completed in time: {states:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls (bounded) until the lease on `name` has expired by the database's clock.
async fn wait_lease_expired(pool: &PgPool, name: &str) {
    let deadline = Instant::now() + LIMIT;
    loop {
        let expired: Option<bool> = sqlx::query_scalar(
            "SELECT \"lease_until\" < now() FROM pipeline_leases WHERE \"collection\" = $1",
        )
        .bind(name)
        .fetch_optional(pool)
        .await
        .unwrap()
        .flatten();
        if expired == Some(true) {
            return;
        }
        assert!(Instant::now() < deadline, "the lease on {name} never expired");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Drops what the test created: the collections' tables and rows.
async fn clean(pool: &PgPool, names: &[String]) {
    for name in names {
        let _ = sqlx::query(AssertSqlSafe(format!("DROP TABLE IF EXISTS \"{name}\"")))
            .execute(pool)
            .await;
        for table in ["pipeline_checkpoints", "pipeline_leases"] {
            let _ = sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE collection = $1"
            )))
            .bind(name)
            .execute(pool)
            .await;
        }
    }
}

/// Requests one collection needs alone: the baseline for "fetched at most ~1.2×".
async fn requests_per_collection(dir: &Path, items: usize, per_page: usize) -> u64 {
    let server = MockServer::start(MockConfig::new(items, per_page)).await.unwrap();
    let text = format!(
        "[runtime]\ndatabase = \"sqlite://{}\"\n[[collection]]\nname = \"one\"\nurl = \"{}/page\"\nitems = \"/items\"\npagination = {{ style = \"page\" }}\n",
        dir.join("baseline.db").display(),
        server.base_url()
    );
    let path = write(dir, "baseline.toml", &text);
    assert!(crawl(&[&path, "--quiet"], dir).status.success());
    server.request_count()
}

#[cfg_attr(no_pg_tests, ignore = "needs PostgreSQL: set PIPELINE_TEST_PG_URL")]
#[tokio::test(flavor = "multi_thread")]
async fn three_processes_share_twenty_collections_and_take_over_after_kill_9() {
    let Some(pg) = pg_url() else { return };
    let pool = PgPool::connect(&pg).await.unwrap();
    let (items, per_page, min_delay_ms) = (300, 20, 20);
    let dir = tempfile::tempdir().unwrap();
    let baseline = requests_per_collection(dir.path(), items, per_page).await;
    let server = MockServer::start(MockConfig::new(items, per_page)).await.unwrap();
    let prefix = unique("kill");
    let names: Vec<String> = (0..20).map(|i| format!("{prefix}_{i}")).collect();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut workers: Vec<Worker> = Vec::new();
    for (n, port) in ports.iter().enumerate() {
        let text = config(&pg, Some(*port), &server, &names, "lease_ms = 1500", min_delay_ms);
        let path = write(dir.path(), &format!("crawl{n}.toml"), &text);
        workers.push(Worker::serve(&path, dir.path(), n));
    }

    // Kill the first process once it is crawling and has committed pages.
    let deadline = Instant::now() + LIMIT;
    let victim = loop {
        let status: Vec<serde_json::Value> =
            match reqwest::get(format!("http://127.0.0.1:{}/status", ports[0])).await {
                Ok(r) => r.json().await.unwrap_or_default(),
                Err(_) => Vec::new(),
            };
        let mine = status
            .iter()
            .filter(|s| s["state"] == "crawling" && s["items_written"].as_u64().unwrap_or(0) > 0)
            .count();
        if mine > 0 {
            break status;
        }
        assert!(Instant::now() < deadline, "process 0 never crawled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    signal(&workers[0].child, "KILL");
    let _ = workers[0].child.wait();
    let mut owners: BTreeSet<String> = victim
        .iter()
        .filter_map(|s| s["owner"].as_str().map(str::to_owned))
        .collect();
    // Process 0 may have claimed its first collections before the others
    // joined: then another process's /status shows them (and process 0's
    // leases until they expire).
    while owners.len() < 2 && Instant::now() < deadline {
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{}/status", ports[1])).await {
            let status: Vec<serde_json::Value> = r.json().await.unwrap_or_default();
            owners.extend(
                status
                    .iter()
                    .filter_map(|s| s["owner"].as_str().map(str::to_owned)),
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    wait_completed(&pool, &names, Duration::from_secs(60)).await;
    // Any process's /status shows the whole cluster, owners included.
    let status: Vec<serde_json::Value> = reqwest::get(format!("http://127.0.0.1:{}/status", ports[1]))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status.len(), 20);
    for w in &workers[1..] {
        signal(&w.child, "TERM");
    }
    for w in &mut workers[1..] {
        assert_eq!(
            wait_bounded(&mut w.child, LIMIT).and_then(|s| s.code()),
            Some(0),
            "{}",
            w.log()
        );
    }

    for name in &names {
        assert_eq!(
            keys(&pool, name).await,
            (items as i64, mock_keys(items)),
            "collection {name}"
        );
    }
    let fetched = server.request_count();
    let bound = baseline * 20 * 12 / 10;
    assert!(
        fetched <= bound,
        "pages fetched {fetched}, at most {bound} (baseline {baseline} each)"
    );
    assert!(
        owners.len() >= 2,
        "the cluster's owners were visible in /status: {owners:?}"
    );

    // Request starts from all processes together keep min_delay_ms. The
    // server sees them after each process's send path, which on a loaded
    // machine (this one runs several builds at once: load average ~8 on two
    // cores) adds milliseconds of noise, and now and then a stall: at most 1%
    // of the gaps may be shorter than half the interval, and the 5th
    // percentile holds to a quarter of it. Processes spacing only their own
    // requests fail both by far (a third of their gaps or more fall under
    // half the interval).
    let mut times: Vec<Duration> = server.request_times().into_iter().map(|(t, _)| t).collect();
    times.sort();
    let mut gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort();
    let delay = Duration::from_millis(min_delay_ms);
    let p5 = gaps[gaps.len() / 20];
    let short = gaps.iter().filter(|g| **g < delay / 2).count();
    eprintln!(
        "request start gaps: smallest {:?}, 5th percentile {p5:?}, {short} under half the interval, of {}",
        gaps[0],
        gaps.len()
    );
    assert!(
        short * 100 <= gaps.len(),
        "{short} gaps under {:?}: {:?}",
        delay / 2,
        &gaps[..10]
    );
    assert!(
        p5 >= delay * 3 / 4,
        "5th percentile gap {p5:?}: {:?}",
        &gaps[..20]
    );
    clean(&pool, &names).await;
}

#[cfg_attr(no_pg_tests, ignore = "needs PostgreSQL: set PIPELINE_TEST_PG_URL")]
#[tokio::test(flavor = "multi_thread")]
async fn a_paused_process_is_fenced_out_and_commits_nothing() {
    let Some(pg) = pg_url() else { return };
    let pool = PgPool::connect(&pg).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // 40 pages, 100 ms apart: about 4 s of crawling.
    let server = MockServer::start(MockConfig::new(400, 10)).await.unwrap();
    let names = vec![unique("fence")];
    let text = config(&pg, None, &server, &names, "lease_ms = 1000", 100);
    let path = write(dir.path(), "crawl.toml", &text);
    let mut first = Worker::serve(&path, dir.path(), 0);

    let deadline = Instant::now() + LIMIT;
    while keys(&pool, &names[0]).await.0 < 50 {
        assert!(Instant::now() < deadline, "the first process never committed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    signal(&first.child, "STOP");
    // Past the lease: the second process claims the collection and finishes it.
    wait_lease_expired(&pool, &names[0]).await;
    let mut second = Worker::serve(&path, dir.path(), 1);
    wait_completed(&pool, &names, Duration::from_secs(30)).await;
    let done = checkpoints(&pool, &names).await;
    let before = keys(&pool, &names[0]).await;

    signal(&first.child, "CONT");
    // The resumed process notices the lost lease; whatever it still tries to
    // commit (its page, its cancelled state) is refused by the fence.
    let deadline = Instant::now() + LIMIT;
    while !first.log().contains("lease") {
        assert!(
            Instant::now() < deadline,
            "the paused process never noticed: {}",
            first.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Once the fenced-out process has exited it can commit nothing more:
    // what the tables hold then is all it ever committed after the pause.
    signal(&first.child, "TERM");
    let exit = wait_bounded(&mut first.child, LIMIT).and_then(|s| s.code());
    assert_eq!(exit, Some(0), "{}", first.log());
    assert_eq!(
        checkpoints(&pool, &names).await,
        done,
        "the fenced-out process recorded nothing"
    );
    assert_eq!(keys(&pool, &names[0]).await, before);
    assert_eq!(before, (400, mock_keys(400)));
    signal(&second.child, "TERM");
    let exit = wait_bounded(&mut second.child, LIMIT).and_then(|s| s.code());
    assert_eq!(exit, Some(0), "{}", second.log());
    clean(&pool, &names).await;
}

/// Runs two one-shot `crawl` processes of `path` at once; both must exit 0.
fn two_one_shot_processes(dir: &Path, path: &str) {
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_crawl"))
            .args([path, "--quiet"])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the crawl binary starts")
    };
    let mut a = spawn();
    let mut b = spawn();
    assert_eq!(wait_bounded(&mut a, LIMIT).and_then(|s| s.code()), Some(0));
    assert_eq!(wait_bounded(&mut b, LIMIT).and_then(|s| s.code()), Some(0));
}

/// Every collection of `names` holds the mock's 100 items, each once.
async fn assert_all_exact(pool: &PgPool, names: &[String]) {
    for name in names {
        assert_eq!(keys(pool, name).await, (100, mock_keys(100)), "collection {name}");
    }
}

#[cfg_attr(no_pg_tests, ignore = "needs PostgreSQL: set PIPELINE_TEST_PG_URL")]
#[tokio::test(flavor = "multi_thread")]
async fn one_shot_processes_share_the_work_and_exit_0() {
    let Some(pg) = pg_url() else { return };
    let pool = PgPool::connect(&pg).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start(MockConfig::new(100, 10)).await.unwrap();
    let prefix = unique("once");
    let names: Vec<String> = (0..6).map(|i| format!("{prefix}_{i}")).collect();
    let text = config(&pg, None, &server, &names, "concurrency = 2\nlease_ms = 2000", 5)
        .replace("concurrency = 4\n", "");
    let path = write(dir.path(), "crawl.toml", &text);
    two_one_shot_processes(dir.path(), &path);
    assert_all_exact(&pool, &names).await;
    assert!(
        checkpoints(&pool, &names)
            .await
            .iter()
            .all(|(s, _)| s == "completed")
    );
    assert!(
        server.request_count() <= 6 * 11 + 2,
        "each collection was crawled once: {}",
        server.request_count()
    );
    clean(&pool, &names).await;
}

#[cfg_attr(no_pg_tests, ignore = "needs PostgreSQL: set PIPELINE_TEST_PG_URL")]
#[tokio::test(flavor = "multi_thread")]
async fn two_processes_keep_the_in_flight_cap_together() {
    let Some(pg) = pg_url() else { return };
    let pool = PgPool::connect(&pg).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start(MockConfig::new(100, 10).latency(Duration::from_millis(20)))
        .await
        .unwrap();
    let prefix = unique("cap");
    let names: Vec<String> = (0..6).map(|i| format!("{prefix}_{i}")).collect();
    // Each process runs 4 collections at once, each alone allowed 2
    // requests in flight: 8 at once without the shared cap.
    let text = config(&pg, None, &server, &names, "lease_ms = 2000", 0)
        .replace("min_delay_ms = 0\n", "max_in_flight_per_host = 2\n");
    let path = write(dir.path(), "crawl.toml", &text);
    two_one_shot_processes(dir.path(), &path);
    assert_all_exact(&pool, &names).await;
    assert!(
        server.most_concurrent() <= 2,
        "{} requests were in flight at once",
        server.most_concurrent()
    );
    clean(&pool, &names).await;
}
