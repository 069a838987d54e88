//! The server's single-connection ceiling (`compare ceiling`): a JSON crawl
//! of six collections on one host with one request in flight (the `crawl`
//! binary's default), against clients that only fetch the same pages on one
//! keep-alive connection and read their bodies: `wrk` (one thread, one
//! connection, a Lua script cycling through the exact paths the crawl
//! requested) and a minimal hyper loop in a child process.
//!
//! Every variant talks to the same mock server, which runs in this process
//! and logs each request's arrival: the median time between two arrivals is
//! a request's whole cycle as the server sees it (its answer, the client's
//! work between the response's last byte and the next request's first, the
//! loopback both ways), so the crawl's median minus the ceiling's is what
//! the crawl adds to each request's critical path. Each variant's wall time
//! is also split into start-up, steady state and tail, with the client's and
//! the server's CPU per request ([`ceiling_split`](crate::ceiling_split)).
#![allow(clippy::print_stdout)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crawlpipe_sources::mock::{MockConfig, MockServer};

use crate::ceiling_split::{RunSplit, measure_split, print_cpu_bound, print_split};

/// Items per page.
pub const PER_PAGE: usize = 100;

/// The six collections: (name, route, items pointer, pagination).
const COLLECTIONS: [(&str, &str, &str, &str); 6] = [
    ("users", "/link?page=1", "", r#"{ style = "link_header" }"#),
    (
        "events",
        "/cursor",
        "/items",
        r#"{ style = "cursor", param = "cursor", next = "/response_metadata/next_cursor" }"#,
    ),
    (
        "orders",
        "/next_url?page=1",
        "/value",
        r#"{ style = "next_url", next = "/@odata.nextLink" }"#,
    ),
    (
        "results",
        "/offset",
        "/results",
        r#"{ style = "offset", offset_param = "offset", limit_param = "limit", limit = 100, total = "/total" }"#,
    ),
    (
        "pages",
        "/page",
        "/items",
        r#"{ style = "page", param = "page", start = 1 }"#,
    ),
    (
        "charges",
        "/stripe",
        "/data",
        r#"{ style = "cursor", param = "starting_after", last_item = "/id", has_more = "/has_more" }"#,
    ),
];

/// Collections in the config, hence rows per item of the mock.
pub const COLLECTION_COUNT: usize = COLLECTIONS.len();

/// The `crawl` config: the six collections of the mock at `base` into the
/// SQLite file `db`, all six at once, the host's defaults (one request in
/// flight, lookahead 1).
pub fn six_collections_toml(base: &str, db: &Path) -> String {
    let mut toml = format!(
        "[runtime]\nconcurrency = {COLLECTION_COUNT}\ndatabase = \"sqlite://{}\"\n",
        db.display()
    );
    for (name, route, items, pagination) in COLLECTIONS {
        toml.push_str(&format!(
            "\n[[collection]]\nname = \"{name}\"\nurl = \"{base}{route}\"\nkey = \"/id\"\npagination = {pagination}\n"
        ));
        if !items.is_empty() {
            toml.push_str(&format!("items = \"{items}\"\n"));
        }
    }
    toml
}

/// The mock server of `items` items per collection.
///
/// # Panics
///
/// When no loopback port can be bound.
pub async fn server(items: usize) -> MockServer {
    MockServer::start(MockConfig::new(items, PER_PAGE))
        .await
        .expect("mock server")
}

/// Rows in every table of the six collections in the SQLite file at `db`.
///
/// # Panics
///
/// When the database or a table cannot be read.
pub async fn rows(db: &Path) -> u64 {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .expect("sqlite opens");
    let mut total = 0;
    for (name, ..) in COLLECTIONS {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM \"{name}\"")))
            .fetch_one(&pool)
            .await
            .expect("count");
        total += n as u64;
    }
    pool.close().await;
    total
}

/// The median gap between consecutive arrivals in `times` (the mock's
/// request log of one variant's run).
pub fn median_gap(times: &[Duration]) -> Duration {
    let mut gaps: Vec<Duration> = times.windows(2).map(|w| w[1].saturating_sub(w[0])).collect();
    gaps.sort();
    gaps.get(gaps.len() / 2).copied().unwrap_or_default()
}

