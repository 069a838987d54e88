//! The status page of a service that has run for days: its history loaded
//! from the run history at start (as a restarted service reads
//! `pipeline_runs`), then live. Checked in headless Chromium, and the
//! screenshots in `docs/` are taken from it
//! (`PIPELINE_UPDATE_SCREENSHOT=1 cargo test --workspace --test
//! status_page_screenshots` writes them).
#![cfg(feature = "serve")]

mod browser;
mod client;
mod support;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crawlpipe_core::history::{MemoryRunHistory, RunHistory, RunOutcome, RunRecord};
use crawlpipe_core::runner::{Collection, Runner};
use crawlpipe_core::serve::serve;
use crawlpipe_core::testkit::{Fault, ScriptedPaged};
use crawlpipe_core::{Pipeline, State};
use serde_json::json;
use tokio::time::Instant;

use browser::devtools::Browser;
use support::{KeyedSink, RecordingStore, SharedSource};

/// Runs kept per collection before the service starts.
const PAST_RUNS: u64 = 40;

/// One collection of the service: its name, interval, typical run, and
/// which of its past runs failed (every `fail_every`th, 0: none).
struct Past {
    name: &'static str,
    every_secs: u64,
    items: u64,
    secs: u64,
    fail_every: u64,
}

const PAST: [Past; 7] = [
    Past {
        name: "github_issues",
        every_secs: 3600,
        items: 180,
        secs: 2,
        fail_every: 13,
    },
    Past {
        name: "github_comments",
        every_secs: 3600,
        items: 520,
        secs: 240,
        fail_every: 0,
    },
    Past {
        name: "orders",
        every_secs: 900,
        items: 60,
        secs: 30,
        fail_every: 0,
    },
    Past {
        name: "customers",
        every_secs: 21600,
        items: 1200,
        secs: 610,
        fail_every: 0,
    },
    Past {
        name: "exchange_rates",
        every_secs: 3600,
        items: 20,
        secs: 4,
        fail_every: 0,
    },
    Past {
        name: "shipments",
        every_secs: 3600,
        items: 90,
        secs: 60,
        fail_every: 3,
    },
    Past {
        name: "tickets",
        every_secs: 1800,
        items: 300,
        secs: 20,
        fail_every: 0,
    },
];

/// A deterministic wobble in [-1, 1] for run `i` of collection `c`.
fn wobble(c: usize, i: u64) -> f64 {
    ((i as f64 * 0.7 + c as f64 * 1.3).sin() + (i as f64 * 0.23).cos()) / 2.0
}

/// The history a service that ran these collections for days would have:
/// `shipments` failing for the last 30 hours.
async fn past_runs() -> Arc<MemoryRunHistory> {
    let history = Arc::new(MemoryRunHistory::new());
    let now = SystemTime::now();
    for (c, past) in PAST.iter().enumerate() {
        for i in 0..PAST_RUNS {
            let ago = Duration::from_secs(past.every_secs * (PAST_RUNS - i) + 600);
            let secs = past.secs as f64 * (1.0 + 0.3 * wobble(c, i)) + (i as f64 * past.secs as f64 / 150.0);
            let started = now - ago;
            let ended = started + Duration::from_secs_f64(secs);
            let failing =
                past.fail_every > 0 && (i % past.fail_every == 2 || (c == 5 && i >= PAST_RUNS - 30));
            let outcome = if failing {
                RunOutcome::Failed
            } else {
                RunOutcome::Completed
            };
            let mut run = RunRecord::new(past.name, started, ended, outcome);
            run.items = (past.items as f64
                * (1.0 + 0.15 * wobble(c + 3, i))
                * if failing { 0.3 } else { 1.0 }) as u64;
            run.pages = run.items / 100 + 1;
            if failing {
                run.resumes = 3;
                run.error = Some(format!(
                    "collection {}: page https://api.example.com/{}?page=4: HTTP 503 Service Unavailable (resumes exhausted)",
                    past.name, past.name
                ));
            }
            history.record(&run, 100).await.unwrap();
        }
    }
    history
}

/// A collection of the service, live: `pages` pages of 10 items.
fn collection(past: &Past, source: ScriptedPaged<u64>) -> Collection {
    let shared = SharedSource::new(source);
    Collection::new(past.name, move |name| {
        Ok(Pipeline::paged(name, shared.clone()).sink(KeyedSink::new()))
    })
    .every(Duration::from_secs(past.every_secs))
    .description(json!({
        "url": format!("https://api.example.com/{}", past.name),
        "items": "/data",
        "pagination": { "style": "link_header" },
        "headers": { "Authorization": "***" },
        "every": format!("{}s", past.every_secs),
        "sink": { "table": past.name, "key": "/id" },
    }))
}

