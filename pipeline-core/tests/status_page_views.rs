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
    let state = browser
        .eval("document.getElementById('detail-state').textContent")
        .await;
    assert_eq!(state, "failed");
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

/// Reads a value out of the JSON the page evaluates.
#[allow(dead_code)]
fn number(value: &Value) -> u64 {
    value.as_u64().unwrap_or_else(|| panic!("a number: {value}"))
}