/// What `wrk` measured: requests per second.
#[derive(Debug, Clone, Copy)]
pub struct WrkRun {
    pub requests_per_sec: f64,
}

/// Runs `wrk` (one thread, one keep-alive connection) for `seconds` over
/// `paths` of the server at `base`, cycling through them in order.
///
/// # Panics
///
/// When `wrk` cannot run or prints no rate.
pub fn wrk(wrk: &Path, base: &str, paths: &[String], seconds: u64, dir: &Path) -> WrkRun {
    let script = dir.join("paths.lua");
    let mut lua = String::from("local paths = {\n");
    for p in paths {
        lua.push_str(&format!("  {:?},\n", p));
    }
    lua.push_str(
        "}\nlocal i = 0\nrequest = function()\n  i = i % #paths + 1\n  return wrk.format(\"GET\", paths[i])\nend\n",
    );
    std::fs::write(&script, lua).expect("wrk script");
    let out = Command::new(wrk)
        .args(["-t1", "-c1", &format!("-d{seconds}s"), "-s"])
        .arg(&script)
        .arg(format!("{base}/"))
        .output()
        .expect("wrk runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "wrk failed: {text}");
    let requests_per_sec = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("wrk printed no rate: {text}"));
    WrkRun { requests_per_sec }
}

/// The minimal hyper client (run in a child process): GETs every path in
/// `paths_file` (one a line) from `addr` in order on one keep-alive
/// connection, reading each body to its end; returns the bytes read.
///
/// # Panics
///
/// On any connection or HTTP error (a benchmark setup error).
pub async fn hyper_loop(addr: &str, paths_file: &Path) -> u64 {
    use http_body_util::{BodyExt, Empty};
    use hyper::body::Bytes;
    let paths = std::fs::read_to_string(paths_file).expect("paths file");
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connects");
    stream.set_nodelay(true).expect("nodelay");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .expect("handshake");
    // The connection is polled in this task, beside the loop: no task hop
    // between the socket and the loop.
    let requests = async move {
        let mut bytes = 0u64;
        for path in paths.lines().filter(|l| !l.is_empty()) {
            sender.ready().await.expect("connection ready");
            let request = hyper::Request::get(path)
                .header(hyper::header::HOST, addr)
                .body(Empty::<Bytes>::new())
                .expect("request");
            let response = sender.send_request(request).await.expect("response");
            assert!(response.status().is_success(), "{path}: {}", response.status());
            let mut body = response.into_body();
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame.expect("body").into_data() {
                    bytes += data.len() as u64;
                }
            }
        }
        bytes
    };
    let (bytes, _) = tokio::join!(requests, conn);
    bytes
}

/// One variant's runs: rows per second and the median arrival gap.
#[derive(Debug, Default)]
struct Runs {
    rates: Vec<f64>,
    gaps: Vec<Duration>,
    splits: Vec<RunSplit>,
}

impl Runs {
    fn median_rate(&self) -> f64 {
        let mut r = self.rates.clone();
        r.sort_by(f64::total_cmp);
        r.get(r.len() / 2).copied().unwrap_or(0.0)
    }

    fn median_gap(&self) -> Duration {
        let mut g = self.gaps.clone();
        g.sort();
        g.get(g.len() / 2).copied().unwrap_or_default()
    }
}

