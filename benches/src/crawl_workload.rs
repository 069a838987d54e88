//! The end-to-end crawl comparison: a JSON crawl of the local mock server
//! into SQLite, each variant in its own child process so that its CPU
//! (user + sys, from `getrusage` of the waited child) and wall time are its
//! own and the mock server's are not counted.
//!
//! Variants: the hand-written minimal program ([`minimal_crawl`], the
//! limit), the library on the raw-JSON path (`RawJsonSource` →
//! `build_raw`, what the `crawl` binary builds), the library on the `Value`
//! path (`JsonSource` → `build`), and `crawl` binaries given by path.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crawlpipe_core::Pipeline;
use crawlpipe_sources::mock::{MockConfig, MockServer};
use crawlpipe_sources::{HttpContext, HttpSourceConfig, JsonSource, Pagination, RawJsonSource};
use nix::sys::resource::{UsageWho, getrusage};

pub use crate::minimal_crawl::minimal_crawl;

/// Items per page of the mock server.
pub const PER_PAGE: usize = 100;

/// One child's run.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    pub wall: Duration,
    /// User + system CPU of the child and everything it waited for.
    pub cpu: Duration,
}

fn children_cpu() -> Duration {
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).expect("getrusage");
    let tv = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
    };
    tv(usage.user_time()) + tv(usage.system_time())
}

/// Runs `command` to its end, its output discarded, and measures it.
///
/// # Panics
///
/// When the child cannot start or fails.
pub fn measure(command: &mut Command) -> Measured {
    let before = children_cpu();
    let started = Instant::now();
    let out = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("child starts");
    let wall = started.elapsed();
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Measured {
        wall,
        cpu: children_cpu() - before,
    }
}

/// The mock's pages as a collection config (page-number pagination).
pub fn config(base: &str) -> HttpSourceConfig {
    HttpSourceConfig::new(format!("{base}/page"))
        .items("/items")
        .pagination(Pagination::page("page", 1))
}

/// The `crawl` binary's config file for the same collection, named `items`.
pub fn crawl_toml(base: &str, db: &Path) -> String {
    format!(
        "[runtime]\nconcurrency = 1\ndatabase = \"sqlite://{}\"\n\n\
         [[collection]]\nname = \"items\"\nurl = \"{base}/page\"\nitems = \"/items\"\nkey = \"/id\"\n\
         pagination = {{ style = \"page\", param = \"page\", start = 1 }}\n",
        db.display()
    )
}

/// The library path into SQLite table `items`, raw (`true`) or via `Value`;
/// returns the items written.
///
/// # Panics
///
/// When the crawl does not complete.
pub async fn library_crawl(base: &str, db_path: &str, raw: bool) -> u64 {
    let db = crawlpipe_sinks::Database::open(&format!("sqlite://{db_path}"))
        .await
        .expect("sqlite opens");
    let ctx = HttpContext::new().expect("client");
    let config = config(base);
    let sink = db.documents().key_pointer("/id");
    let report = if raw {
        let source = RawJsonSource::from_config(&config, &ctx).expect("source");
        let sink = sink.build_raw().expect("sink");
        Pipeline::paged("items", source)
            .sink(sink)
            .spawn()
            .expect("spawn")
            .join()
            .await
    } else {
        let source = JsonSource::from_config(&config, &ctx).expect("source");
        let sink = sink.build().expect("sink");
        Pipeline::paged("items", source)
            .sink(sink)
            .spawn()
            .expect("spawn")
            .join()
            .await
    };
    assert!(report.outcome.is_completed(), "{:?}", report.outcome);
    db.close().await;
    report.progress.items_written
}

/// Rows in table `items` (every variant's) of the SQLite database at `path`.
///
/// # Panics
///
/// When the database or table cannot be read.
pub async fn rows(path: &Path) -> u64 {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("sqlite opens");
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM items")
        .fetch_one(&pool)
        .await
        .expect("count");
    pool.close().await;
    n as u64
}

