//! A collection's request budget in `/status` and on the status page
//! ("quota 12% left, resets in 14 min"), in a real headless Chromium.
#![cfg(feature = "serve")]

mod browser;
mod client;
mod support;

use std::time::{Duration, SystemTime};

use crawlpipe_core::policy::{QuotaBudgets, QuotaWindow};
use crawlpipe_core::runner::{Collection, Runner};
use crawlpipe_core::serve::serve;
use crawlpipe_core::testkit::ScriptedPaged;
use crawlpipe_core::{Pipeline, State};
use tokio::time::Instant;

use support::{KeyedSink, RecordingStore, SharedSource};

#[cfg_attr(
    no_browser_tests,
    ignore = "needs chromium on PATH (apt-get install -y chromium)"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_the_page_show_the_budget_left_and_its_reset() {
    let test = "status_and_the_page_show_the_budget_left_and_its_reset";
    let budgets = QuotaBudgets::new();
    let budget = budgets.budget("api.example.com", "3f2a9c01d4e5");
    // 12 of 100 left, resetting in 14 minutes (and a little, so the page
    // still rounds to 14 when the browser looks).
    let reset_at = SystemTime::now() + Duration::from_secs(14 * 60 + 20);
    budget
        .observe(Some(QuotaWindow {
            limit: 100,
            remaining: 12,
            reset_at,
        }))
        .await;
    let shared = SharedSource::new(ScriptedPaged::numbered(2, 10));
    let quoted = Collection::new("quoted", move |name| {
        Ok(Pipeline::paged(name, shared.clone()).sink(KeyedSink::new()))
    })
    .quota(Some(budget.clone()));
    let plain = SharedSource::new(ScriptedPaged::numbered(2, 10));
    let plain = Collection::new("plain", move |name| {
        Ok(Pipeline::paged(name, plain.clone()).sink(KeyedSink::new()))
    });
    let runner = Runner::builder(RecordingStore::new())
        .service(true)
        .collection(quoted)
        .collection(plain)
        .build()
        .unwrap();
    let server = serve("127.0.0.1:0", runner.clone()).await.unwrap();
    runner.start().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !runner.status().iter().all(|s| s.state == State::Completed) {
        assert!(Instant::now() < deadline, "{:#?}", runner.status());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let status = client::get(server.local_addr(), "/status").await;
    let status: Vec<serde_json::Value> = serde_json::from_str(&status.body).unwrap();
    let quota = &status.iter().find(|s| s["collection"] == "quoted").unwrap()["quota"];
    let reset_ms = reset_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert_eq!(
        *quota,
        serde_json::json!({"host": "api.example.com", "budget": "3f2a9c01d4e5", "limit": 100, "remaining": 12, "reset_at": reset_ms})
    );
    assert!(status.iter().find(|s| s["collection"] == "plain").unwrap()["quota"].is_null());

    if let Some(chromium) = browser::chromium_or_skip(test) {
        let dom = browser::dump_dom(&chromium, &format!("http://{}/", server.local_addr())).await;
        let rows = browser::rows(&dom);
        let row = |name: &str| rows.iter().find(|r| r.collection == name).unwrap().html.clone();
        assert!(
            row("quoted").contains("quota 12% left, resets in 14 min"),
            "{}",
            row("quoted")
        );
        assert!(!row("plain").contains("quota "), "{}", row("plain"));
    }
    runner.shutdown();
    runner.join().await;
    server.shutdown().await;
}
