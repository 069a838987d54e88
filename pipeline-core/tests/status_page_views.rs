//! The status page as a user drives it, in a real headless Chromium over
//! the DevTools protocol: the filter box, sorting by a column, a row opening
//! the collection's view (and `#c=NAME` opening it directly), its charts and
//! run history, and a narrow window.
#![cfg(feature = "serve")]

mod browser;
mod client;
mod support;

use std::time::Duration;

use crawlpipe_core::runner::{Collection, Runner};
use crawlpipe_core::serve::serve;
use crawlpipe_core::testkit::{Fault, ScriptedPaged};
use crawlpipe_core::{Pipeline, State};
use serde_json::{Value, json};
use tokio::time::Instant;

use browser::devtools::Browser;
use support::{KeyedSink, RecordingStore, SharedSource};

/// A collection crawling `source`, one script shared by its attempts.
fn collection(name: &str, source: ScriptedPaged<u64>) -> Collection {
    let shared = SharedSource::new(source);
    Collection::new(name, move |name| {
        Ok(Pipeline::paged(name, shared.clone()).sink(KeyedSink::new()))
    })
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

/// The names of the overview's rows a user sees, top to bottom.
const SHOWN: &str = "Array.from(document.querySelectorAll('#collections tbody tr'))\
    .filter((tr) => !tr.hidden).map((tr) => tr.dataset.collection)";

async fn shown(browser: &mut Browser) -> Vec<String> {
    serde_json::from_value(browser.eval(SHOWN).await).expect("names")
}

/// Waits until the overview shows exactly `names`, in this order.
async fn wait_shown(browser: &mut Browser, names: &[&str]) {
    let expected = json!(names).to_string();
    let check = format!("JSON.stringify({SHOWN}) === {}", json!(expected));
    let shown_now = shown(browser).await;
    let what = format!("rows {names:?} (now {shown_now:?})");
    browser.wait_for(&check, &what).await;
}

#[cfg_attr(
    no_browser_tests,
    ignore = "needs chromium on PATH (apt-get install -y chromium)"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_filters_sorts_and_opens_a_collection_in_a_real_browser() {
    let test = "the_overview_filters_sorts_and_opens_a_collection_in_a_real_browser";
    let Some(chromium) = browser::chromium_or_skip(test) else {
        return;
    };
    let runner = Runner::builder(RecordingStore::new())
        .service(true)
        .max_resumes(0)
        .collection(collection("catalog", ScriptedPaged::numbered(3, 10)))
        .collection(collection("users_b", ScriptedPaged::numbered(4, 10)))
        .collection(collection("feed", ScriptedPaged::numbered(5, 10)))
        .collection(collection("users_a", ScriptedPaged::numbered(1, 10)))
        .collection(collection(
            "orders",
            ScriptedPaged::numbered(4, 10).fail(2, Fault::Permanent, 1),
        ))
        .build()
        .unwrap();
    let server = serve("127.0.0.1:0", runner.clone()).await.unwrap();
    runner.start().unwrap();
    settle(
        &runner,
        &[
            ("catalog", State::Completed),
            ("users_b", State::Completed),
            ("feed", State::Completed),
            ("users_a", State::Completed),
            ("orders", State::Failed),
        ],
    )
    .await;
    let url = format!("http://{}/", server.local_addr());
    let mut browser = Browser::launch(&chromium, 1200, 800).await;
    browser.goto(&url).await;
    wait_shown(&mut browser, &["catalog", "users_b", "feed", "users_a", "orders"]).await;

    // The filter box filters as the user types, and says how many match.
    browser.type_into("#filter", "users").await;
    wait_shown(&mut browser, &["users_b", "users_a"]).await;
    let note = browser.eval("document.getElementById('shown').textContent").await;
    assert_eq!(note, "showing 2 of 5");
    assert_eq!(browser.eval("location.hash").await, "#q=users");
    // It matches states and errors too, not only names.
    browser
        .eval("(() => { const f = document.getElementById('filter'); f.select(); })()")
        .await;
    browser.type_into("#filter", "failed").await;
    wait_shown(&mut browser, &["orders"]).await;
    browser
        .eval("(() => { const f = document.getElementById('filter'); f.select(); })()")
        .await;
    browser
        .call(
            "Input.dispatchKeyEvent",
            json!({ "type": "keyDown", "key": "Backspace", "code": "Backspace", "windowsVirtualKeyCode": 8 }),
        )
        .await;
    wait_shown(&mut browser, &["catalog", "users_b", "feed", "users_a", "orders"]).await;

    // A header sorts: ascending, descending, then the server's order again.
    browser.click(r#"th[data-sort="written"]"#).await;
    wait_shown(&mut browser, &["users_a", "orders", "catalog", "users_b", "feed"]).await;
    browser.click(r#"th[data-sort="written"]"#).await;
    wait_shown(&mut browser, &["feed", "users_b", "catalog", "orders", "users_a"]).await;
    let sorted = browser
        .eval(r#"document.querySelector('th[data-sort="written"]').getAttribute('aria-sort')"#)
        .await;
    assert_eq!(sorted, "descending");
    assert_eq!(browser.eval("location.hash").await, "#sort=written&dir=desc");
    browser.click(r#"th[data-sort="name"]"#).await;
    wait_shown(&mut browser, &["catalog", "feed", "orders", "users_a", "users_b"]).await;

    // A click on a row opens the collection's view; Back returns to the
    // overview as it was left.
    browser.click(r#"tr[data-collection="orders"] td.c-pages"#).await;
    browser
        .wait_for(
            "!document.getElementById('detail').hidden",
            "the collection's view",
        )
        .await;
    assert_eq!(browser.eval("location.hash").await, "#c=orders");
    assert!(browser.eval("document.getElementById('overview').hidden").await == json!(true));
    let name = browser
        .eval("document.getElementById('detail-name').textContent")
        .await;
    assert_eq!(name, "orders");
    // The state comes with the collection's own answer, after the view opens.
    browser
        .wait_for(
            "document.getElementById('detail-state').textContent === 'failed'",
            "the collection's state",
        )
        .await;
    browser.click("#back").await;
    browser
        .wait_for(
            "!document.getElementById('overview').hidden",
            "the overview again",
        )
        .await;
    assert_eq!(browser.eval("location.hash").await, "#sort=name");
    wait_shown(&mut browser, &["catalog", "feed", "orders", "users_a", "users_b"]).await;

    // A narrow window: the page does not scroll sideways, the columns that
    // matter stay, the others wait in the collection's view.
    browser.resize(390, 800).await;
    browser.goto(&url).await;
    wait_shown(&mut browser, &["catalog", "users_b", "feed", "users_a", "orders"]).await;
    let layout = browser
        .eval(
            "(() => { const shown = (s) => getComputedStyle(document.querySelector(s)).display !== 'none'; \
             return { overflow: document.documentElement.scrollWidth - window.innerWidth, \
             name: shown('th.c-name'), state: shown('th.c-state'), success: shown('th.c-success'), \
             owner: shown('th.c-owner'), fetched: shown('th.c-fetched'), \
             table: document.getElementById('collections').getBoundingClientRect().width }; })()",
        )
        .await;
    assert_eq!(
        layout,
        json!({ "overflow": 0, "name": true, "state": true, "success": true, "owner": false,
                "fetched": false, "table": layout["table"] }),
        "{layout}"
    );
    assert!(
        layout["table"].as_f64().unwrap() <= 390.0,
        "the table fits: {layout}"
    );

    drop(browser);
    runner.shutdown();
    runner.join().await;
    server.shutdown().await;
}

/// Waits up to 20 s until the runner's history holds `n` runs of `name`.
async fn wait_runs(runner: &Runner, name: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let runs = runner.runs(name, 100).await.unwrap();
        if runs.len() >= n {
            assert_eq!(runs.len(), n, "{runs:#?}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{n} runs of {name} not recorded: {runs:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How many elements match `selector` in the page.
async fn count(browser: &mut Browser, selector: &str) -> u64 {
    let expression = format!("document.querySelectorAll({}).length", json!(selector));
    number(&browser.eval(&expression).await)
}

#[cfg_attr(
    no_browser_tests,
    ignore = "needs chromium on PATH (apt-get install -y chromium)"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collections_view_charts_its_run_history_in_a_real_browser() {
    let test = "a_collections_view_charts_its_run_history_in_a_real_browser";
    let Some(chromium) = browser::chromium_or_skip(test) else {
        return;
    };
    let hour = Duration::from_secs(3600);
    // `feed` fails its first run (page 1, once), then completes each run asked.
    let feed = collection(
        "feed",
        ScriptedPaged::numbered(3, 10).fail(1, Fault::Permanent, 1),
    )
    .every(hour)
    .description(json!({ "url": "https://api.example/feed", "token": "***" }));
    // `orders` fails and has never succeeded: stale once its half second is up.
    let orders = collection(
        "orders",
        ScriptedPaged::numbered(2, 10).fail(0, Fault::Permanent, 100),
    )
    .every(hour)
    .stale_after(Duration::from_millis(500));
    let slow = collection(
        "slow",
        ScriptedPaged::numbered(100_000, 1).delay(Duration::from_millis(20)),
    );
    let runner = Runner::builder(RecordingStore::new())
        .service(true)
        .max_resumes(0)
        .collection(feed)
        .collection(orders)
        .collection(slow)
        .build()
        .unwrap();
    let server = serve("127.0.0.1:0", runner.clone()).await.unwrap();
    runner.start().unwrap();
    wait_runs(&runner, "feed", 1).await;
    for n in 2..=5 {
        // Run-now wakes a collection once its last run has fully ended.
        let deadline = Instant::now() + Duration::from_secs(20);
        while !runner.run_now("feed").unwrap() {
            assert!(Instant::now() < deadline, "run {n} of feed did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        wait_runs(&runner, "feed", n).await;
    }
    settle(&runner, &[("orders", State::Failed)]).await;

    // The overview: a bar per run in the sparkline, the last success, and
    // `orders` marked stale.
    let base = format!("http://{}/", server.local_addr());
    let mut browser = Browser::launch(&chromium, 1200, 900).await;
    browser.goto(&base).await;
    browser
        .wait_for(
            r#"document.querySelectorAll('tr[data-collection="feed"] svg.sparkline rect').length === 5"#,
            "feed's sparkline with 5 runs",
        )
        .await;
    assert_eq!(
        count(
            &mut browser,
            r#"tr[data-collection="feed"] svg.sparkline rect.run-failed"#
        )
        .await,
        1
    );
    let success = browser
        .eval(r#"document.querySelector('tr[data-collection="feed"] td.c-success').textContent"#)
        .await;
    assert!(
        success
            .as_str()
            .is_some_and(|s| s == "just now" || s.ends_with(" s ago")),
        "last success: {success}"
    );
    browser
        .wait_for(
            r#"document.querySelector('tr[data-collection="orders"]').dataset.stale === 'true'"#,
            "orders shown stale",
        )
        .await;
    let flag = browser
        .eval(r#"(() => { const f = document.querySelector('tr[data-collection="orders"] .stale'); return [f.hidden, f.title]; })()"#)
        .await;
    assert_eq!(flag[0], false, "{flag}");
    assert!(flag[1].as_str().unwrap().contains("no successful run"), "{flag}");
    let summary = browser
        .eval("document.getElementById('summary').textContent")
        .await;
    assert!(summary.as_str().unwrap().ends_with(", 1 stale"), "{summary}");
    browser.type_into("#filter", "stale").await;
    wait_shown(&mut browser, &["orders"]).await;

    // The collection's own view, opened by its link (`#c=NAME`): its five
    // runs in the table and as five bars and five points.
    browser.goto(&format!("{base}#c=feed")).await;
    browser
        .wait_for(
            "document.querySelectorAll('#runs tbody tr').length === 5",
            "5 runs in the table",
        )
        .await;
    let outcomes = browser
        .eval("Array.from(document.querySelectorAll('#runs tbody tr')).map((tr) => tr.dataset.outcome)")
        .await;
    assert_eq!(
        outcomes,
        json!(["completed", "completed", "completed", "completed", "failed"])
    );
    assert_eq!(
        browser
            .eval("document.getElementById('chart-items').dataset.points")
            .await,
        "5"
    );
    assert_eq!(count(&mut browser, "#chart-items rect.bar").await, 5);
    assert_eq!(count(&mut browser, "#chart-items rect.bar.run-failed").await, 1);
    assert_eq!(
        browser
            .eval("document.getElementById('chart-duration').dataset.points")
            .await,
        "5"
    );
    assert_eq!(count(&mut browser, "#chart-duration circle.point").await, 5);
    // Oldest first: the failed run is the first bar, and the tallest bars
    // are the completed runs' 30 items.
    let first = browser
        .eval("document.querySelector('#chart-items rect.bar title').textContent")
        .await;
    assert!(first.as_str().unwrap().contains("failed"), "{first}");
    assert!(first.as_str().unwrap().ends_with(": 10"), "{first}");
    let errors = browser
        .eval("document.getElementById('errors').textContent")
        .await;
    assert!(
        errors.as_str().unwrap().contains("page-1"),
        "the error in full: {errors}"
    );
    let config = browser
        .eval("JSON.parse(document.getElementById('config').textContent)")
        .await;
    assert_eq!(
        config,
        json!({ "url": "https://api.example/feed", "token": "***" })
    );

    // A running collection: its pages/s, measured by the page as it polls.
    browser.goto(&format!("{base}#c=slow")).await;
    browser
        .wait_for(
            "document.querySelectorAll('#chart-rate circle.point').length >= 2",
            "two pages/s points of the running collection",
        )
        .await;
    let points = browser
        .eval("document.getElementById('chart-rate').dataset.points")
        .await;
    let points: u64 = points.as_str().unwrap().parse().unwrap();
    assert_eq!(count(&mut browser, "#chart-rate circle.point").await, points);
    assert_eq!(
        count(&mut browser, "#runs tbody tr").await,
        0,
        "no run of slow ended yet"
    );

    drop(browser);
    runner.shutdown();
    runner.join().await;
    server.shutdown().await;
}

#[cfg_attr(
    no_browser_tests,
    ignore = "needs chromium on PATH (apt-get install -y chromium)"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_collections_are_updated_in_place_and_filtered_in_a_real_browser() {
    let test = "a_thousand_collections_are_updated_in_place_and_filtered_in_a_real_browser";
    let Some(chromium) = browser::chromium_or_skip(test) else {
        return;
    };
    let mut builder = Runner::builder(RecordingStore::new())
        .service(true)
        .concurrency(16);
    for i in 0..1000 {
        let c = collection(&format!("scheduled_{i:03}"), ScriptedPaged::numbered(1, 10));
        builder = builder.collection(c.every(Duration::from_secs(3600)));
    }
    let runner = builder.build().unwrap();
    let server = serve("127.0.0.1:0", runner.clone()).await.unwrap();
    runner.start().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while runner.status().iter().any(|s| s.runs == 0) {
        assert!(Instant::now() < deadline, "the first runs did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let mut browser = Browser::launch(&chromium, 1200, 800).await;
    browser.goto(&format!("http://{}/", server.local_addr())).await;
    browser
        .wait_for(
            "document.querySelectorAll('#collections tbody tr').length === 1000",
            "1,000 rows",
        )
        .await;
    // A row is built once and updated in place: the element of the first
    // poll is still there, with its sparkline, after more polls.
    browser
        .eval("document.querySelector('tr[data-collection=\"scheduled_500\"]').dataset.seen = 'first poll'")
        .await;
    let before = browser
        .eval("document.getElementById('updated').textContent")
        .await;
    let changed = format!(
        "document.getElementById('updated').textContent !== {} && document.getElementById('updated').textContent.startsWith('updated')",
        json!(before)
    );
    browser.wait_for(&changed, "another poll").await;
    let row = browser
        .eval(
            "(() => { const tr = document.querySelector('tr[data-collection=\"scheduled_500\"]'); \
               return [tr.dataset.seen, tr.querySelectorAll('svg.sparkline rect').length]; })()",
        )
        .await;
    assert_eq!(row, json!(["first poll", 1]));
    assert_eq!(count(&mut browser, "#collections tbody tr").await, 1000);
    // A run that ends while the page is open: its last run changes in
    // `/status`, and the page reads the sparklines (`/status/runs`) again.
    assert!(runner.run_now("scheduled_500").unwrap());
    browser
        .wait_for(
            r#"document.querySelectorAll('tr[data-collection="scheduled_500"] svg.sparkline rect').length === 2"#,
            "scheduled_500's sparkline with its second run",
        )
        .await;
    assert_eq!(
        count(
            &mut browser,
            r#"tr[data-collection="scheduled_499"] svg.sparkline rect"#
        )
        .await,
        1
    );

    browser.type_into("#filter", "scheduled_99").await;
    let expected: Vec<String> = (990..1000).map(|i| format!("scheduled_{i}")).collect();
    let names: Vec<&str> = expected.iter().map(String::as_str).collect();
    wait_shown(&mut browser, &names).await;
    browser.click(r#"th[data-sort="name"]"#).await;
    browser.click(r#"th[data-sort="name"]"#).await;
    let mut reversed = names.clone();
    reversed.reverse();
    wait_shown(&mut browser, &reversed).await;

    drop(browser);
    runner.shutdown();
    runner.join().await;
    server.shutdown().await;
}

/// Reads a number out of the JSON the page evaluates.
fn number(value: &Value) -> u64 {
    value.as_u64().unwrap_or_else(|| panic!("a number: {value}"))
}