/// `compare ceiling [ITEMS] [CRAWL_BINARY…]`: each `crawl` binary given
/// (default: the one beside this executable) against `wrk` (if installed)
/// and the hyper loop, over the same pages, `rounds` interleaved rounds.
///
/// # Panics
///
/// When a variant fails or writes the wrong number of rows.
pub fn compare(items: usize, binaries: &[String], rounds: usize) {
    let exe = std::env::current_exe().expect("own path");
    let mut binaries = binaries.to_vec();
    let default = exe.with_file_name("crawl");
    if binaries.is_empty() && default.exists() {
        binaries.push(default.display().to_string());
    }
    assert!(
        !binaries.is_empty(),
        "no crawl binary: build it (cargo build --release -p crawlpipe --bin crawl) or name one"
    );
    let wrk_path = ["/usr/bin/wrk", "/usr/local/bin/wrk"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt.block_on(server(items));
    let base = server.url("");
    let dir = tempfile::tempdir().expect("temp dir");
    let rows_expected = (items * COLLECTION_COUNT) as u64;
    let mut paths: Vec<String> = Vec::new();
    let mut crawls: Vec<Runs> = binaries.iter().map(|_| Runs::default()).collect();
    let (mut hyper_runs, mut wrk_runs) = (Runs::default(), Runs::default());
    let since =
        |from: usize| -> Vec<Duration> { server.request_times()[from..].iter().map(|(t, _)| *t).collect() };
    for round in 0..rounds {
        for (b, binary) in binaries.iter().enumerate() {
            let from = server.request_count() as usize;
            let db = dir.path().join(format!("crawl{b}-{round}.db"));
            let config = dir.path().join(format!("crawl{b}-{round}.toml"));
            std::fs::write(&config, six_collections_toml(&base, &db)).expect("config");
            let (m, split) = measure_split(&server, Command::new(binary).arg(&config).arg("--quiet"));
            let written = rt.block_on(rows(&db));
            assert_eq!(written, rows_expected, "{binary} wrote {written} rows");
            if paths.is_empty() {
                paths = server.requests()[from..].to_vec();
            }
            crawls[b].rates.push(written as f64 / m.wall.as_secs_f64());
            crawls[b].gaps.push(median_gap(&since(from)));
            crawls[b].splits.push(split);
        }
        let rows_per_request = rows_expected as f64 / paths.len() as f64;
        let list = dir.path().join("paths.txt");
        std::fs::write(&list, paths.join("\n")).expect("paths file");
        let from = server.request_count() as usize;
        let (m, split) = measure_split(
            &server,
            Command::new(&exe)
                .args(["ceiling-child", &server.addr().to_string()])
                .arg(&list),
        );
        hyper_runs.rates.push(rows_expected as f64 / m.wall.as_secs_f64());
        hyper_runs.gaps.push(median_gap(&since(from)));
        hyper_runs.splits.push(split);
        if let Some(wrk_path) = wrk_path {
            let from = server.request_count() as usize;
            let seconds = m.wall.as_secs().clamp(2, 10);
            let run = wrk(wrk_path, &base, &paths, seconds, dir.path());
            wrk_runs.rates.push(run.requests_per_sec * rows_per_request);
            wrk_runs.gaps.push(median_gap(&since(from)));
        }
    }
    rt.block_on(server.shutdown());
    let ceiling_runs = if wrk_runs.median_rate() >= hyper_runs.median_rate() {
        &wrk_runs
    } else {
        &hyper_runs
    };
    let ceiling = ceiling_runs.median_rate();
    println!(
        "JSON crawl of {COLLECTION_COUNT} collections on one host ({items} items each, {PER_PAGE} per page, {} requests), 1 in flight, medians of {rounds} interleaved rounds:",
        paths.len()
    );
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let line = |name: &str, runs: &Runs| {
        println!(
            "  {name:<44} {:>9.0} rows/s  ({:.2}x the ceiling)   median gap between requests at the server {:>6.1} µs",
            runs.median_rate(),
            runs.median_rate() / ceiling,
            us(runs.median_gap())
        );
    };
    if wrk_path.is_some() {
        line("wrk -t1 -c1 over the same paths", &wrk_runs);
    } else {
        println!("  (wrk not installed: the hyper loop is the ceiling)");
    }
    line("hyper loop, one connection (child process)", &hyper_runs);
    print_split("hyper loop", &hyper_runs.splits);
    let ceiling_per_request =
        Duration::from_secs_f64(rows_expected as f64 / ceiling / paths.len().max(1) as f64);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    for (b, binary) in binaries.iter().enumerate() {
        line(&format!("crawl {binary}"), &crawls[b]);
        println!(
            "    ratio to the ceiling: {:.2}x (goal >= 0.9x); adds {:.1} µs per request at the server",
            crawls[b].median_rate() / ceiling,
            us(crawls[b].median_gap()) - us(ceiling_runs.median_gap())
        );
        print_split("split", &crawls[b].splits);
        print_cpu_bound(&crawls[b].splits, ceiling_per_request, cores);
    }
}

pub use crate::critical_path_workload::{CriticalPath, compare_critical_path, critical_path};