/// Waits up to 20 s until every named collection is in its state.
async fn settle(runner: &Runner, expected: &[(&str, State)]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = runner.status();
        let reached = expected
            .iter()
            .all(|(name, state)| status.iter().any(|s| s.collection == *name && s.state == *state));
        if reached {
            return;
        }
        assert!(Instant::now() < deadline, "not settled: {status:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A screenshot of the whole page at `width`, kept in `docs/` when asked.
async fn screenshot(browser: &mut Browser, width: u32, file: &str) {
    let height = browser
        .eval("Math.ceil(document.querySelector('main:not([hidden])').getBoundingClientRect().bottom + 16)")
        .await;
    let height = height.as_u64().expect("a height").clamp(300, 1600) as u32;
    browser.resize(width, height).await;
    // Charts are drawn at their shown width: let one poll redraw them.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let image = browser.screenshot().await;
    assert!(image.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    if std::env::var_os("PIPELINE_UPDATE_SCREENSHOT").is_some_and(|v| v == "1") {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
        std::fs::write(docs.join(file), &image).unwrap();
    }
}

#[cfg_attr(
    no_browser_tests,
    ignore = "needs chromium on PATH (apt-get install -y chromium)"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_service_shows_the_history_it_kept_in_a_real_browser() {
    let test = "a_restarted_service_shows_the_history_it_kept_in_a_real_browser";
    let Some(chromium) = browser::chromium_or_skip(test) else {
        return;
    };
    let sources = [
        // github_issues: page 3 fails its five tries once, the run resumes
        // there and completes.
        ScriptedPaged::numbered(18, 10).fail(3, Fault::Transient, 5),
        ScriptedPaged::numbered(52, 10),
        ScriptedPaged::numbered(6, 10),
        ScriptedPaged::numbered(120, 10),
        ScriptedPaged::numbered(2, 10),
        // shipments keeps failing: stale.
        ScriptedPaged::numbered(9, 10).fail(0, Fault::Permanent, 1000),
        // tickets is crawling when the screenshots are taken.
        ScriptedPaged::numbered(100_000, 10).delay(Duration::from_millis(100)),
    ];
    let mut builder = Runner::builder(RecordingStore::new())
        .service(true)
        .concurrency(8)
        .max_resumes(3)
        .resume_backoff(Duration::from_millis(50), Duration::from_millis(50))
        .history(past_runs().await);
    for (past, source) in PAST.iter().zip(sources) {
        builder = builder.collection(collection(past, source));
    }
    let runner = builder.build().unwrap();
    let server = serve("127.0.0.1:0", runner.clone()).await.unwrap();
    runner.start().unwrap();
    settle(
        &runner,
        &[
            ("github_issues", State::Waiting),
            ("customers", State::Waiting),
            ("shipments", State::Failed),
            ("tickets", State::Crawling),
        ],
    )
    .await;

    let base = format!("http://{}/", server.local_addr());
    let mut browser = Browser::launch(&chromium, 1280, 700).await;
    browser.goto(&base).await;
    // Each row's sparkline: its last 20 runs, the kept ones and today's.
    browser
        .wait_for(
            "document.querySelectorAll('svg.sparkline[data-points=\"20\"]').length === 7",
            "20 recent runs for every collection",
        )
        .await;
    let stale = browser
        .eval("Array.from(document.querySelectorAll('tr[data-stale=\"true\"]')).map((tr) => tr.dataset.collection)")
        .await;
    assert_eq!(stale, json!(["shipments"]));
    let success = browser
        .eval("document.querySelector('tr[data-collection=\"shipments\"] td.c-success').textContent")
        .await;
    assert_eq!(success, "31 h ago", "its last success, from the kept history");
    screenshot(&mut browser, 1400, "status-page-overview.png").await;

    browser.resize(1280, 700).await;
    browser.goto(&format!("{base}#c=github_issues")).await;
    browser
        .wait_for(
            "document.getElementById('chart-items').dataset.points === '41'",
            "41 runs charted",
        )
        .await;
    assert_eq!(
        browser
            .eval("document.querySelectorAll('#chart-duration circle.point').length")
            .await,
        41
    );
    let errors = browser
        .eval("document.getElementById('errors').textContent")
        .await;
    assert!(
        errors.as_str().unwrap().contains("page-3"),
        "the resumed error: {errors}"
    );
    screenshot(&mut browser, 1280, "status-page-collection.png").await;
    // The table shows the newest 20 until asked for all.
    assert_eq!(
        browser
            .eval("document.querySelectorAll('#runs tbody tr').length")
            .await,
        20
    );
    let more = browser
        .eval("document.getElementById('runs-more').textContent")
        .await;
    assert_eq!(more, "Show all 41 runs");
    browser.click("#runs-more").await;
    browser
        .wait_for(
            "document.querySelectorAll('#runs tbody tr').length === 41",
            "all 41 runs",
        )
        .await;

    drop(browser);
    runner.shutdown();
    runner.join().await;
    server.shutdown().await;
}