/// One crawl variant in this (child) process; prints the items written and
/// the peak RSS in KiB.
#[allow(clippy::print_stdout)]
pub fn child(variant: &str, base: &str, db: &str) {
    let rt = runtime();
    let items = match variant {
        "minimal" => rt.block_on(minimal_crawl(base, db)),
        "raw" => rt.block_on(library_crawl(base, db, true)),
        "value" => rt.block_on(library_crawl(base, db, false)),
        other => panic!("unknown crawl variant {other:?}"),
    };
    println!("{items} {}", crate::child_rss::peak_rss_kib());
}

/// Prints the figures of `compare crawl`: `n` items by each variant and
/// each `crawl` binary of `binaries` (default: the one next to this
/// executable), in rotated rounds.
#[allow(clippy::print_stdout)]
pub fn compare(n: usize, binaries: &[String]) {
    let exe = std::env::current_exe().expect("own path");
    let mut binaries: Vec<String> = binaries.to_vec();
    let default = exe.with_file_name("crawl");
    if binaries.is_empty() && default.exists() {
        binaries.push(default.display().to_string());
    }
    let rt = runtime();
    let server = rt
        .block_on(MockServer::start(MockConfig::new(n, PER_PAGE)))
        .expect("mock server");
    let base = server.url("");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut names = vec![
        "minimal program (the limit)".to_owned(),
        "library, raw JSON".to_owned(),
        "library, Value".to_owned(),
    ];
    names.extend(binaries.iter().map(|b| format!("crawl binary {b}")));
    let rounds = 3;
    let mut runs: Vec<Vec<Measured>> = vec![Vec::new(); names.len()];
    for round in 0..rounds {
        // Rotate the order so that no variant always runs first.
        for k in 0..names.len() {
            let v = (round + k) % names.len();
            let db = dir.path().join(format!("v{v}-r{round}.db"));
            let db_text = db.display().to_string();
            let mut command = match v {
                0..=2 => {
                    let mut c = Command::new(&exe);
                    c.args(["crawl-child", ["minimal", "raw", "value"][v], &base, &db_text]);
                    c
                }
                _ => {
                    let config = dir.path().join(format!("v{v}-r{round}.toml"));
                    std::fs::write(&config, crawl_toml(&base, &db)).expect("config");
                    let mut c = Command::new(&binaries[v - 3]);
                    c.arg(&config).arg("--quiet");
                    c
                }
            };
            let m = measure(&mut command);
            let written = rt.block_on(rows(&db));
            assert_eq!(written, n as u64, "{} wrote {written} rows, not {n}", names[v]);
            runs[v].push(m);
        }
    }
    rt.block_on(server.shutdown());
    let median = |v: &[Measured], f: fn(&Measured) -> Duration| {
        let mut d: Vec<Duration> = v.iter().map(f).collect();
        d.sort();
        d[d.len() / 2]
    };
    let us_per_item = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    let limit_cpu = median(&runs[0], |m| m.cpu);
    let limit_wall = median(&runs[0], |m| m.wall);
    println!(
        "end-to-end JSON crawl of the mock into SQLite, {n} items, {} per page, 1 in flight, median of {rounds} (each a child process):",
        PER_PAGE
    );
    for (v, name) in names.iter().enumerate() {
        let cpu = median(&runs[v], |m| m.cpu);
        let wall = median(&runs[v], |m| m.wall);
        println!(
            "  {name:<40} CPU {:>6.2} µs/item ({:.2}x the limit; goal <= 1.5x)   {:>8.0} items/s ({:.2}x; goal >= 0.9x)",
            us_per_item(cpu),
            cpu.as_secs_f64() / limit_cpu.as_secs_f64(),
            n as f64 / wall.as_secs_f64(),
            limit_wall.as_secs_f64() / wall.as_secs_f64(),
        );
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}
