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
        .pagination(Pagination::Page {
            param: "page".into(),
            start: 1,
            total_pages: None,
            has_more: None,
            stop_when: None,
            page_size: None,
            page_size_param: None,
        })
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
